//! Watching a deployment to its outcome, shown live: for a deploy, its rollback, and
//! `cargo xtask rollback`.

use anyhow::Result;
use deploy_sdk::deploy::Deployer;
use deploy_sdk::rollout::{Outcome, RolloutEvent, WatchOptions, WatchStats};
use deploy_sdk::service::StartedDeployment;
use deploy_sdk::time_budget::ActualMilestones;
use futures::StreamExt;
use std::time::Instant;

use crate::progress::Progress;

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
}

/// Watches to the outcome, showing progress.
pub async fn watch_to_outcome(
    deployer: &Deployer,
    started: StartedDeployment,
    options: WatchOptions,
    progress: &Progress,
) -> Result<Watched> {
    let ours = started.deployment_id.clone();
    let mut stream = std::pin::pin!(deployer.watch(started, options));
    let (mut messages, mut stats, mut table) = (Vec::new(), None, Vec::new());
    let (began, mut milestones) = (Instant::now(), ActualMilestones::new(&ours));
    while let Some(event) = stream.next().await {
        let event = event?;
        progress.rollout(&event);
        milestones.observe(&event, began.elapsed());
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
                });
            }
            _ => {}
        }
    }
    Err(anyhow::anyhow!(
        "the rollout watch ended without an outcome"
    ))
}
