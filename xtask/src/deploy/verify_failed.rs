//! When verification fails: the rollout completed but the load balancer does not serve the
//! new build. Like a failed rollout, the service goes back to the last task definition that
//! COMPLETED (unless `--rollback-on-failure false`, or the service already ran this revision
//! before the deploy); then the old build is proven to answer again the way the new one was
//! asked: answers in a row from any build but the failed one, and target health showing only
//! the rollback's targets in service. The deploy still exits 3, saying what it rolled back to.

use std::time::Duration;

use deploy_sdk::service::{StartedDeployment, short_task_definition};
use deploy_sdk::verify::VerifyOptions;

use super::context::Deploy;
use super::verify::{Probe, per_second};
use crate::failure::{Failure, VERIFY};

/// The least time the old build gets to be seen answering after a rollback.
const OLD_BUILD_PROOF_TIMEOUT: Duration = Duration::from_secs(30);

impl Deploy<'_> {
    /// Rolls back after `failure` (verification did not converge) when it should, and
    /// returns the error to exit with: `failure`, and what became of the service.
    pub async fn roll_back_unverified(
        &mut self,
        started: &StartedDeployment,
        failure: anyhow::Error,
        probe: &Probe,
    ) -> anyhow::Error {
        let ours = short_task_definition(&started.task_definition).to_owned();
        let after = if !self.args.rollback_on_failure {
            format!("{ours} stays in service (--rollback-on-failure false)")
        } else if !started.is_new {
            format!(
                "{ours} stays in service: the service already ran it before this deploy, so \
                 there is nothing to roll back to"
            )
        } else {
            self.roll_back_and_prove(started, probe).await
        };
        let message = format!("{failure:#}\n  {after}");
        Failure {
            code: VERIFY,
            message,
        }
        .into()
    }

    /// The rollback and the proof that the old build answers; what happened, in a sentence.
    async fn roll_back_and_prove(&mut self, started: &StartedDeployment, probe: &Probe) -> String {
        let clock = self.stage("rollback", "the new build failed verification");
        let rollback = match self.deployer.rollback(started).await {
            Ok(rollback) => rollback,
            Err(err) => {
                let what = format!("rollback failed to start: {err}; the new build still serves");
                self.stage_done(clock, &what);
                return what;
            }
        };
        let to = short_task_definition(&rollback.task_definition).to_owned();
        self.say(&format!(
            "rollback: waiting for {} ({to})",
            rollback.deployment_id
        ));
        let (done, rolled_back) = self.watch_rollback(&rollback).await;
        self.stage_done(clock, &rolled_back);
        if !done {
            return format!("rollback to {to} did not complete: {rolled_back}");
        }
        let answers = self.old_build_answers(&rollback, probe).await;
        if let Some(report) = &mut self.report.rollback {
            report.old_build_answers = Some(answers.is_ok());
        }
        match answers {
            Ok(proof) => format!("rolled back to {to}; the old build answers again: {proof}"),
            Err(why) => {
                format!("rolled back to {to}, but the old build was not seen answering: {why}")
            }
        }
    }

    /// Asks the verify URL again until the rollback's build answers in a row and only its
    /// targets are in service; the proof in words, or why it failed.
    async fn old_build_answers(
        &mut self,
        rollback: &StartedDeployment,
        probe: &Probe,
    ) -> Result<String, String> {
        let clock = self.stage(
            "verify-rollback",
            &format!(
                "GET {} until the new build no longer answers and only the rollback's targets are in service",
                probe.url
            ),
        );
        let expect = probe.expect.clone().unlike();
        // A short --verify-timeout fails a bad build fast; the proof that the old build is
        // back gets at least OLD_BUILD_PROOF_TIMEOUT.
        let options = VerifyOptions {
            timeout: probe.options.timeout.max(OLD_BUILD_PROOF_TIMEOUT),
            ..probe.options.clone()
        };
        let proved = self
            .prove(&probe.url, &expect, &options, &rollback.deployment_id)
            .await;
        let (detail, result) = match proved {
            Ok(report) if report.converged => {
                let proof = format!(
                    "{} answers in a row from a build other than the failed one, no target of it in service",
                    report.longest_streak
                );
                self.say(&format!(
                    "verify-rollback: per second old/new/errors: {}",
                    per_second(&report)
                ));
                (proof.clone(), Ok(proof))
            }
            Ok(report) => {
                let why = report.to_string();
                (why.clone(), Err(why))
            }
            Err(err) => {
                let why = format!("{err:#}");
                (why.clone(), Err(why))
            }
        };
        self.stage_done(clock, &detail);
        result
    }
}
