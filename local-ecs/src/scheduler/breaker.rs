//! The deployment circuit breaker, fed with the facts of stopped tasks: it counts
//! consecutive failures of a deployment in progress and trips at
//! clamp(ceil(desired / 2), 3, 200); with rollback, a tripped PRIMARY deployment goes back to
//! the last deployment that COMPLETED (a tripped rollback is not rolled back again).

use crate::state::{CircuitBreaker, CompletedDeployment, DeploymentStatus, RolloutState, StopCode};

use super::view::{DeploymentView, TaskView};

/// The failures that trip the breaker: ceil(0.5 × desired), clamped to 3..=200.
pub fn threshold(desired: i64) -> i64 {
    ((desired + 1) / 2).clamp(3, 200)
}

/// Whether a stopped task counts as a failure: it failed to start, its essential container
/// exited, or it was replaced for failing health checks.
pub fn is_failure(task: &TaskView) -> bool {
    matches!(
        task.stop_code,
        Some(StopCode::TaskFailedToStart | StopCode::EssentialContainerExited)
    ) || task.health_check_failure
}

/// What one stopped task does to its deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a failure, or the deployment is no longer evaluated.
    Ignore,
    /// One more consecutive failure; `failed_tasks` is the new count.
    Count {
        /// The new `failedTasks`.
        failed_tasks: i64,
    },
    /// The threshold is reached: the deployment FAILS.
    Trip {
        /// The new `failedTasks`.
        failed_tasks: i64,
        /// The deployment to roll back to, when rollback applies.
        rollback_to: Option<CompletedDeployment>,
        /// Rollback applies (a PRIMARY deployment, rollback on, not itself a rollback).
        rollback_wanted: bool,
    },
}

/// Judges one stopped task of `deployment` (as it stands after the failures already counted).
pub fn judge(
    config: CircuitBreaker,
    desired: i64,
    deployment: &DeploymentView,
    last_completed: Option<&CompletedDeployment>,
    task: &TaskView,
) -> Verdict {
    if !is_failure(task)
        || deployment.monitoring_complete
        || deployment.rollout_state != RolloutState::InProgress
    {
        return Verdict::Ignore;
    }
    let failed_tasks = deployment.failed_tasks + 1;
    if !config.enable || failed_tasks < threshold(desired) {
        return Verdict::Count { failed_tasks };
    }
    // A failed rollback is not rolled back again: its service deployment is ROLLBACK_FAILED.
    let rollback_wanted = deployment.status == DeploymentStatus::Primary
        && config.rollback
        && !deployment.is_rollback();
    let rollback_to = rollback_wanted
        .then(|| last_completed.filter(|c| c.id != deployment.id).cloned())
        .flatten();
    Verdict::Trip {
        failed_tasks,
        rollback_to,
        rollback_wanted,
    }
}
