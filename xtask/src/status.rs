//! `cargo xtask status` (deployments, last events, target health, URL) and
//! `cargo xtask rollback` (back to the task definition before the last deploy).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use deploy_sdk::Clients;
use deploy_sdk::deploy::Deployer;
use deploy_sdk::rollout::WatchOptions;
use deploy_sdk::service::{
    DeploymentSnapshot, StartedDeployment, describe_service, short_task_definition,
};
use deploy_sdk::targets::{TargetHealthTracker, service_target_groups};
use serde::{Deserialize, Serialize};

use crate::config::{Settings, TargetArgs};
use crate::failure::Failure;
use crate::progress::{Progress, outcome_text};
use crate::util::project_root;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: TargetArgs,
}

/// `cargo xtask status`.
pub fn run_status(args: StatusArgs) -> Result<()> {
    let settings = args.target.resolve()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let clients = connect(&settings, &|_| {}).await?;
        print_status(&clients, &settings).await
    })
}

/// Clients for the settings: local-ecs (started if needed) with `--local`, else AWS.
pub async fn connect(settings: &Settings, say: &dyn Fn(&str)) -> Result<Clients> {
    match &settings.local {
        Some(state_dir) => {
            let local = crate::local::ensure_running(state_dir, say)?;
            Ok(crate::local::clients(&local, settings).await)
        }
        None => Ok(Clients::load(&deploy_sdk::AwsOptions {
            region: settings.region.clone(),
            profile: settings.profile.clone(),
            endpoint_url: settings.endpoint_url.clone(),
            dummy_credentials: false,
        })
        .await),
    }
}

/// The service's deployments, newest events, target health and URL.
pub async fn print_status(clients: &Clients, settings: &Settings) -> Result<()> {
    let target = settings.service_ref();
    let service = match describe_service(&clients.ecs, &target).await {
        Ok(service) => service,
        Err(
            deploy_sdk::Error::ServiceNotFound { .. } | deploy_sdk::Error::ClusterNotFound { .. },
        ) if settings.local.is_some() => {
            println!("service {target}: not created yet (run `cargo xtask deploy --local`)");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    println!(
        "service {target}: {} running / {} desired, task definition {}",
        service.running_count(),
        service.desired_count(),
        short_task_definition(service.task_definition().unwrap_or("?"))
    );
    let table = DeploymentSnapshot::table(&service);
    for d in &table {
        println!("  {d}");
    }
    let groups = service_target_groups(&service);
    if !groups.is_empty() {
        let health = TargetHealthTracker::new()
            .poll(clients, &target, &groups, &table)
            .await?;
        for group in &health {
            for (deployment, counts) in &group.by_deployment {
                println!(
                    "  targets of {}: {counts}",
                    deployment.as_deref().unwrap_or("unmatched tasks")
                );
            }
            for reason in &group.unhealthy_reasons {
                println!("  unhealthy: {reason}");
            }
        }
    }
    println!("last events:");
    for event in service.events().iter().take(5) {
        println!("  {}", event.message().unwrap_or_default());
    }
    match deploy_sdk::verify::discover_url(clients, &target).await {
        Ok(url) => println!("url: {url}"),
        Err(err) => println!("url: unknown ({err})"),
    }
    Ok(())
}

/// What the last deploy changed, for `cargo xtask rollback`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastDeploy {
    pub cluster: String,
    pub service: String,
    pub deployment_id: String,
    pub task_definition: String,
    pub previous_task_definition: Option<String>,
}

fn last_deploy_file(settings: &Settings) -> PathBuf {
    let dir = match &settings.local {
        Some(state_dir) => state_dir.clone(),
        None => project_root().join("target"),
    };
    dir.join(format!(
        "last-deploy-{}-{}.json",
        settings.cluster, settings.service
    ))
}

/// Records a started deployment.
pub fn record(settings: &Settings, started: &StartedDeployment) {
    let last = LastDeploy {
        cluster: settings.cluster.clone(),
        service: settings.service.clone(),
        deployment_id: started.deployment_id.clone(),
        task_definition: started.task_definition.clone(),
        previous_task_definition: started.previous_task_definition.clone(),
    };
    let path = last_deploy_file(settings);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(json) = serde_json::to_string_pretty(&last) {
        let _ = std::fs::write(path, json);
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Task definition to go back to [default: the one before the last `cargo xtask deploy`].
    #[arg(long, value_name = "TASK_DEFINITION")]
    to: Option<String>,
    /// Don't wait for the rollback to complete.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

/// `cargo xtask rollback`.
pub fn run_rollback(args: RollbackArgs) -> Result<()> {
    let settings = args.target.resolve()?;
    let progress = Progress::new(false);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let clients = connect(&settings, &|line| progress.line(line)).await?;
        let service = describe_service(&clients.ecs, &settings.service_ref()).await?;
        let current = service.task_definition().unwrap_or_default().to_owned();
        let to = match args.to.clone() {
            Some(to) => to,
            None => {
                let path = last_deploy_file(&settings);
                let text = std::fs::read_to_string(&path).map_err(|_| {
                    Failure::usage(format!(
                        "no deploy recorded in {}: name the task definition with --to",
                        path.display()
                    ))
                })?;
                let last: LastDeploy =
                    serde_json::from_str(&text).context("read the last deploy record")?;
                last.previous_task_definition.ok_or_else(|| {
                    Failure::usage(
                        "the last deploy created the service: there is nothing before it; use --to",
                    )
                })?
            }
        };
        let failed = StartedDeployment {
            service: settings.service_ref(),
            deployment_id: "current".into(),
            task_definition: current,
            previous_task_definition: Some(to.clone()),
            created_at: std::time::SystemTime::now(),
            is_new: false,
            circuit_breaker_rollback: false,
        };
        let deployer = Deployer::new(clients);
        let started = deployer.rollback(&failed).await?;
        progress.line(format!(
            "rollback: {} runs {}",
            started.deployment_id,
            short_task_definition(&to)
        ));
        if args.no_wait {
            return Ok(());
        }
        progress.set_ours(&started.deployment_id);
        let options = WatchOptions {
            timeout: std::time::Duration::from_secs(args.timeout),
            ..WatchOptions::default()
        };
        let watched =
            crate::deploy::watch_to_outcome(&deployer, started, options, &progress).await?;
        progress.finish();
        let outcome = watched.outcome;
        if !outcome.is_success() {
            return Err(Failure::deploy(format!("rollback {}", outcome_text(&outcome))).into());
        }
        Ok(())
    })
}
