//! The diagnostics of a poll — stopped tasks, target health, deregistration delays — best
//! effort: a failure is reported once per kind (until that kind works again) and never ends
//! the watch nor holds its outcome up.

use std::time::Duration;

use aws_sdk_ecs::types::{DesiredStatus, Service};
use aws_smithy_types::retry::ErrorKind;

use super::{Draft, Health, Watcher};
use crate::Clients;
use crate::error::{Error, Result};
use crate::rollout::{Diagnostic, Outcome, RolloutEvent};
use crate::service::DeploymentSnapshot;
use crate::targets;
use crate::tasks::{self, StoppedTask, task_deployment};
use crate::traffic;

/// How long the diagnostics of one poll may take before the watch moves on.
const DIAGNOSTICS_DEADLINE: Duration = Duration::from_secs(5);
/// How long a failure outcome waits for its stopped tasks' reasons.
const REASONS_DEADLINE: Duration = Duration::from_secs(2);

impl Watcher {
    /// Stopped tasks, traffic weights, target health and the deregistration delay, each best
    /// effort: only the weights once the outcome is a success, the weights and the stopped
    /// tasks' reasons (briefly) for a failure.
    /// Returns whether targets of another deployment are draining.
    pub(super) async fn diagnose(
        &mut self,
        clients: &Clients,
        service: &Service,
        table: &[DeploymentSnapshot],
        outcome: Option<&Outcome>,
        mut health: Health,
        draft: &mut Draft,
    ) -> bool {
        let wants_reasons = matches!(
            outcome,
            Some(Outcome::Failed { .. } | Outcome::RolledBack { .. })
        );
        if outcome.is_none() || wants_reasons {
            let deadline = if outcome.is_none() {
                DIAGNOSTICS_DEADLINE
            } else {
                REASONS_DEADLINE
            };
            let stopped = tokio::time::timeout(deadline, self.new_stopped_tasks(clients, table));
            match stopped.await.unwrap_or_else(|_| Err(late(deadline))) {
                Ok((arns, ours)) => {
                    draft.failing.remove(&Diagnostic::StoppedTasks);
                    draft.commit.stopped_arns = arns;
                    for task in ours {
                        draft.changed = true;
                        draft.commit.stopped_tasks.push(task.clone());
                        draft.events.push(RolloutEvent::TaskStopped(task));
                    }
                }
                Err(err) => report(Diagnostic::StoppedTasks, &err, draft),
            }
        }
        // Also at the outcome: where the last shift (or a rollback) left production traffic.
        self.traffic_weights(clients, draft).await;
        if outcome.is_some() {
            return false;
        }
        if matches!(health, Health::NotWatched) {
            health = self.target_health(clients, service, table, draft).await;
        }
        let Health::Seen(groups) = health else {
            return false;
        };
        let draining_old = groups
            .iter()
            .flat_map(|g| g.by_deployment.iter())
            .any(|(d, c)| {
                d.as_deref() != Some(self.started.deployment_id.as_str()) && c.draining > 0
            });
        if self.last_health.as_ref() != Some(&groups) {
            draft.changed = true;
            draft
                .events
                .push(RolloutEvent::TargetHealth(groups.clone()));
            draft.commit.health = Some(groups);
        }
        if draining_old {
            self.load_deregistration_delays(clients, service, draft)
                .await;
        }
        draining_old
    }

    /// Stopped tasks not seen yet: (every newly stopped ARN, ours among them).
    async fn new_stopped_tasks(
        &self,
        clients: &Clients,
        table: &[DeploymentSnapshot],
    ) -> Result<(Vec<String>, Vec<StoppedTask>)> {
        let arns =
            tasks::list_tasks(&clients.ecs, &self.started.service, DesiredStatus::Stopped).await?;
        let new: Vec<String> = arns
            .into_iter()
            .filter(|a| !self.seen_stopped.contains(a))
            .collect();
        if new.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let described =
            tasks::describe_tasks(&clients.ecs, &self.started.service.cluster, &new).await?;
        let mut seen = Vec::new();
        let mut ours = Vec::new();
        for task in described {
            // A task being stopped is listed as desiredStatus STOPPED before it is stopped.
            if task.last_status() != Some("STOPPED") {
                continue;
            }
            let Some(arn) = task.task_arn() else { continue };
            seen.push(arn.to_owned());
            let deployment = task_deployment(&task, table);
            if deployment.as_deref() == Some(self.started.deployment_id.as_str()) {
                ours.push(StoppedTask::from_task(&task, deployment));
            }
        }
        Ok((seen, ours))
    }

    pub(super) async fn target_health(
        &mut self,
        clients: &Clients,
        service: &Service,
        table: &[DeploymentSnapshot],
        draft: &mut Draft,
    ) -> Health {
        let groups = targets::service_target_groups(service);
        if !self.options.target_health || groups.is_empty() {
            return Health::NotWatched;
        }
        let polled = self
            .tracker
            .poll(clients, &self.started.service, &groups, table);
        match tokio::time::timeout(DIAGNOSTICS_DEADLINE, polled).await {
            Ok(Ok(health)) => {
                draft.failing.remove(&Diagnostic::TargetHealth);
                Health::Seen(health)
            }
            Ok(Err(err)) => {
                report(Diagnostic::TargetHealth, &err, draft);
                Health::Failed {
                    lasting: !err.is_transient(),
                }
            }
            Err(_) => {
                report(Diagnostic::TargetHealth, &late(DIAGNOSTICS_DEADLINE), draft);
                Health::Failed { lasting: false }
            }
        }
    }

    /// The weights of the rules ECS rewrites, when the strategy has any, as an event when
    /// they changed.
    async fn traffic_weights(&mut self, clients: &Clients, draft: &mut Draft) {
        let rules = match &self.strategy {
            Some(strategy) => strategy.rule_arns(),
            None => return,
        };
        if rules.is_empty() {
            return;
        }
        let asked = traffic::rule_weights(&clients.elb, &rules);
        match tokio::time::timeout(DIAGNOSTICS_DEADLINE, asked).await {
            Ok(Ok(weights)) => {
                draft.failing.remove(&Diagnostic::TrafficWeights);
                if weights != self.last_weights {
                    draft.changed = true;
                    draft
                        .events
                        .push(RolloutEvent::TrafficWeights(weights.clone()));
                    draft.commit.weights = Some(weights);
                }
            }
            Ok(Err(err)) => report(Diagnostic::TrafficWeights, &err, draft),
            Err(_) => report(
                Diagnostic::TrafficWeights,
                &late(DIAGNOSTICS_DEADLINE),
                draft,
            ),
        }
    }

    async fn load_deregistration_delays(
        &mut self,
        clients: &Clients,
        service: &Service,
        draft: &mut Draft,
    ) {
        if !self.deregistration_delays.is_empty() || self.delays_failed {
            return;
        }
        for arn in targets::service_target_groups(service) {
            let asked = clients
                .elb
                .describe_target_group_attributes()
                .target_group_arn(&arn)
                .send();
            let out = match tokio::time::timeout(DIAGNOSTICS_DEADLINE, asked).await {
                Ok(Ok(out)) => out,
                Ok(Err(e)) => {
                    let err =
                        Error::from_sdk("elasticloadbalancing:DescribeTargetGroupAttributes", e);
                    report(Diagnostic::DeregistrationDelay, &err, draft);
                    self.delays_failed = true;
                    return;
                }
                Err(_) => {
                    let err = late(DIAGNOSTICS_DEADLINE);
                    report(Diagnostic::DeregistrationDelay, &err, draft);
                    self.delays_failed = true;
                    return;
                }
            };
            // ELBv2's default when the attribute is not listed.
            let secs = out
                .attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(300);
            self.deregistration_delays
                .insert(arn, Duration::from_secs(secs));
        }
        draft.failing.remove(&Diagnostic::DeregistrationDelay);
    }
}

/// Reports a diagnostic's failure, once until it works again.
fn report(what: Diagnostic, err: &Error, draft: &mut Draft) {
    if draft.failing.insert(what) {
        draft.events.push(RolloutEvent::DiagnosticFailed {
            what,
            error: err.to_string(),
        });
    }
}

fn late(deadline: Duration) -> Error {
    Error::Aws {
        action: "diagnostics".into(),
        code: Some("Timeout".into()),
        kind: Some(ErrorKind::TransientError),
        message: format!("no answer within {}s", deadline.as_secs()),
    }
}
