//! The account of a deploy: filled in stage by stage, printed as JSON with `--output json`,
//! else summed up in a few lines.

use deploy_sdk::rollout::JudgedBy;
use deploy_sdk::service::short_task_definition;
use deploy_sdk::time_budget::{Cause, Prediction};
use deploy_sdk::verify::{TrafficReport, VerifyReport};
use serde::Serialize;

use crate::progress::Progress;
use crate::timeline::Timeline;
use crate::watch::Watched;

/// The machine-readable account of a deploy (`--output json`).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// deployed, unchanged, started, dry_run, failed, rolled_back, superseded, timed_out,
    /// verification_failed, error.
    pub outcome: String,
    pub exit_code: u8,
    pub cluster: String,
    pub service: String,
    pub build_id: Option<String>,
    /// The cargo profile that built the image (`local-deploy` for `--local`, else `release`).
    pub build_profile: Option<String>,
    pub image: Option<ImageReport>,
    pub old_task_definition: Option<String>,
    pub new_task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub registered_new_revision: bool,
    pub stages: Vec<Stage>,
    /// The deployment strategy the service rolled with (`rolling`, `blue/green`, …).
    pub strategy: Option<String>,
    /// Blue/green, linear, canary: each lifecycle stage the watch saw, in order.
    pub lifecycle_stages: Vec<LifecycleStageJson>,
    /// What the test-traffic gate did (null: no gate).
    pub test_traffic_gate: Option<GateJson>,
    pub reason: Option<String>,
    pub stopped_tasks: Vec<String>,
    pub last_events: Vec<String>,
    pub rollout: Option<RolloutJson>,
    /// The load balancer asked through the roll stage (null: not sampled, see
    /// `traffic_not_sampled`).
    pub traffic: Option<TrafficJson>,
    pub traffic_not_sampled: Option<String>,
    /// The roll's time budget: predicted before UpdateService, with what happened.
    pub budget: Option<BudgetJson>,
    pub rollback: Option<RollbackReport>,
    /// Another client's deployment that replaced ours (outcome `superseded`).
    pub superseded_by: Option<SupersededJson>,
    pub url: Option<String>,
    pub verify: Option<VerifyJson>,
    pub error: Option<String>,
    /// What the rollout's watch (and a rollback's after it) saw over time: tasks per
    /// deployment, target health, events, listener weights (the HTML report draws it).
    pub timeline: Timeline,
}

#[derive(Debug, Default, Serialize)]
pub struct ImageReport {
    pub uri: String,
    pub digest: Option<String>,
    pub size_bytes: Option<u64>,
    pub uploaded_blobs: usize,
    pub skipped_blobs: usize,
}

#[derive(Debug, Serialize)]
pub struct Stage {
    pub name: String,
    /// Seconds from the start of the deploy (the time axis of every series).
    pub started_at_seconds: f64,
    pub seconds: f64,
}

/// One lifecycle stage, on the deploy's time axis (seconds since it began).
#[derive(Debug, Serialize)]
pub struct LifecycleStageJson {
    pub name: String,
    pub started_at_seconds: f64,
    pub ended_at_seconds: f64,
}

impl LifecycleStageJson {
    /// The stages as first seen, each ending when the next began (the last at `end`).
    pub fn timeline(seen: &[(String, f64)], end: f64) -> Vec<LifecycleStageJson> {
        seen.iter()
            .enumerate()
            .map(|(i, (name, start))| LifecycleStageJson {
                name: name.clone(),
                started_at_seconds: *start,
                ended_at_seconds: seen.get(i + 1).map_or(end, |(_, next)| *next),
            })
            .collect()
    }
}

#[derive(Debug, Serialize)]
pub struct RolloutJson {
    pub describe_services_calls: u32,
    pub describes_per_minute: f64,
    pub watched_seconds: f64,
    /// From ECS's updatedAt of the deployment at its outcome to the watch seeing it.
    pub outcome_seen_after_seconds: Option<f64>,
    /// What the outcome was judged from: `service_deployments` (the ServiceDeployment API)
    /// or `deployment_table` (the deployments table, when that API could not be used).
    pub judged_by: &'static str,
    /// Why the table judged, when it did.
    pub judged_by_reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SupersededJson {
    pub deployment_id: String,
    pub task_definition: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub deployment_id: Option<String>,
    pub to: String,
    pub outcome: String,
    /// After a rollback from a build that failed verification: whether the build rolled back
    /// to was seen answering through the load balancer again (null: not checked).
    pub old_build_answers: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct VerifyJson {
    pub url: String,
    pub converged: bool,
    pub required: u32,
    pub new: u32,
    pub old: u32,
    pub errors: u32,
    pub first_new_after_seconds: Option<f64>,
    pub converged_after_seconds: Option<f64>,
    /// Per second: [new, old, errors].
    pub per_second: Vec<[u32; 3]>,
}

impl From<&VerifyReport> for VerifyJson {
    fn from(r: &VerifyReport) -> Self {
        VerifyJson {
            url: r.url.clone(),
            converged: r.converged,
            required: r.required,
            new: r.totals.new,
            old: r.totals.old,
            errors: r.totals.errors,
            first_new_after_seconds: r.first_new_after.map(|d| d.as_secs_f64()),
            converged_after_seconds: r.converged_after.map(|d| d.as_secs_f64()),
            per_second: r
                .per_second
                .iter()
                .map(|s| [s.new, s.old, s.errors])
                .collect(),
        }
    }
}

/// The roll's time budget (`deploy_sdk::time_budget`).
#[derive(Debug, Default, Serialize)]
pub struct BudgetJson {
    /// Seconds from UpdateService to the outcome seen (null: not predicted).
    pub predicted_seconds: Option<f64>,
    /// "about 5 min 40 s, 5 min of it the 300 s deregistration delay".
    pub summary: Option<String>,
    /// Why there is no prediction.
    pub not_predicted: Option<String>,
    pub waves: u32,
    pub settings: Option<BudgetSettingsJson>,
    /// Where the predicted time goes along the longest chain of waits, largest first.
    pub causes: Vec<CauseJson>,
    /// Milestones, each in seconds since UpdateService: predicted, and as the watch saw them.
    pub phases: Vec<PhaseJson>,
    /// The roll as the watch saw it, from UpdateService to the outcome.
    pub actual_seconds: Option<f64>,
    /// Seconds from the start of the deploy to the watch's start, the zero of `phases`'
    /// actual times.
    pub watch_started_at_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct BudgetSettingsJson {
    pub old_tasks: u32,
    pub desired: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub load_balanced: bool,
    pub health_check_interval_seconds: f64,
    pub healthy_threshold: u32,
    pub grace_period_seconds: f64,
    pub deregistration_delay_seconds: f64,
    pub stop_timeout_seconds: f64,
    /// Blue/green, linear, canary: production shifts and the bakes (in the service's
    /// minutes); null for rolling.
    pub staged: Option<StagedJson>,
}

#[derive(Debug, Serialize)]
pub struct StagedJson {
    pub shifts: u32,
    pub step_bake_minutes: u32,
    pub bake_minutes: u32,
}

#[derive(Debug, Serialize)]
pub struct CauseJson {
    /// task_start, health_checks, deregistration_delay, stopping, outcome_seen, step_bakes,
    /// bake_time.
    pub cause: &'static str,
    pub seconds: f64,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct PhaseJson {
    /// new tasks running, new tasks healthy, old tasks gone, completed.
    pub name: &'static str,
    pub predicted_seconds: f64,
    pub actual_seconds: Option<f64>,
}

impl BudgetJson {
    /// "predicted 4.2 s, took 5.0 s: new tasks running 0.5/0.9 s, …".
    pub fn comparison_line(&self) -> Option<String> {
        let predicted = self.predicted_seconds?;
        let took = self
            .actual_seconds
            .map_or("not completed".to_owned(), |a| format!("took {a:.1} s"));
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|p: &PhaseJson| {
                let actual = p
                    .actual_seconds
                    .map_or("-".to_owned(), |a| format!("{a:.1}"));
                format!("{} {:.1}/{actual} s", p.name, p.predicted_seconds)
            })
            .collect();
        Some(format!(
            "roll budget: predicted {predicted:.1} s, {took} (predicted/actual since UpdateService: {})",
            phases.join(", ")
        ))
    }

    pub fn of(p: &Prediction) -> BudgetJson {
        let s = &p.settings;
        BudgetJson {
            predicted_seconds: Some(p.total),
            summary: Some(p.to_string()),
            not_predicted: None,
            waves: p.waves,
            settings: Some(BudgetSettingsJson {
                old_tasks: s.old_tasks,
                desired: s.desired,
                minimum_healthy_percent: s.minimum_healthy_percent,
                maximum_percent: s.maximum_percent,
                load_balanced: s.load_balanced,
                health_check_interval_seconds: s.health_check_interval.as_secs_f64(),
                healthy_threshold: s.healthy_threshold,
                grace_period_seconds: s.grace_period.as_secs_f64(),
                deregistration_delay_seconds: s.deregistration_delay.as_secs_f64(),
                stop_timeout_seconds: s.stop_timeout.as_secs_f64(),
                staged: s.staged.as_ref().map(|st| StagedJson {
                    shifts: st.shifts,
                    step_bake_minutes: st.step_bake_minutes,
                    bake_minutes: st.bake_minutes,
                }),
            }),
            causes: p
                .causes
                .iter()
                .map(|(cause, seconds, reason)| CauseJson {
                    cause: cause_name(*cause),
                    seconds: *seconds,
                    reason: reason.clone(),
                })
                .collect(),
            phases: p
                .milestones
                .named()
                .iter()
                .map(|&(name, predicted_seconds)| PhaseJson {
                    name,
                    predicted_seconds,
                    actual_seconds: None,
                })
                .collect(),
            actual_seconds: None,
            watch_started_at_seconds: None,
        }
    }

    pub fn unpredicted(why: String) -> BudgetJson {
        BudgetJson {
            not_predicted: Some(why),
            ..BudgetJson::default()
        }
    }
}

fn cause_name(cause: Cause) -> &'static str {
    match cause {
        Cause::TaskStart => "task_start",
        Cause::HealthChecks => "health_checks",
        Cause::DeregistrationDelay => "deregistration_delay",
        Cause::Stopping => "stopping",
        Cause::OutcomeSeen => "outcome_seen",
        Cause::StepBakes => "step_bakes",
        Cause::BakeTime => "bake_time",
    }
}

/// Traffic through the roll stage.
#[derive(Debug, Serialize)]
pub struct TrafficJson {
    pub url: String,
    /// Seconds from the start of the deploy to the first request (the time axis of
    /// `per_second`).
    pub started_at_seconds: f64,
    pub seconds: f64,
    pub requests: u32,
    pub new: u32,
    pub old: u32,
    pub failed: u32,
    /// Failures by description.
    pub errors: std::collections::BTreeMap<String, u32>,
    /// Per second: [new, old, failed].
    pub per_second: Vec<[u32; 3]>,
}

impl TrafficJson {
    pub fn of(t: &TrafficReport, started_at_seconds: f64) -> TrafficJson {
        TrafficJson {
            url: t.url.clone(),
            started_at_seconds,
            seconds: t.elapsed.as_secs_f64(),
            requests: t.requests(),
            new: t.totals.new,
            old: t.totals.old,
            failed: t.totals.errors,
            errors: t.errors.clone(),
            per_second: t
                .per_second
                .iter()
                .map(|s| [s.new, s.old, s.errors])
                .collect(),
        }
    }
}

impl RolloutJson {
    /// The cost and promptness of a watch, when it counted its calls.
    pub fn of(watched: &Watched) -> Option<RolloutJson> {
        watched.stats.as_ref().map(|stats| {
            let (judged_by, judged_by_reason) = match &stats.judged_by {
                JudgedBy::ServiceDeployments => ("service_deployments", None),
                JudgedBy::DeploymentTable { why } => ("deployment_table", Some(why.clone())),
            };
            RolloutJson {
                describe_services_calls: stats.describe_services_calls,
                describes_per_minute: stats.describes_per_minute(),
                watched_seconds: stats.watched.as_secs_f64(),
                outcome_seen_after_seconds: watched.seen_after,
                judged_by,
                judged_by_reason,
            }
        })
    }
}

/// The summary lines after a text deploy: stage times, and where it is deployed.
pub fn print_summary(report: &Report, progress: &Progress) {
    let stages: Vec<String> = report
        .stages
        .iter()
        .map(|s| format!("{} {:.1}s", s.name, s.seconds))
        .collect();
    if !stages.is_empty() {
        progress.line(format!("stages: {}", stages.join(", ")));
    }
    if !report.lifecycle_stages.is_empty() {
        let spans: Vec<String> = report
            .lifecycle_stages
            .iter()
            .map(|s| {
                format!(
                    "{} {:.1}s",
                    s.name,
                    s.ended_at_seconds - s.started_at_seconds
                )
            })
            .collect();
        let strategy = report.strategy.as_deref().unwrap_or("?");
        progress.line(format!("lifecycle ({strategy}): {}", spans.join(", ")));
    }
    if let Some(gate) = &report.test_traffic_gate {
        progress.line(format!(
            "test-traffic gate: {} ({})",
            gate.result, gate.detail
        ));
    }
    if let Some(rollout) = &report.rollout {
        let reason = rollout
            .judged_by_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        progress.line(format!(
            "outcome judged by: {}{reason}",
            rollout.judged_by.replace('_', " ")
        ));
    }
    if let Some(line) = report.budget.as_ref().and_then(BudgetJson::comparison_line) {
        progress.line(line);
    }
    if report.outcome == "deployed" || report.outcome == "unchanged" {
        let td = report
            .new_task_definition
            .as_deref()
            .map(short_task_definition)
            .unwrap_or("?");
        let url = report
            .url
            .as_deref()
            .map(|u| format!(" at {u}"))
            .unwrap_or_default();
        progress.line(format!("deployed {td}{url}"));
    }
}

/// What the gate did (in the report as `test_traffic_gate`).
#[derive(Debug, Serialize)]
pub struct GateJson {
    /// `passed` (CONTINUE answered), `failed` (ROLLBACK answered), `error` (the gate could
    /// not verify or answer), `not_reached` (the deployment never paused there).
    pub result: &'static str,
    pub url: String,
    pub hook_id: Option<String>,
    /// Seconds since the deploy began.
    pub started_at_seconds: Option<f64>,
    pub seconds: Option<f64>,
    pub detail: String,
    pub verify: Option<VerifyJson>,
}

impl GateJson {
    pub fn passed(&self) -> bool {
        self.result == "passed"
    }
}

#[cfg(test)]
mod tests {
    use super::LifecycleStageJson;

    #[test]
    fn each_lifecycle_stage_ends_when_the_next_begins_and_the_last_at_the_outcome() {
        let seen = [("SCALE_UP".to_owned(), 3.0), ("CLEAN_UP".to_owned(), 7.5)];
        let timeline = LifecycleStageJson::timeline(&seen, 9.0);
        let spans: Vec<(&str, f64, f64)> = timeline
            .iter()
            .map(|s| (s.name.as_str(), s.started_at_seconds, s.ended_at_seconds))
            .collect();
        assert_eq!(spans, [("SCALE_UP", 3.0, 7.5), ("CLEAN_UP", 7.5, 9.0)]);
        assert!(LifecycleStageJson::timeline(&[], 9.0).is_empty());
    }
}
