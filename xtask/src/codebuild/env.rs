//! The build's environment, as CodeBuild composes it: the image's (here, this process's),
//! then the buildspec's `env.variables`, then CodeBuild's own (`CODEBUILD_*`, the region),
//! then the project's and start-build's (`--env`), which win. With `--local`, the AWS CLI and
//! SDKs inside the build talk to local-ecs (endpoint, region, its generated key) and
//! `REPOSITORY_URI` names its ECR repository, as the pipeline stack's project sets it.

use std::path::Path;
use std::process::Command;

use anyhow::Result;
use deploy_sdk::ecr;
use deploy_sdk::taskdef::parse_env_assignment;

use super::spec::Buildspec;
use crate::binary;
use crate::config::Settings;
use crate::failure::Failure;
use crate::util::output;

/// The CodeBuild project's name (infra/05-pipeline.yaml `BuildProjectName`).
const PROJECT: &str = "hello-ecs-build";
/// The region when neither the settings nor the environment name one.
const DEFAULT_REGION: &str = "us-east-1";

pub struct Environment {
    /// Every variable the session starts with.
    pub vars: Vec<(String, String)>,
    /// `CODEBUILD_BUILD_ID`.
    pub build_id: String,
}

/// The environment for a build of `source` (the workspace root).
pub fn environment(
    spec: &Buildspec,
    settings: &Settings,
    overrides: &[String],
    source: &Path,
    say: &dyn Fn(&str),
) -> Result<Environment> {
    let overrides = overrides
        .iter()
        .map(|a| parse_env_assignment(a).map_err(|e| Failure::usage(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.extend(spec.variables.iter().cloned());
    let commit = output(
        Command::new("git")
            .arg("-C")
            .arg(source)
            .args(["rev-parse", "HEAD"]),
    )
    .map(|sha| sha.trim().to_owned())
    .map_err(|e| Failure::usage(format!("the source must be a git work tree: {e:#}")))?;
    let region = settings
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let build_id = format!("{PROJECT}:{}", uuid::Uuid::new_v4());
    for (key, value) in [
        ("CODEBUILD_CI", "true".to_owned()),
        ("CODEBUILD_BUILD_ID", build_id.clone()),
        (
            "CODEBUILD_BUILD_ARN",
            format!("arn:aws:codebuild:{region}:000000000000:build/{build_id}"),
        ),
        ("CODEBUILD_BUILD_SUCCEEDING", "1".to_owned()),
        ("CODEBUILD_INITIATOR", "xtask".to_owned()),
        ("CODEBUILD_RESOLVED_SOURCE_VERSION", commit.clone()),
        ("CODEBUILD_SOURCE_VERSION", commit),
        ("CODEBUILD_SRC_DIR", source.display().to_string()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region.clone()),
    ] {
        vars.push((key.to_owned(), value));
    }
    if let Some(state_dir) = &settings.local {
        vars.retain(|(key, _)| !matches!(key.as_str(), "AWS_PROFILE" | "AWS_SESSION_TOKEN"));
        vars.extend(local_vars(state_dir, settings, &region, say)?);
        if std::env::var_os(binary::PROFILE_ENV).is_none() {
            // As `cargo xtask deploy --local` builds: the fast profile.
            vars.push((
                binary::PROFILE_ENV.to_owned(),
                binary::LOCAL_PROFILE.to_owned(),
            ));
        }
    }
    vars.extend(overrides);
    Ok(Environment {
        vars: last_wins(vars),
        build_id,
    })
}

/// local-ecs (started when it is not running): its endpoint, key and ECR repository, which
/// stands in for the prerequisites stack's and is created when missing.
fn local_vars(
    state_dir: &Path,
    settings: &Settings,
    region: &str,
    say: &dyn Fn(&str),
) -> Result<Vec<(String, String)>> {
    let local = crate::local_ecs::ensure_running(state_dir, say)?;
    let credentials = crate::connect::local_credentials(state_dir)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let clients = runtime.block_on(crate::connect::local_clients(state_dir, &local, settings))?;
    let repository =
        runtime.block_on(ecr::ensure_repository(&clients.ecr, &settings.repository))?;
    Ok(vec![
        ("AWS_ENDPOINT_URL".into(), local.endpoint.clone()),
        ("AWS_REGION".into(), region.to_owned()),
        ("AWS_DEFAULT_REGION".into(), region.to_owned()),
        (
            "AWS_ACCESS_KEY_ID".into(),
            credentials.access_key_id.clone(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            credentials.secret_access_key.expose().to_owned(),
        ),
        ("REPOSITORY_URI".into(), repository.uri),
    ])
}

/// One value per name, the last given, in the order names first appeared.
fn last_wins(vars: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for (key, value) in vars {
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetArgs;

    #[test]
    fn codebuilds_variables_win_over_the_buildspecs_and_env_flags_over_both() {
        let spec = super::super::spec::parse(
            "version: 0.2\nenv:\n  variables:\n    CODEBUILD_SRC_DIR: nope\n    MINE: spec\n    OTHER: kept\n",
        )
        .unwrap();
        let settings = TargetArgs::default().resolve().unwrap();
        let root = crate::util::project_root();
        let env = environment(&spec, &settings, &["MINE=flag".into()], &root, &|_| {}).unwrap();
        let get = |key: &str| {
            env.vars
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("MINE"), Some("flag"));
        assert_eq!(get("OTHER"), Some("kept"));
        assert_eq!(get("CODEBUILD_SRC_DIR"), Some(root.to_str().unwrap()));
        assert_eq!(
            get("CODEBUILD_RESOLVED_SOURCE_VERSION").map(str::len),
            Some(40)
        );
        assert_eq!(get("CODEBUILD_BUILD_ID"), Some(env.build_id.as_str()));
        assert!(get("AWS_DEFAULT_REGION").is_some_and(|r| !r.is_empty()));
        assert_eq!(env.vars.iter().filter(|(k, _)| k == "MINE").count(), 1);
    }
}
