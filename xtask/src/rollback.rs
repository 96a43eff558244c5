//! `cargo xtask rollback`: the service back on the task definition before the last deploy
//! (or `--to`), watched to its outcome.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use clap::Args;
use deploy_sdk::deploy::Deployer;
use deploy_sdk::rollout::WatchOptions;
use deploy_sdk::service::{StartedDeployment, describe_service, short_task_definition};

use crate::config::{Settings, TargetArgs};
use crate::connect::connect;
use crate::failure::Failure;
use crate::last_deploy;
use crate::progress::{Progress, outcome_text};
use crate::watch::watch_to_outcome;

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
pub fn run(args: RollbackArgs) -> Result<()> {
    let settings = args.target.resolve()?;
    let progress = Progress::new(false);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(roll_back(&args, &settings, &progress))
}

async fn roll_back(args: &RollbackArgs, settings: &Settings, progress: &Progress) -> Result<()> {
    let clients = connect(settings, &|line| progress.line(line)).await?;
    let service = describe_service(&clients.ecs, &settings.service_ref()).await?;
    let current = service.task_definition().unwrap_or_default().to_owned();
    let to = match args.to.clone() {
        Some(to) => to,
        None => last_deploy::read(settings)?
            .previous_task_definition
            .ok_or_else(|| {
                Failure::usage(
                    "the last deploy created the service: there is nothing before it; use --to",
                )
            })?,
    };
    // What runs now, as the "failed" deployment Deployer::rollback goes back from.
    let failed = StartedDeployment {
        service: settings.service_ref(),
        deployment_id: "current".into(),
        task_definition: current,
        previous_task_definition: Some(to.clone()),
        created_at: SystemTime::now(),
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
        timeout: Duration::from_secs(args.timeout),
        ..WatchOptions::default()
    };
    let watched = watch_to_outcome(&deployer, started, options, progress).await?;
    progress.finish();
    let outcome = watched.outcome;
    if !outcome.is_success() {
        return Err(Failure::deploy(format!("rollback {}", outcome_text(&outcome))).into());
    }
    Ok(())
}
