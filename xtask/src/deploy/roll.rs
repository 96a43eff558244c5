//! Stage 4, roll: the new revision and the deployment that puts it in place (the service
//! itself on a first local deploy), recorded for `cargo xtask rollback`, then watched to its
//! outcome.

use anyhow::{Context, Result};
use deploy_sdk::rollout::Outcome;
use deploy_sdk::service::{StartedDeployment, short_task_definition};
use deploy_sdk::strategy::{Strategy, StrategySettings};
use deploy_sdk::verify::sample_traffic;

use super::context::{Deploy, ImageToDeploy};
use super::plan::Found;
use super::report::{LifecycleStageJson, RolloutJson};
use crate::watch::watch_with_stages;
use crate::{bootstrap, last_deploy};

impl Deploy<'_> {
    /// Registers the revision and starts its deployment, or creates the service when the
    /// preflight found none.
    pub async fn start_deployment(
        &mut self,
        found: Found,
        image: &ImageToDeploy,
    ) -> Result<StartedDeployment> {
        let started = match found {
            Found::Missing(stack) => {
                let stack = stack.context("the local stack was not bootstrapped")?;
                self.say("roll budget: not predicted (the service is created by this deploy)");
                let started = bootstrap::create_service(
                    &self.clients,
                    self.settings,
                    &stack,
                    &image.uri,
                    &self.env,
                    self.args.desired_count,
                )
                .await?;
                if let Some(state_dir) = &self.settings.local {
                    bootstrap::mark_bootstrapped(state_dir, self.settings);
                }
                self.report.registered_new_revision = true;
                self.report.strategy = Some(Strategy::Rolling.to_string());
                started
            }
            Found::Service(prepared) => {
                let (prepared, request) = self.plan(*prepared, image)?;
                self.report.registered_new_revision = prepared.registers;
                let strategy = match &self.strategy_update {
                    Some(update) => update.strategy.clone(),
                    None => StrategySettings::of(&prepared.service).strategy,
                };
                self.report.strategy = Some(strategy.to_string());
                if !prepared.updates {
                    self.say(
                        "nothing to change: the service already runs this image and environment",
                    );
                } else {
                    self.predict_roll(&prepared).await;
                }
                self.deployer.start(&prepared, &request).await?
            }
        };
        self.report.new_task_definition = Some(started.task_definition.clone());
        self.report.deployment_id = Some(started.deployment_id.clone());
        last_deploy::record(self.settings, &started);
        self.progress.set_ours(&started.deployment_id);
        self.say(&format!(
            "deployment {} of {}{}",
            started.deployment_id,
            short_task_definition(&started.task_definition),
            if started.is_new {
                ""
            } else {
                " (already in place)"
            }
        ));
        Ok(started)
    }

    /// Watches our deployment to its outcome while traffic through the load balancer is
    /// sampled; the last events, the watch's cost and the traffic go in the report.
    pub async fn watch_rollout(
        &mut self,
        started: &StartedDeployment,
        image: &ImageToDeploy,
    ) -> Result<Outcome> {
        let plan = self.traffic_plan(image);
        let gate = self.gate_plan(started, image).await?;
        if gate.is_some() {
            self.say("test-traffic gate: on — the new build is verified through the test listener before production traffic moves");
        }
        let rolling_from = self.progress.elapsed().as_secs_f64();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (stage_tx, stage_rx) = tokio::sync::mpsc::unbounded_channel();
        let watching = async {
            let watched = watch_with_stages(
                &self.deployer,
                started.clone(),
                self.watch_options(),
                self.progress,
                Some(stage_tx),
            )
            .await;
            let _ = stop.send(());
            watched
        };
        let gating = self.run_gate(gate, stage_rx);
        let sampling = async {
            match &plan {
                Ok(p) => Ok(sample_traffic(&p.url, &p.expect, &p.options, async {
                    let _ = stopped.await;
                })
                .await),
                Err(why) => Err(why.clone()),
            }
        };
        let (watched, traffic, gated) = tokio::join!(watching, sampling, gating);
        self.record_traffic(traffic, rolling_from);
        self.report.test_traffic_gate = gated;
        let watched = watched?;
        self.report.lifecycle_stages =
            LifecycleStageJson::timeline(&watched.stages, self.progress.elapsed().as_secs_f64());
        self.record_actuals(&watched.milestones, rolling_from);
        let from = watched.messages.len().saturating_sub(10);
        self.report.last_events = watched.messages[from..].to_vec();
        self.report.rollout = RolloutJson::of(&watched);
        self.report.timeline.extend(watched.timeline);
        Ok(watched.outcome)
    }
}
