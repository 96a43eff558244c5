//! The judges, pure functions of what ECS said: [`judge_service_deployment`] reads the
//! ServiceDeployment API, [`judge`] the deployments table where that API is missing. Both
//! answer the same question — what became of OUR deployment — and neither ever calls a
//! rollback, or another client's deployment, a success.

use std::time::Duration;

use aws_sdk_ecs::types::{DeploymentRolloutState, ServiceDeploymentStatus};
use tokio::time::Instant;

use super::stage::StageState;
use crate::service::{DeploymentSnapshot, StartedDeployment, short_task_definition};
use crate::targets::TargetGroupHealth;

/// What ECS says about our deployment, before stopped tasks are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not decided yet.
    InProgress,
    /// Ours is done: SUCCESSFUL with our revision, or COMPLETED and PRIMARY.
    Completed,
    /// No rolloutState (Classic Load Balancer): ours is alone at full strength. Done only once
    /// our targets are healthy over a steady window ([`SteadyWindow`]).
    FullStrength,
    /// Ours is FAILED and still PRIMARY while ECS is expected to roll back: wait a little.
    AwaitingRollback {
        /// Why it failed.
        reason: String,
    },
    /// ECS is rolling ours back (ROLLBACK_REQUESTED / ROLLBACK_IN_PROGRESS): wait for it.
    RollingBack {
        /// Where to, when known.
        to: Option<String>,
        /// Why.
        reason: String,
    },
    /// Ours failed, vanished or was stopped, and nothing rolled it back.
    Failed {
        /// Why.
        reason: String,
    },
    /// ECS rolled ours back to an earlier task definition.
    RolledBack {
        /// The task definition the service runs again.
        to: String,
        /// The deployment (`ecs-svc/…`) that runs it, when the table shows it.
        by: Option<String>,
        /// Why.
        reason: String,
        /// ECS reported the rollback finished (ROLLBACK_SUCCESSFUL).
        finished: bool,
    },
    /// Another client's UpdateService replaced ours before it finished.
    Superseded {
        /// The other deployment (`ecs-svc/…`, or its ServiceDeployment ARN).
        by: String,
        /// Its task definition, when known.
        task_definition: Option<String>,
        /// What happened.
        reason: String,
    },
}

/// Judges our deployment from one deployments table. Done means OUR deployment is COMPLETED
/// and still PRIMARY. Rolled back means ECS's own rollback: ours FAILED while ECS rolls back
/// (breaker or alarms), and the PRIMARY runs another task definition. A PRIMARY that is not
/// ours and not such a rollback is another client's deployment: superseded.
pub fn judge(table: &[DeploymentSnapshot], started: &StartedDeployment) -> Verdict {
    if started.stop_rollback {
        return judge_stop_rollback_table(table, started);
    }
    let ours_id = started.deployment_id.as_str();
    let primary = table.iter().find(|d| d.status == "PRIMARY");
    let Some(ours) = table.iter().find(|d| d.id == ours_id) else {
        return match primary {
            // Gone, and the service is back where ECS rolls back to.
            Some(p)
                if started.ecs_rolls_back
                    && p.task_definition != started.task_definition
                    && started.previous_task_definition.as_deref()
                        == Some(p.task_definition.as_str()) =>
            {
                Verdict::RolledBack {
                    to: p.task_definition.clone(),
                    by: Some(p.id.clone()),
                    reason: format!(
                        "deployment {ours_id} disappeared and {} runs {} again",
                        p.id,
                        p.revision()
                    ),
                    finished: false,
                }
            }
            Some(p) => superseded(p, format!("deployment {ours_id} disappeared")),
            None => Verdict::Failed {
                reason: format!("deployment {ours_id} disappeared and no deployment is PRIMARY"),
            },
        };
    };
    let failed = ours.rollout_state == Some(DeploymentRolloutState::Failed);
    if ours.status != "PRIMARY" {
        return match primary {
            Some(p)
                if failed
                    && started.ecs_rolls_back
                    && p.task_definition != ours.task_definition =>
            {
                Verdict::RolledBack {
                    to: p.task_definition.clone(),
                    by: Some(p.id.clone()),
                    reason: failed_reason(ours, started),
                    finished: false,
                }
            }
            Some(p) if failed => Verdict::Failed {
                reason: format!(
                    "{}; then deployment {} ({}) took over",
                    failed_reason(ours, started),
                    p.id,
                    p.revision()
                ),
            },
            Some(p) => superseded(p, format!("deployment {ours_id} is {}", ours.status)),
            None => Verdict::Failed {
                reason: format!(
                    "deployment {ours_id} is {} and nothing is PRIMARY",
                    ours.status
                ),
            },
        };
    }
    match &ours.rollout_state {
        Some(DeploymentRolloutState::Completed) => Verdict::Completed,
        Some(DeploymentRolloutState::Failed) if started.ecs_rolls_back => {
            Verdict::AwaitingRollback {
                reason: failed_reason(ours, started),
            }
        }
        Some(DeploymentRolloutState::Failed) => Verdict::Failed {
            reason: failed_reason(ours, started),
        },
        Some(_) => Verdict::InProgress,
        // Classic Load Balancer: no rolloutState. Alone at full strength is a candidate.
        None if table.len() == 1 && ours.running == ours.desired && ours.pending == 0 => {
            Verdict::FullStrength
        }
        None => Verdict::InProgress,
    }
}

fn superseded(primary: &DeploymentSnapshot, what: String) -> Verdict {
    Verdict::Superseded {
        by: primary.id.clone(),
        task_definition: Some(primary.task_definition.clone()),
        reason: format!(
            "{what}: another UpdateService made deployment {} ({}) PRIMARY before ours finished",
            primary.id,
            primary.revision()
        ),
    }
}

/// ECS's rolloutStateReason, naming the deployment alarms when it speaks of alarms without
/// naming them.
fn failed_reason(ours: &DeploymentSnapshot, started: &StartedDeployment) -> String {
    let reason = ours.rollout_state_reason.clone().unwrap_or_else(|| {
        format!(
            "deployment {} is {}",
            ours.id,
            ours.rollout_state
                .as_ref()
                .map_or("FAILED", DeploymentRolloutState::as_str)
        )
    });
    let names_none = !started
        .alarm_names
        .iter()
        .any(|a| reason.contains(a.as_str()));
    if reason.to_lowercase().contains("alarm") && names_none && !started.alarm_names.is_empty() {
        format!(
            "{reason} (deployment alarms: {})",
            started.alarm_names.join(", ")
        )
    } else {
        reason
    }
}

/// The table view of a `StopServiceDeployment` rollback: done when the PRIMARY runs the task
/// definition it goes back to and COMPLETED.
fn judge_stop_rollback_table(table: &[DeploymentSnapshot], started: &StartedDeployment) -> Verdict {
    match table.iter().find(|d| d.status == "PRIMARY") {
        Some(p)
            if p.task_definition == started.task_definition
                && p.rollout_state == Some(DeploymentRolloutState::Completed) =>
        {
            Verdict::Completed
        }
        Some(p) if p.task_definition == started.task_definition => Verdict::InProgress,
        Some(p) if p.id == started.deployment_id => Verdict::InProgress,
        Some(p) => superseded(p, "the rollback".into()),
        None => Verdict::InProgress,
    }
}

/// What the ServiceDeployment API (and the same poll's DescribeServices) says about our
/// service deployment, with its revisions resolved to task definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDeploymentFacts {
    /// Its ARN.
    pub arn: String,
    /// Its status.
    pub status: ServiceDeploymentStatus,
    /// `statusReason`.
    pub status_reason: Option<String>,
    /// The task definition of `targetServiceRevision`.
    pub target_task_definition: Option<String>,
    /// `rollback`, when ECS rolled it back or is doing so.
    pub rollback: Option<RollbackFacts>,
    /// `alarms.triggeredAlarmNames`.
    pub triggered_alarms: Vec<String>,
    /// `deploymentCircuitBreaker {failureCount, threshold}`, when it counted failures.
    pub circuit_breaker: Option<(i32, i32)>,
    /// `service.currentServiceDeployment` now: another ARN means another UpdateService.
    pub current_service_deployment: Option<String>,
    /// The PRIMARY row of the table now (`ecs-svc/…`, task definition), to name whoever runs.
    pub primary: Option<(String, String)>,
    /// `lifecycleStage` and `lifecycleHookDetails` (blue/green, linear and canary).
    pub stage: StageState,
}

/// A service deployment's `rollback`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackFacts {
    /// `rollback.reason`.
    pub reason: Option<String>,
    /// `rollback.serviceRevisionArn`.
    pub service_revision_arn: Option<String>,
    /// That revision's task definition, once resolved.
    pub task_definition: Option<String>,
}

impl ServiceDeploymentFacts {
    /// Every reason ECS gave, in one line.
    pub fn reasons(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(reason) = &self.status_reason {
            parts.push(reason.clone());
        }
        if let Some(rollback) = &self.rollback {
            let mut text = String::from("rollback");
            if let Some(td) = &rollback.task_definition {
                text.push_str(&format!(" to {}", short_task_definition(td)));
            }
            if let Some(reason) = &rollback.reason {
                text.push_str(&format!(": {reason}"));
            }
            parts.push(text);
        }
        if !self.triggered_alarms.is_empty() {
            parts.push(format!(
                "alarms in ALARM: {}",
                self.triggered_alarms.join(", ")
            ));
        }
        if let Some((failures, threshold)) = self.circuit_breaker.filter(|(f, _)| *f > 0) {
            parts.push(format!(
                "circuit breaker: {failures} failed tasks (threshold {threshold})"
            ));
        }
        if parts.is_empty() {
            format!(
                "service deployment {} is {}",
                self.arn,
                self.status.as_str()
            )
        } else {
            parts.join("; ")
        }
    }

    fn superseded_by(&self) -> Option<Verdict> {
        let current = self.current_service_deployment.as_deref()?;
        if current == self.arn {
            return None;
        }
        let (by, task_definition) = match &self.primary {
            Some((id, td)) => (id.clone(), Some(td.clone())),
            None => (current.to_owned(), None),
        };
        let what = task_definition
            .as_deref()
            .map(|td| format!(" ({})", short_task_definition(td)))
            .unwrap_or_default();
        Some(Verdict::Superseded {
            reason: format!(
                "another UpdateService started deployment {by}{what} (service deployment \
                 {current}) before ours finished"
            ),
            by,
            task_definition,
        })
    }

    /// Where a rollback went: the rollback revision's task definition, else what the PRIMARY
    /// runs.
    fn rollback_target(&self) -> Option<String> {
        self.rollback
            .as_ref()
            .and_then(|r| r.task_definition.clone())
            .or_else(|| self.primary.as_ref().map(|(_, td)| td.clone()))
    }
}

/// Judges our service deployment: only SUCCESSFUL with our task definition as its target is
/// a success; ROLLBACK_* are ECS's rollback (waited for to its end); STOPPED is a failure,
/// or superseded when the service's current deployment is another one.
pub fn judge_service_deployment(
    facts: &ServiceDeploymentFacts,
    started: &StartedDeployment,
) -> Verdict {
    use ServiceDeploymentStatus as S;
    if started.stop_rollback {
        return judge_stop_rollback(facts);
    }
    let reason = facts.reasons();
    match &facts.status {
        S::Successful => match facts.target_task_definition.as_deref() {
            Some(td) if td == started.task_definition => Verdict::Completed,
            other => Verdict::Failed {
                reason: format!(
                    "service deployment {} succeeded with {}, not {}",
                    facts.arn,
                    other.map_or("an unknown revision", short_task_definition),
                    short_task_definition(&started.task_definition)
                ),
            },
        },
        S::Pending | S::InProgress | S::StopRequested | S::Stopped => match facts.superseded_by() {
            Some(superseded) => superseded,
            None if facts.status == S::Stopped => Verdict::Failed { reason },
            None => Verdict::InProgress,
        },
        S::RollbackRequested | S::RollbackInProgress => Verdict::RollingBack {
            to: facts.rollback_target(),
            reason,
        },
        S::RollbackSuccessful => {
            let to = facts.rollback_target().unwrap_or_default();
            let by = facts
                .primary
                .as_ref()
                .filter(|(_, td)| *td == to)
                .map(|(id, _)| id.clone());
            Verdict::RolledBack {
                to,
                by,
                reason,
                finished: true,
            }
        }
        S::RollbackFailed => Verdict::Failed {
            reason: format!("ECS's rollback failed: {reason}"),
        },
        _ => Verdict::InProgress,
    }
}

/// A rollback we asked for with `StopServiceDeployment`: done at ROLLBACK_SUCCESSFUL.
fn judge_stop_rollback(facts: &ServiceDeploymentFacts) -> Verdict {
    use ServiceDeploymentStatus as S;
    match &facts.status {
        S::RollbackSuccessful => Verdict::Completed,
        S::RollbackFailed | S::Stopped => Verdict::Failed {
            reason: format!("the rollback did not complete: {}", facts.reasons()),
        },
        S::Successful => Verdict::Failed {
            reason: format!(
                "service deployment {} completed before the rollback took effect",
                facts.arn
            ),
        },
        _ => facts.superseded_by().unwrap_or(Verdict::InProgress),
    }
}

/// Whether our targets are ready, for a deployment without rolloutState: in every target group
/// at least `desired` of ours healthy and none initial or unhealthy. `None` (no target groups,
/// or target health not available) is ready: running == desired is all there is to check.
pub fn targets_ready(health: Option<&[TargetGroupHealth]>, ours: &str, desired: i32) -> bool {
    let Some(groups) = health else {
        return true;
    };
    groups.iter().all(|g| {
        let counts = g.of(ours);
        counts.initial == 0
            && counts.unhealthy == 0
            && i64::from(counts.healthy) >= i64::from(desired)
    })
}

/// "Alone at full strength with healthy targets" must hold at two polls at least `window`
/// apart before a deployment without rolloutState is called completed.
#[derive(Debug, Clone)]
pub struct SteadyWindow {
    window: Duration,
    since: Option<Instant>,
}

impl SteadyWindow {
    /// A window of `window`.
    pub fn new(window: Duration) -> SteadyWindow {
        SteadyWindow {
            window,
            since: None,
        }
    }

    /// What a poll at `now` saw; true once it held from a poll at least `window` ago.
    pub fn observe(&mut self, ready: bool, now: Instant) -> bool {
        if !ready {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.saturating_duration_since(since) >= self.window
    }

    /// When the window ends, while it is running (the planner polls then).
    pub fn ends_at(&self) -> Option<Instant> {
        self.since.map(|s| s + self.window)
    }
}

#[cfg(test)]
mod tests;
