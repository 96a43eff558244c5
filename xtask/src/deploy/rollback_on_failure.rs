//! When the rollout fails: the cause in the report, the service put back on the previous
//! task definition (unless `--rollback-on-failure false`, or the circuit breaker already
//! did), and the error to exit with — the cause, the stopped tasks, the last events, and
//! where to look further.

use deploy_sdk::rollout::Outcome;
use deploy_sdk::service::{StartedDeployment, short_task_definition};

use super::context::Deploy;
use super::report::RollbackReport;
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
            Outcome::TimedOut { .. } => ("timed_out", outcome_text(outcome), Vec::new()),
            Outcome::Completed { .. } => ("deployed", String::new(), Vec::new()),
        };
        self.report.outcome = kind.into();
        self.report.reason = Some(reason);
        self.report.stopped_tasks = stopped.iter().map(ToString::to_string).collect();
    }

    /// Puts the previous task definition back — or, when the circuit breaker is already
    /// rolling back, waits for its deployment — and records how that went.
    async fn roll_back(&mut self, started: &StartedDeployment, outcome: &Outcome) {
        let rollback = match outcome {
            Outcome::RolledBack {
                by: Some(by), to, ..
            } => Ok(StartedDeployment {
                deployment_id: by.clone(),
                task_definition: to.clone(),
                previous_task_definition: Some(started.task_definition.clone()),
                is_new: false,
                ..started.clone()
            }),
            Outcome::RolledBack { .. } => Err(None),
            _ if started.previous_task_definition.is_some() => {
                self.deployer.rollback(started).await.map_err(Some)
            }
            _ => Err(None),
        };
        let rollback = match rollback {
            Ok(rollback) => rollback,
            Err(Some(err)) => return self.say(&format!("rollback failed: {err}")),
            Err(None) => return,
        };
        self.say(&format!(
            "rollback: waiting for {} ({})",
            rollback.deployment_id,
            short_task_definition(&rollback.task_definition)
        ));
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
        self.report.rollback = Some(RollbackReport {
            deployment_id: Some(rollback.deployment_id.clone()),
            to: rollback.task_definition.clone(),
            outcome: rolled_back,
        });
        // Our rollback worked: the deploy ends rolled back (the circuit breaker's already says so).
        if !matches!(outcome, Outcome::RolledBack { .. })
            && result.as_ref().is_ok_and(|w| w.outcome.is_success())
        {
            self.report.outcome = "rolled_back".into();
        }
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
