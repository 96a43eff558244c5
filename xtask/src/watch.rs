//! Watching a deployment to its outcome, shown live: for a deploy, its rollback, and
//! `cargo xtask rollback`.

use anyhow::Result;
use deploy_sdk::deploy::Deployer;
use deploy_sdk::rollout::{Outcome, RolloutEvent, StageState, WatchOptions, WatchStats};
use deploy_sdk::service::StartedDeployment;
use deploy_sdk::service_deployment::{HookAnswer, continue_deployment};
use deploy_sdk::time_budget::ActualMilestones;
use futures::StreamExt;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

use crate::progress::Progress;
use crate::timeline::Timeline;

/// What a watch saw.
pub struct Watched {
    pub outcome: Outcome,
    /// Service events, oldest first.
    pub messages: Vec<String>,
    pub stats: Option<WatchStats>,
    /// Seconds from ECS recording the outcome (the deployment's updatedAt) to the watch
    /// seeing it, when ECS gives the time.
    pub seen_after: Option<f64>,
    /// When the roll reached its milestones, since the watch began.
    pub milestones: ActualMilestones,
    /// The lifecycle stages seen (blue/green, linear, canary), each with when it was first
    /// seen, in seconds on the progress clock (since the deploy began).
    pub stages: Vec<(String, f64)>,
    /// Tasks, target health, events and weights over time, on the progress clock.
    pub timeline: Timeline,
}

/// Watches a rollback to its outcome, showing progress. A PAUSE hook that holds it is
/// answered CONTINUE: a rollback goes back to a revision that ran, and a hook whose timeout
/// action is ROLLBACK would otherwise undo it.
pub async fn watch_to_outcome(
    deployer: &Deployer,
    started: StartedDeployment,
    options: WatchOptions,
    progress: &Progress,
) -> Result<Watched> {
    let arn = started.service_deployment_arn.clone();
    let (sender, mut stages) = tokio::sync::mpsc::unbounded_channel();
    let watching =
        async move { watch_with_stages(deployer, started, options, progress, Some(sender)).await };
    let answering = async {
        let mut answered = Vec::new();
        while let Some(state) = stages.recv().await {
            let (Some(arn), Some(hook)) = (&arn, state.awaiting_action()) else {
                continue;
            };
            if hook.target_type != "PAUSE" || answered.contains(&hook.hook_id) {
                continue;
            }
            answered.push(hook.hook_id.clone());
            let ecs = &deployer.clients().ecs;
            let line =
                match continue_deployment(ecs, arn, &hook.hook_id, HookAnswer::Continue).await {
                    Ok(()) => format!("rollback: PAUSE hook {} answered CONTINUE", hook.hook_id),
                    Err(err) => format!(
                        "rollback: answering PAUSE hook {} failed: {err}",
                        hook.hook_id
                    ),
                };
            progress.line(line);
        }
    };
    let (watched, ()) = tokio::join!(watching, answering);
    watched
}

/// [`watch_to_outcome`], each lifecycle stage event also sent to `stage_events` (for the
/// test-traffic gate, which acts while the watch goes on).
pub async fn watch_with_stages(
    deployer: &Deployer,
    started: StartedDeployment,
    options: WatchOptions,
    progress: &Progress,
    stage_events: Option<UnboundedSender<StageState>>,
) -> Result<Watched> {
    let ours = started.deployment_id.clone();
    let mut stream = std::pin::pin!(deployer.watch(started, options));
    let (mut messages, mut stats, mut table) = (Vec::new(), None, Vec::new());
    let (began, mut milestones) = (Instant::now(), ActualMilestones::new(&ours));
    let mut stages: Vec<(String, f64)> = Vec::new();
    let mut timeline = Timeline::default();
    while let Some(event) = stream.next().await {
        let event = event?;
        progress.rollout(&event);
        timeline.observe(&event, progress.elapsed().as_secs_f64());
        milestones.observe(&event, began.elapsed());
        if let RolloutEvent::Stage(state) = &event {
            if let Some(stage) = &state.stage
                && stages.last().is_none_or(|(last, _)| last != stage)
            {
                stages.push((stage.clone(), progress.elapsed().as_secs_f64()));
            }
            if let Some(sender) = &stage_events {
                let _ = sender.send(state.clone());
            }
        }
        match event {
            RolloutEvent::ServiceEvent { message, .. } => messages.push(message),
            RolloutEvent::Deployments(rows) => table = rows,
            RolloutEvent::Stats(s) => stats = Some(s),
            RolloutEvent::Outcome(outcome) => {
                let seen_after = table
                    .iter()
                    .find(|d| d.id == ours)
                    .and_then(|d| d.updated_at)
                    .and_then(|at| std::time::SystemTime::now().duration_since(at).ok())
                    .map(|d| d.as_secs_f64());
                return Ok(Watched {
                    outcome,
                    messages,
                    stats,
                    seen_after,
                    milestones,
                    stages,
                    timeline,
                });
            }
            _ => {}
        }
    }
    Err(anyhow::anyhow!(
        "the rollout watch ended without an outcome"
    ))
}
