//! The record of the last deploy of a service (`last-deploy-CLUSTER-SERVICE.json`, in the
//! local-ecs state directory with `--local`, else in `target/`): what `cargo xtask rollback`
//! goes back from.

use std::path::PathBuf;

use anyhow::{Context, Result};
use deploy_sdk::service::StartedDeployment;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::failure::Failure;
use crate::util::project_root;

/// What the last deploy changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastDeploy {
    pub cluster: String,
    pub service: String,
    pub deployment_id: String,
    pub task_definition: String,
    /// The task definition that last COMPLETED before it (deploy-sdk's
    /// `previous_task_definition`), never another client's revision that replaced ours.
    pub previous_task_definition: Option<String>,
    /// Its ServiceDeployment ARN, where the endpoint has that API.
    #[serde(default)]
    pub service_deployment_arn: Option<String>,
}

fn file(settings: &Settings) -> PathBuf {
    let dir = match &settings.local {
        Some(state_dir) => state_dir.clone(),
        None => project_root().join("target"),
    };
    dir.join(format!(
        "last-deploy-{}-{}.json",
        settings.cluster, settings.service
    ))
}

/// Records a started deployment. Best effort: a deploy does not fail for want of its record.
pub fn record(settings: &Settings, started: &StartedDeployment) {
    let last = LastDeploy {
        cluster: settings.cluster.clone(),
        service: settings.service.clone(),
        deployment_id: started.deployment_id.clone(),
        task_definition: started.task_definition.clone(),
        previous_task_definition: started.previous_task_definition.clone(),
        service_deployment_arn: started.service_deployment_arn.clone(),
    };
    let path = file(settings);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(json) = serde_json::to_string_pretty(&last) {
        let _ = write_atomically(&path, json.as_bytes());
    }
}

/// Writes through a temporary file and a rename, so a reader (`cargo xtask rollback`) sees the
/// old record or the new one, never part of one. Deploys of one service on local-ecs take
/// turns (`local_guard::lock_deploy`), so the last to start is the last to record.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The last deploy recorded for the settings' service; without one, a usage error.
pub fn read(settings: &Settings) -> Result<LastDeploy> {
    let path = file(settings);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Failure::usage(format!(
            "no deploy recorded in {}: name the task definition with --to",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).context("read the last deploy record")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(state_dir: &std::path::Path) -> Settings {
        Settings {
            local: Some(state_dir.to_owned()),
            ..crate::config::TargetArgs::default().resolve().unwrap()
        }
    }

    #[test]
    fn a_recorded_deploy_reads_back() {
        let dir = std::env::temp_dir().join(format!("xtask-last-deploy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let settings = settings(&dir);
        let err = read(&settings).unwrap_err();
        assert_eq!(crate::failure::exit_code(&err), crate::failure::USAGE);
        assert!(format!("{err:#}").contains("--to"), "{err:#}");

        let started = StartedDeployment {
            service: settings.service_ref(),
            deployment_id: "ecs-svc/1".into(),
            task_definition: "arn:aws:ecs:us-east-1:0:task-definition/hello-ecs:2".into(),
            previous_task_definition: Some(
                "arn:aws:ecs:us-east-1:0:task-definition/hello-ecs:1".into(),
            ),
            created_at: std::time::SystemTime::now(),
            is_new: true,
            ecs_rolls_back: false,
            alarm_names: Vec::new(),
            service_deployment_arn: Some("arn:aws:ecs:us-east-1:0:service-deployment/c/s/x".into()),
            stop_rollback: false,
        };
        record(&settings, &started);
        let last = read(&settings).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            last,
            LastDeploy {
                cluster: "dev-cluster".into(),
                service: "hello-ecs".into(),
                deployment_id: "ecs-svc/1".into(),
                task_definition: started.task_definition.clone(),
                previous_task_definition: started.previous_task_definition.clone(),
                service_deployment_arn: started.service_deployment_arn.clone(),
            }
        );
    }
}
