//! How a build of hello-service is named.
//!
//! Shared, as one file, by `hello-service/build.rs` (which bakes the id into the binary) and by
//! `xtask` (which tags the image with it), so the tag and what `/version` reports always agree.
//! Format: the git short sha, plus `-dirty-<hash>` when the source has uncommitted changes, where
//! `<hash>` covers those changes; without git, `src-<hash>` over the source files themselves.
//! Every form is a valid OCI tag (`[A-Za-z0-9_][A-Za-z0-9._-]*`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set this at build time to name the build yourself (CI passes its own tag here).
pub const BUILD_ID_ENV: &str = "HELLO_BUILD_ID";

/// The paths, relative to the workspace root, whose content makes up hello-service's build.
pub const SOURCE_PATHS: &[&str] = &["hello-service", "Cargo.toml", "Cargo.lock"];

/// The build id of the source under `root` (the workspace root).
pub fn compute(root: &Path) -> String {
    from_git(root).unwrap_or_else(|| format!("src-{}", hex8(hash_files(root))))
}

/// `None` when `root` is not inside a git work tree with at least one commit.
fn from_git(root: &Path) -> Option<String> {
    let sha = git(root, &["rev-parse", "--short=7", "HEAD"])?;
    let sha = String::from_utf8(sha).ok()?.trim().to_owned();
    let mut status_args = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    status_args.extend(SOURCE_PATHS);
    let status = git(root, &status_args)?;
    if status.is_empty() {
        return Some(sha);
    }
    // The diff covers tracked changes; untracked files are hashed by name and content.
    let mut diff_args = vec!["diff", "HEAD", "--binary", "--"];
    diff_args.extend(SOURCE_PATHS);
    let mut hash = fnv1a(FNV_OFFSET, &git(root, &diff_args)?);
    for line in String::from_utf8_lossy(&status).lines() {
        if let Some(path) = line.strip_prefix("?? ") {
            hash = fnv1a(hash, path.as_bytes());
            hash = fnv1a(hash, &std::fs::read(root.join(path)).unwrap_or_default());
        }
    }
    Some(format!("{sha}-dirty-{}", hex8(hash)))
}

/// Every file under the source paths, in a stable order, for the no-git fallback.
fn source_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for rel in SOURCE_PATHS {
        let path = root.join(rel);
        if path.is_dir() {
            walk(&path, &mut files);
        } else if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn hash_files(root: &Path) -> u64 {
    source_files(root).iter().fold(FNV_OFFSET, |hash, path| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let hash = fnv1a(hash, rel.to_string_lossy().as_bytes());
        fnv1a(hash, &std::fs::read(path).unwrap_or_default())
    })
}

fn git(root: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a: tiny, stable across Rust versions (unlike `DefaultHasher`), good enough to tell
/// one working tree from another.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn hex8(hash: u64) -> String {
    format!("{:08x}", (hash >> 32) ^ (hash & 0xffff_ffff))
}
