//! `cargo xtask rollback`: the service back on the last task definition that COMPLETED
//! before the last deploy (or `--to`), watched to its outcome.

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
    /// Task definition to go back to [default: the last one that COMPLETED before the last
    /// `cargo xtask deploy`, as ECS would roll back].
    #[arg(long, value_name = "TASK_DEFINITION")]
    to: Option<String>,
    /// Don't wait for the rollback to complete.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this many seconds (1 to 86400).
    #[arg(
        long,
        default_value_t = 900,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    timeout: u64,
}

/// `cargo xtask rollback`.
pub fn run(args: RollbackArgs) -> Result<()> {
    let settings = args.target.resolve()?;
    let progress = Progress::new(false);
    let runtime = tokio::runtime::Runtime::new()?;
    // --local: a dead local-ecs ends the rollback, not the --timeout.
    runtime.block_on(crate::local_guard::watch_local(
        &settings,
        roll_back(&args, &settings, &progress),
    ))
}

async fn roll_back(args: &RollbackArgs, settings: &Settings, progress: &Progress) -> Result<()> {
    let clients = connect(settings, &|line| progress.line(line)).await?;
    // --local: takes its turn with deploys of the same service.
    let _turn = crate::local_guard::lock_deploy(settings, &|line| progress.line(line)).await?;
    let deployer = Deployer::new(clients);
    let target = settings.service_ref();
    let started = match &args.to {
        Some(to) => deployer.rollback_to(&target, to).await?,
        None => {
            let failed = last_deploy_running(&deployer, settings).await?;
            deployer.rollback(&failed).await.map_err(|err| match err {
                deploy_sdk::Error::InvalidInput { .. } => {
                    anyhow::Error::from(Failure::usage(format!("{err}: use --to")))
                }
                err => err.into(),
            })?
        }
    };
    progress.line(format!(
        "rollback: {} {} {}",
        started.deployment_id,
        if started.stop_rollback {
            "is rolled back by ECS to"
        } else {
            "runs"
        },
        short_task_definition(&started.task_definition)
    ));
    if args.no_wait {
        return Ok(());
    }
    progress.set_ours(&started.deployment_id);
    let options = WatchOptions {
        timeout: Duration::from_secs(args.timeout),
        minute: crate::local_ecs::minute(settings),
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

/// The last deploy as the deployment to roll back, if the service still runs it. One that
/// was rolled back or replaced by another client's deploy is not ours to undo: rolling "back"
/// from someone else's revision would go to the wrong place.
async fn last_deploy_running(
    deployer: &Deployer,
    settings: &Settings,
) -> Result<StartedDeployment> {
    let last = last_deploy::read(settings)?;
    let target = settings.service_ref();
    let service = describe_service(&deployer.clients().ecs, &target).await?;
    let current = service.task_definition().unwrap_or_default();
    if current != last.task_definition {
        return Err(Failure::usage(format!(
            "the service runs {}, not {} that the last deploy ({}) started: it was rolled back \
             or replaced by another deploy, so there is nothing of ours to undo; name the \
             revision with --to",
            short_task_definition(current),
            short_task_definition(&last.task_definition),
            last.deployment_id
        ))
        .into());
    }
    Ok(StartedDeployment {
        service: target,
        deployment_id: last.deployment_id,
        task_definition: last.task_definition,
        previous_task_definition: last.previous_task_definition,
        created_at: SystemTime::now(),
        is_new: false,
        ecs_rolls_back: false,
        alarm_names: Vec::new(),
        service_deployment_arn: last.service_deployment_arn,
        stop_rollback: false,
    })
}
