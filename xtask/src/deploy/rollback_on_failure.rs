//! When the rollout fails: the cause in the report, the service put back on the last
//! task definition that COMPLETED (unless `--rollback-on-failure false`, ECS already did, or
//! another client's deploy superseded ours), and the error to exit with — the cause, the
//! stopped tasks, the last events, and where to look further.

use deploy_sdk::rollout::Outcome;
use deploy_sdk::service::{StartedDeployment, short_task_definition};

use super::context::Deploy;
use super::report::{RollbackReport, SupersededJson};
use crate::failure::Failure;
use crate::progress::outcome_text;
use crate::watch::watch_to_outcome;

impl Deploy<'_> {
    /// Reports a failed rollout, rolls back when asked, and returns the error to exit with.
    pub async fn rollback_on_failure(
        &mut self,
        started: &StartedDeployment,
        outcome: Outcome,
    ) -> anyhow::Error {
        self.record_failure(&outcome);
        if self.args.rollback_on_failure {
            self.roll_back(started, &outcome).await;
        }
        let mut message = format!(
            "deploy {}: {}",
            self.report.outcome.replace('_', " "),
            outcome_text(&outcome)
        );
        for task in &self.report.stopped_tasks {
            message.push_str(&format!("\n  stopped task {task}"));
        }
        for event in self.report.last_events.iter().rev().take(5).rev() {
            message.push_str(&format!("\n  event: {event}"));
        }
        message.push_str(&self.look_further());
        Failure::deploy(message).into()
    }

    fn record_failure(&mut self, outcome: &Outcome) {
        let (kind, reason, stopped) = match outcome {
            Outcome::Failed {
                reason,
                stopped_tasks,
                ..
            } => ("failed", reason.clone(), stopped_tasks.clone()),
            Outcome::RolledBack {
                reason,
                stopped_tasks,
                ..
            } => ("rolled_back", reason.clone(), stopped_tasks.clone()),
            Outcome::Superseded {
                by,
                task_definition,
                reason,
                ..
            } => {
                self.report.superseded_by = Some(SupersededJson {
                    deployment_id: by.clone(),
                    task_definition: task_definition.clone(),
                });
                ("superseded", reason.clone(), Vec::new())
            }
            Outcome::TimedOut { .. } => ("timed_out", outcome_text(outcome), Vec::new()),
            Outcome::Completed { .. } => ("deployed", String::new(), Vec::new()),
        };
        self.report.outcome = kind.into();
        self.report.reason = Some(reason);
        self.report.stopped_tasks = stopped.iter().map(ToString::to_string).collect();
    }

    /// Puts the last COMPLETED task definition back — or, when ECS is already rolling back,
    /// waits for its deployment — and records how that went. A deployment another client
    /// superseded is left alone: undoing their deploy is not ours to do.
    async fn roll_back(&mut self, started: &StartedDeployment, outcome: &Outcome) {
        let rollback = match outcome {
            Outcome::Completed { .. } | Outcome::Superseded { .. } => return,
            Outcome::RolledBack {
                to,
                by,
                finished: true,
                ..
            } => {
                // ECS said ROLLBACK_SUCCESSFUL: nothing left to wait for.
                self.report.rollback = Some(RollbackReport {
                    deployment_id: by.clone(),
                    to: to.clone(),
                    outcome: format!(
                        "completed: ECS rolled the service back to {} (ROLLBACK_SUCCESSFUL)",
                        short_task_definition(to)
                    ),
                    old_build_answers: None,
                });
                return;
            }
            Outcome::RolledBack {
                by: Some(by), to, ..
            } => Ok(StartedDeployment {
                deployment_id: by.clone(),
                task_definition: to.clone(),
                previous_task_definition: Some(started.task_definition.clone()),
                is_new: false,
                // ECS's rollback deployment is watched in the table: its ARN is not known.
                service_deployment_arn: None,
                stop_rollback: false,
                ..started.clone()
            }),
            Outcome::RolledBack { .. } => return,
            Outcome::Failed { .. } | Outcome::TimedOut { .. } => {
                self.deployer.rollback(started).await
            }
        };
        let rollback = match rollback {
            Ok(rollback) => rollback,
            Err(err) => return self.say(&format!("rollback failed: {err}")),
        };
        self.say(&format!(
            "rollback: waiting for {} ({}{})",
            rollback.deployment_id,
            short_task_definition(&rollback.task_definition),
            if rollback.stop_rollback {
                ", ECS rolling back on StopServiceDeployment"
            } else {
                ""
            }
        ));
        let (completed, _) = self.watch_rollback(&rollback).await;
        // Our rollback worked: the deploy ends rolled back (ECS's own already says so).
        if !matches!(outcome, Outcome::RolledBack { .. }) && completed {
            self.report.outcome = "rolled_back".into();
        }
    }

    /// Watches `rollback` to its outcome and records it in the report; whether it completed,
    /// and its outcome in words.
    pub async fn watch_rollback(&mut self, rollback: &StartedDeployment) -> (bool, String) {
        self.progress.set_ours(&rollback.deployment_id);
        let result = watch_to_outcome(
            &self.deployer,
            rollback.clone(),
            self.watch_options(),
            self.progress,
        )
        .await;
        let rolled_back = match &result {
            Ok(watched) => outcome_text(&watched.outcome),
            Err(err) => format!("watch failed: {err:#}"),
        };
        if let Ok(watched) = &result {
            self.report.timeline.extend(watched.timeline.clone());
        }
        self.report.rollback = Some(RollbackReport {
            deployment_id: Some(rollback.deployment_id.clone()),
            to: rollback.task_definition.clone(),
            outcome: rolled_back.clone(),
            old_build_answers: None,
        });
        (result.is_ok_and(|w| w.outcome.is_success()), rolled_back)
    }

    fn look_further(&self) -> String {
        let local = self.args.target.local;
        let mut hint = format!(
            "\n  look further: cargo xtask status{}",
            if local { " --local" } else { "" }
        );
        if local {
            hint.push_str(" ; cargo xtask local logs");
        } else {
            hint.push_str(&format!(
                " ; aws ecs describe-services --cluster {} --services {} ; the task logs in CloudWatch",
                self.target.cluster, self.target.service
            ));
        }
        hint
    }
}
