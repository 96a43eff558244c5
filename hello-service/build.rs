//! Bakes the build id (see `build_id.rs`) into the binary as `HELLO_BUILD_ID`.

mod build_id;

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed={}", build_id::BUILD_ID_ENV);
    let id = match std::env::var(build_id::BUILD_ID_ENV) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => {
            let manifest_dir =
                PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
            let root = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
            watch_sources(&root);
            build_id::compute(&root)
        }
    };
    // It becomes an HTTP header value and an image tag: allow only what both accept.
    let valid = id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !id.starts_with(['.', '-']);
    if !valid {
        panic!(
            "{}={id:?} is not a valid build id: use up to 128 of A-Z a-z 0-9 . _ - (not starting with . or -)",
            build_id::BUILD_ID_ENV
        );
    }
    println!("cargo:rustc-env={}={id}", build_id::BUILD_ID_ENV);
}

/// Re-run when the sources or the git state (commit, index) change, so the id never goes stale.
/// Only existing paths are registered: cargo treats a missing one as always changed.
fn watch_sources(root: &Path) {
    // A directory is watched recursively, so new files count too.
    for rel in build_id::SOURCE_PATHS {
        let path = root.join(rel);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let Some(git_dir) = git_output(root, &["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let git_dir = PathBuf::from(git_dir);
    let mut watched = vec![
        git_dir.join("HEAD"),
        git_dir.join("index"),
        git_dir.join("packed-refs"),
    ];
    if let Some(head_ref) = git_output(root, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git_dir.join(head_ref));
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git_output(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
