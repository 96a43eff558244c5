//! Settings that would cut a roll's time, each with what it costs: every candidate is
//! predicted, and only those that save time are kept.

use std::time::Duration;

use super::{Estimates, RollSettings, StagedShift, predict};

/// One change of settings and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The change, e.g. "deregistration delay 300 s → 10 s".
    pub change: String,
    /// Where to make it.
    pub how: &'static str,
    /// Seconds of roll saved.
    pub saves: f64,
    /// The roll's predicted time with it.
    pub predicted: f64,
    /// What it costs.
    pub trade_off: &'static str,
}

/// Candidate changes, best first; those that save under a second (or 5 %) are left out.
pub fn suggest(settings: &RollSettings, estimates: &Estimates) -> Vec<Suggestion> {
    let Ok(now) = predict(settings, estimates) else {
        return Vec::new();
    };
    let mut found: Vec<Suggestion> = candidates(settings)
        .into_iter()
        .filter_map(|(change, how, changed, trade_off)| {
            let with = predict(&changed, estimates).ok()?;
            let saves = now.total - with.total;
            (saves >= 1.0_f64.max(now.total * 0.05)).then_some(Suggestion {
                change,
                how,
                saves,
                predicted: with.total,
                trade_off,
            })
        })
        .collect();
    found.sort_by(|a, b| b.saves.total_cmp(&a.saves));
    found
}

type Candidate = (String, &'static str, RollSettings, &'static str);

fn candidates(s: &RollSettings) -> Vec<Candidate> {
    let mut out = Vec::new();
    let short_delay = Duration::from_secs(10);
    if s.load_balanced && s.deregistration_delay > short_delay {
        out.push((
            format!(
                "deregistration delay {} s → 10 s",
                s.deregistration_delay.as_secs()
            ),
            "target group attribute deregistration_delay.timeout_seconds",
            RollSettings {
                deregistration_delay: short_delay,
                ..s.clone()
            },
            "a request still running on an old task 10 s after it left the load balancer is cut: keep the delay above your longest request, and let the application finish in-flight requests on SIGTERM",
        ));
    }
    if s.maximum_percent < 200 {
        out.push((
            format!("maximumPercent {} → 200", s.maximum_percent),
            "service deploymentConfiguration.maximumPercent",
            RollSettings {
                maximum_percent: 200,
                ..s.clone()
            },
            "up to twice the tasks run during the roll: the cluster (or the Fargate bill) must hold them",
        ));
    }
    if s.minimum_healthy_percent > 50 {
        out.push((
            format!("minimumHealthyPercent {} → 50", s.minimum_healthy_percent),
            "service deploymentConfiguration.minimumHealthyPercent",
            RollSettings {
                minimum_healthy_percent: 50,
                ..s.clone()
            },
            "only half the tasks may serve during the roll: fine with capacity to spare, not at peak load",
        ));
    }
    if let Some(staged) = &s.staged {
        out.extend(staged_candidates(s, staged));
    }
    let min_interval = Duration::from_secs(5);
    if s.load_balanced && s.health_check_interval > min_interval {
        out.push((
            format!(
                "health check interval {} s → 5 s",
                s.health_check_interval.as_secs()
            ),
            "target group HealthCheckIntervalSeconds",
            RollSettings {
                health_check_interval: min_interval,
                ..s.clone()
            },
            "more health-check requests (one per target every 5 s from each load balancer node)",
        ));
    }
    if s.load_balanced && s.healthy_threshold > 2 {
        out.push((
            format!("healthy threshold {} → 2", s.healthy_threshold),
            "target group HealthyThresholdCount",
            RollSettings {
                healthy_threshold: 2,
                ..s.clone()
            },
            "a target gets traffic after 2 passing checks: one that passes and then fails is trusted sooner",
        ));
    }
    out
}

/// Blue/green, linear, canary: shorter bakes (maximumPercent and minimumHealthyPercent do not
/// bound a staged shift, so the candidates above save nothing there and are left out).
fn staged_candidates(s: &RollSettings, staged: &StagedShift) -> Vec<Candidate> {
    let with = |changed: StagedShift| RollSettings {
        staged: Some(changed),
        ..s.clone()
    };
    let mut out = Vec::new();
    if staged.bake_minutes > 0 {
        out.push((
            format!("bakeTimeInMinutes {} → 0", staged.bake_minutes),
            "service deploymentConfiguration.bakeTimeInMinutes",
            with(StagedShift {
                bake_minutes: 0,
                ..staged.clone()
            }),
            "blue stops as soon as production traffic is on green: no instant rollback to blue after the last shift (a rollback then has to start blue's tasks again)",
        ));
    }
    if staged.shifts > 1 && staged.step_bake_minutes > 1 {
        out.push((
            format!("bake between shifts {} min → 1 min", staged.step_bake_minutes),
            "service deploymentConfiguration.linearConfiguration.stepBakeTimeInMinutes / canaryConfiguration.canaryBakeTimeInMinutes",
            with(StagedShift {
                step_bake_minutes: 1,
                ..staged.clone()
            }),
            "alarms get a minute to catch a bad step before more production traffic moves to it",
        ));
    }
    out
}
