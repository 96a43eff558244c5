//! `cargo xtask continue` and `cargo xtask abort`: answer a blue/green, linear or canary
//! deployment that a PAUSE hook holds (`ContinueServiceDeployment` CONTINUE or ROLLBACK), or
//! roll back one in progress (`StopServiceDeployment` ROLLBACK). They do not wait for the
//! deploy lock: the deploy being answered holds it.

use anyhow::Result;
use aws_sdk_ecs::types::ServiceDeploymentStatus;
use clap::Args;
use deploy_sdk::rollout::StageState;
use deploy_sdk::service::describe_service;
use deploy_sdk::service_deployment::{self, HookAnswer, continue_deployment, stop_for_rollback};

use crate::config::{Settings, TargetArgs};
use crate::connect::connect;
use crate::failure::Failure;
use crate::out::outln;

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(flatten)]
    target: TargetArgs,
}

/// Which command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Let the paused deployment go on.
    Continue,
    /// Roll the deployment back (a paused one through its hook).
    Abort,
}

/// `cargo xtask continue` / `cargo xtask abort`.
pub fn run(args: HookArgs, act: Act) -> Result<()> {
    let settings = args.target.resolve()?;
    tokio::runtime::Runtime::new()?.block_on(answer(&settings, act))
}

async fn answer(settings: &Settings, act: Act) -> Result<()> {
    let clients = connect(settings, &|line| outln!("{line}")).await?;
    let target = settings.service_ref();
    let service = describe_service(&clients.ecs, &target).await?;
    let nothing = |why: String| -> anyhow::Error { Failure::usage(why).into() };
    let Some(arn) = service.current_service_deployment() else {
        return Err(nothing(format!("{target} has no deployment in progress")));
    };
    let deployment = service_deployment::describe(&clients.ecs, arn).await?;
    let status = deployment.status().cloned();
    if !matches!(
        status,
        Some(ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress)
    ) {
        let status = status.map_or("unknown".into(), |s| s.as_str().to_owned());
        return Err(nothing(format!(
            "{target}: its last deployment is {status}, not in progress"
        )));
    }
    let state = StageState::of(&deployment);
    let stage = state
        .stage
        .clone()
        .unwrap_or_else(|| "no lifecycle stage".into());
    match (act, state.awaiting_action()) {
        (_, Some(hook)) if hook.hook_id.is_empty() => Err(anyhow::anyhow!(
            "ecs:DescribeServiceDeployments: the hook awaiting action has no hookId"
        )),
        (Act::Continue, Some(hook)) => {
            continue_deployment(&clients.ecs, arn, &hook.hook_id, HookAnswer::Continue).await?;
            outln!(
                "continue: hook {} at {stage} answered CONTINUE",
                hook.hook_id
            );
            Ok(())
        }
        (Act::Continue, None) => Err(nothing(format!(
            "{target}: the deployment is at {stage} and no hook awaits action: nothing to continue"
        ))),
        (Act::Abort, Some(hook)) => {
            continue_deployment(&clients.ecs, arn, &hook.hook_id, HookAnswer::Rollback).await?;
            outln!("abort: hook {} at {stage} answered ROLLBACK", hook.hook_id);
            Ok(())
        }
        (Act::Abort, None) => {
            stop_for_rollback(&clients.ecs, arn).await?;
            outln!("abort: deployment at {stage} stopped with ROLLBACK (StopServiceDeployment)");
            Ok(())
        }
    }
}
