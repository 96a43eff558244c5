//! Stage 1, build: hello-service as a static binary, named with its build id, built with the
//! release profile for AWS and with the fast `local-deploy` profile for `--local`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{cargo, output, project_root, target_dir};

#[allow(dead_code)] // build.rs uses the rest of this file
#[path = "../../hello-service/build_id.rs"]
mod build_id;

/// A built binary.
#[derive(Debug, Clone)]
pub struct Binary {
    pub path: PathBuf,
    /// The rustc target it was built for.
    pub target: String,
    /// The build id baked into it (and the image tag).
    pub build_id: String,
    /// The cargo profile that built it.
    pub profile: String,
}

/// The optimised profile (thin LTO): AWS deploys and `cargo xtask image`.
pub const RELEASE_PROFILE: &str = "release";
/// The fast profile of `cargo xtask deploy --local` (root Cargo.toml): incremental, no LTO.
pub const LOCAL_PROFILE: &str = "local-deploy";
/// Names the profile a deploy builds with instead (e.g. `release` to rehearse the AWS binary
/// locally).
pub const PROFILE_ENV: &str = "DEPLOY_BUILD_PROFILE";

/// The profile a deploy builds with: `overridden` (from [`PROFILE_ENV`]) when given, else the
/// fast one for local-ecs and the optimised one for AWS.
pub fn deploy_profile(local: bool, overridden: Option<&str>) -> Result<String> {
    match overridden.map(str::trim).filter(|p| !p.is_empty()) {
        Some(name) if valid_profile_name(name) => Ok(name.to_owned()),
        Some(name) => bail!(
            "{PROFILE_ENV}={name:?} is not a cargo profile name (letters, digits, '-' and '_')"
        ),
        None if local => Ok(LOCAL_PROFILE.to_owned()),
        None => Ok(RELEASE_PROFILE.to_owned()),
    }
}

fn valid_profile_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

/// The directory under `target/<triple>/` a profile's artifacts go to (cargo's names).
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

/// The build id of the working tree: git short sha, plus `-dirty-<hash>` with uncommitted
/// changes to hello-service (the same function build.rs runs).
pub fn build_id() -> String {
    match std::env::var(build_id::BUILD_ID_ENV) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => build_id::compute(&project_root()),
    }
}

/// The static target to build for: musl when its standard library is installed, else the
/// host's glibc target with `+crt-static`.
fn static_target() -> Result<(String, Option<&'static str>)> {
    let arch = std::env::consts::ARCH;
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    let musl = format!("{arch}-unknown-linux-musl");
    if installed.lines().any(|l| l.trim() == musl) {
        return Ok((musl, None));
    }
    if std::env::consts::OS != "linux" {
        bail!("static Linux binaries are built on Linux here; use --builder docker or --image");
    }
    Ok((
        format!("{arch}-unknown-linux-gnu"),
        Some("-C target-feature=+crt-static"),
    ))
}

/// `cargo build --profile PROFILE -p hello-service` for the static target, with
/// `HELLO_BUILD_ID` set so the binary's `x-app-version` is exactly the image tag.
pub fn build_with_profile(profile: &str, quiet: bool) -> Result<Binary> {
    let build_id = build_id();
    let (mut cmd, target) = build_command(profile, &build_id)?;
    if quiet {
        cmd.arg("--quiet");
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build of hello-service failed ({status})");
    }
    let path = target_dir()
        .join(&target)
        .join(profile_dir(profile))
        .join("hello-service");
    if !path.is_file() {
        bail!("cargo reported success but {} is missing", path.display());
    }
    Ok(Binary {
        path,
        target,
        build_id,
        profile: profile.to_owned(),
    })
}

/// The cargo command that builds hello-service with `profile` for the static target, and that
/// target (also what `cargo xtask test` builds ahead of the end-to-end tests).
pub fn build_command(profile: &str, build_id: &str) -> Result<(Command, String)> {
    let (target, rustflags) = static_target()?;
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--profile",
        profile,
        "-p",
        "hello-service",
        "--target",
        &target,
    ])
    .env(build_id::BUILD_ID_ENV, build_id);
    if let Some(flags) = rustflags {
        // Target-specific, so build scripts and proc macros (host) are unaffected.
        let var = format!(
            "CARGO_TARGET_{}_RUSTFLAGS",
            target.to_uppercase().replace('-', "_")
        );
        cmd.env(var, flags);
    }
    Ok((cmd, target))
}

/// The commit time of HEAD (or `SOURCE_DATE_EPOCH`), so image timestamps are reproducible.
pub fn source_date() -> time::OffsetDateTime {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or_else(|| {
            output(Command::new("git").arg("-C").arg(project_root()).args([
                "log",
                "-1",
                "--format=%ct",
            ]))
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
        })
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(epoch).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Where the source lives, for the image's `org.opencontainers.image.source` label:
/// `SOURCE_URL` (the CodeBuild project sets it; its source has no git remote), else the
/// git remote.
pub fn source_url() -> String {
    if let Ok(url) = std::env::var("SOURCE_URL")
        && !url.trim().is_empty()
    {
        return without_userinfo(url.trim());
    }
    output(
        Command::new("git")
            .arg("-C")
            .arg(project_root())
            .args(["remote", "get-url", "origin"]),
    )
    .map(|url| without_userinfo(url.trim()))
    .ok()
    // A remote that is a local path is no URL: name the work tree instead.
    .filter(|url| url.contains("://") || url.contains('@'))
    .unwrap_or_else(|| format!("file://{}", project_root().display()))
}

/// `https://user:token@host/x` → `https://host/x`: a label must never carry a credential.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => {
                let host = authority
                    .rsplit_once('@')
                    .map_or(authority, |(_, host)| host);
                format!("{scheme}://{host}/{path}")
            }
            None => format!(
                "{scheme}://{}",
                rest.rsplit_once('@').map_or(rest, |(_, host)| host)
            ),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls_lose_their_credentials() {
        assert_eq!(
            without_userinfo("https://ci:s3cret@github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            without_userinfo("https://github.com/org/repo"),
            "https://github.com/org/repo"
        );
        assert_eq!(
            without_userinfo("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
    }

    #[test]
    fn local_deploys_build_fast_and_aws_deploys_optimised() {
        assert_eq!(deploy_profile(true, None).unwrap(), "local-deploy");
        assert_eq!(deploy_profile(false, None).unwrap(), "release");
        assert_eq!(deploy_profile(true, Some(" ")).unwrap(), "local-deploy");
        assert_eq!(deploy_profile(true, Some("release")).unwrap(), "release");
        assert_eq!(deploy_profile(false, Some("dev")).unwrap(), "dev");
        let err = deploy_profile(true, Some("../x")).unwrap_err().to_string();
        assert!(err.contains(PROFILE_ENV), "{err}");
    }

    #[test]
    fn the_profiles_exist_in_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(project_root().join("Cargo.toml")).unwrap();
        let manifest: toml::Table = toml::from_str(&manifest).unwrap();
        let local = &manifest["profile"][LOCAL_PROFILE];
        assert_eq!(local["inherits"].as_str(), Some(RELEASE_PROFILE));
        assert_eq!(local["incremental"].as_bool(), Some(true));
        assert_eq!(local["lto"].as_str(), Some("off"));
        assert!(manifest["profile"][RELEASE_PROFILE].get("lto").is_some());
    }

    #[test]
    fn profiles_build_where_cargo_puts_them() {
        assert_eq!(profile_dir("dev"), "debug");
        assert_eq!(profile_dir("release"), "release");
        assert_eq!(profile_dir("local-deploy"), "local-deploy");
    }

    #[test]
    fn the_build_id_names_the_tree() {
        let id = build_id();
        assert!(!id.is_empty() && id.len() <= 128, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{id}"
        );
    }
}
