//! Where to deploy: flags, then environment (`DEPLOY_*`), then `deploy.toml`, then the
//! tutorial's names. Every command that talks to ECS takes these.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;

use crate::failure::Failure;
use crate::util::project_root;

/// The settings file at the workspace root.
pub const CONFIG_FILE: &str = "deploy.toml";

/// Target flags shared by deploy, status, rollback and local.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// ECS cluster [deploy.toml `cluster`; default dev-cluster].
    #[arg(long, env = "DEPLOY_CLUSTER")]
    pub cluster: Option<String>,
    /// ECS service [deploy.toml `service`; default hello-ecs].
    #[arg(long, env = "DEPLOY_SERVICE")]
    pub service: Option<String>,
    /// Container whose image is replaced [deploy.toml `container`; default hello-ecs].
    #[arg(long, env = "DEPLOY_CONTAINER")]
    pub container: Option<String>,
    /// ECR repository [deploy.toml `repository`; default hello-ecr-repo].
    #[arg(long, env = "DEPLOY_REPOSITORY")]
    pub repository: Option<String>,
    /// AWS region [deploy.toml `region`; else AWS_REGION / the profile's].
    #[arg(long, env = "DEPLOY_REGION")]
    pub region: Option<String>,
    /// AWS profile [deploy.toml `profile`; else AWS_PROFILE].
    #[arg(long, env = "DEPLOY_PROFILE")]
    pub profile: Option<String>,
    /// One endpoint for ECS, ECR and ELBv2 (e.g. a local-ecs URL) [deploy.toml `endpoint_url`].
    #[arg(long, env = "DEPLOY_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Run against local-ecs (started in the background if needed, state in target/local-ecs).
    #[arg(long, env = "DEPLOY_LOCAL")]
    pub local: bool,
    /// local-ecs state directory, with --local.
    #[arg(long, env = "DEPLOY_LOCAL_STATE_DIR", value_name = "DIR")]
    pub local_state_dir: Option<PathBuf>,
    /// Settings file [default: deploy.toml at the workspace root].
    #[arg(long, env = "DEPLOY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `deploy.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    cluster: Option<String>,
    service: Option<String>,
    container: Option<String>,
    container_port: Option<u16>,
    repository: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
}

/// The resolved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub container_port: u16,
    pub repository: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub local: Option<PathBuf>,
}

impl TargetArgs {
    /// Resolves flags/env over the settings file over the defaults.
    pub fn resolve(&self) -> Result<Settings> {
        let path = self
            .config
            .clone()
            .unwrap_or_else(|| project_root().join(CONFIG_FILE));
        let file = read_file(&path, self.config.is_some())?;
        let pick = |flag: &Option<String>, file: Option<String>, default: &str| {
            flag.clone().or(file).unwrap_or_else(|| default.to_owned())
        };
        let local = self.local.then(|| {
            self.local_state_dir
                .clone()
                .unwrap_or_else(|| project_root().join("target").join("local-ecs"))
        });
        Ok(Settings {
            cluster: pick(&self.cluster, file.cluster, "dev-cluster"),
            service: pick(&self.service, file.service, "hello-ecs"),
            container: pick(&self.container, file.container, "hello-ecs"),
            container_port: file.container_port.unwrap_or(8080),
            repository: pick(&self.repository, file.repository, "hello-ecr-repo"),
            region: self.region.clone().or(file.region),
            profile: self.profile.clone().or(file.profile),
            endpoint_url: self.endpoint_url.clone().or(file.endpoint_url),
            local,
        })
    }
}

fn read_file(path: &Path, required: bool) -> Result<FileSettings> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileSettings::default());
        }
        Err(err) => {
            return Err(Failure::usage(format!("cannot read {}: {err}", path.display())).into());
        }
    };
    toml::from_str(&text)
        .map_err(|err| Failure::usage(format!("{}: {err}", path.display())))
        .context("fix the settings file or pass the values as flags")
}

impl Settings {
    /// The service this targets.
    pub fn service_ref(&self) -> deploy_sdk::service::ServiceRef {
        deploy_sdk::service::ServiceRef::new(&self.cluster, &self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str, args: TargetArgs) -> Result<Settings> {
        let dir = std::env::temp_dir().join(format!(
            "xtask-config-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("deploy.toml");
        std::fs::write(&path, text).unwrap();
        TargetArgs {
            config: Some(path),
            ..args
        }
        .resolve()
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let s = with_file(
            "cluster = \"from-file\"\nrepository = \"repo-file\"\n",
            TargetArgs {
                cluster: Some("from-flag".into()),
                ..TargetArgs::default()
            },
        )
        .unwrap();
        assert_eq!(s.cluster, "from-flag");
        assert_eq!(s.repository, "repo-file");
        assert_eq!(
            (s.service.as_str(), s.container.as_str(), s.container_port),
            ("hello-ecs", "hello-ecs", 8080)
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = with_file("clustr = \"x\"\n", TargetArgs::default()).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("clustr") && text.contains("deploy.toml"),
            "{text}"
        );
        assert_eq!(crate::failure::exit_code(&err), 2);
        let err = with_file("container_port = \"eighty\"\n", TargetArgs::default()).unwrap_err();
        assert!(format!("{err:#}").contains("container_port"), "{err:#}");
    }

    #[test]
    fn the_repository_file_parses() {
        let s = TargetArgs::default().resolve().unwrap();
        assert_eq!(s.cluster, "dev-cluster");
    }
}
