//! A service's deployment strategy as ECS runs it (`deploymentConfiguration.strategy`, since
//! 2025): rolling, or blue/green, linear and canary with their bake times, lifecycle hooks and
//! the listener rules ECS rewrites to move traffic. Read from a described service; what a
//! watch needs to know how long a deployment may rightly take and where it can be held.

use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::types::{
    DeploymentConfiguration, DeploymentLifecycleHookTargetType, DeploymentStrategy, Service,
};

/// ECS's default `linearConfiguration.stepPercent` (AWS's API reference).
pub const LINEAR_STEP_PERCENT: f64 = 10.0;
/// ECS's default `linearConfiguration.stepBakeTimeInMinutes`.
pub const LINEAR_STEP_BAKE_MINUTES: i32 = 6;
/// ECS's default `canaryConfiguration.canaryPercent`.
pub const CANARY_PERCENT: f64 = 5.0;
/// ECS's default `canaryConfiguration.canaryBakeTimeInMinutes`.
pub const CANARY_BAKE_MINUTES: i32 = 10;

/// How ECS replaces a service's tasks.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Tasks replaced in waves (`minimumHealthyPercent` / `maximumPercent`).
    Rolling,
    /// A full green fleet, then all production traffic at once.
    BlueGreen,
    /// Production traffic in equal steps with a bake after each but the last.
    Linear {
        /// Percent of production traffic each step moves.
        step_percent: f64,
        /// Minutes between steps.
        step_bake_minutes: i32,
    },
    /// A canary share of production traffic, a bake, then the rest.
    Canary {
        /// Percent of production traffic the canary gets.
        canary_percent: f64,
        /// Minutes the canary runs before the rest moves.
        canary_bake_minutes: i32,
    },
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Rolling => f.write_str("rolling"),
            Strategy::BlueGreen => f.write_str("blue/green"),
            Strategy::Linear {
                step_percent,
                step_bake_minutes,
            } => write!(f, "linear ({step_percent}% every {step_bake_minutes} min)"),
            Strategy::Canary {
                canary_percent,
                canary_bake_minutes,
            } => write!(
                f,
                "canary ({canary_percent}% for {canary_bake_minutes} min)"
            ),
        }
    }
}

/// A lifecycle hook of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// `PAUSE` or `AWS_LAMBDA`.
    pub target_type: String,
    /// The lifecycle stages it runs at (`POST_TEST_TRAFFIC_SHIFT`, …).
    pub stages: Vec<String>,
    /// `timeoutConfiguration.timeoutInMinutes`, when set.
    pub timeout_minutes: Option<i32>,
    /// `timeoutConfiguration.action` (`ROLLBACK` or `CONTINUE`), when set.
    pub timeout_action: Option<String>,
}

impl Hook {
    /// A PAUSE hook: it holds the deployment until someone continues or rolls it back.
    pub fn is_pause(&self) -> bool {
        self.target_type == DeploymentLifecycleHookTargetType::Pause.as_str()
    }
}

/// One load balancer's blue/green wiring (`loadBalancers[].advancedConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficRules {
    /// The primary target group (`loadBalancers[].targetGroupArn`).
    pub target_group: Option<String>,
    /// `alternateTargetGroupArn`.
    pub alternate_target_group: Option<String>,
    /// `productionListenerRule`: the rule (or listener) ECS rewrites for production traffic.
    pub production_rule: Option<String>,
    /// `testListenerRule`: where test traffic reaches the green revision first.
    pub test_rule: Option<String>,
}

/// What a service's deployment configuration says about how a deployment proceeds.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategySettings {
    /// The strategy.
    pub strategy: Strategy,
    /// `bakeTimeInMinutes`: how long blue is kept after production traffic moved (0 when
    /// unset).
    pub bake_minutes: i32,
    /// `lifecycleHooks`.
    pub hooks: Vec<Hook>,
    /// `loadBalancers[].advancedConfiguration`, one per load balancer that has it.
    pub rules: Vec<TrafficRules>,
}

impl StrategySettings {
    /// The settings of a described service (rolling when it names no strategy).
    pub fn of(service: &Service) -> StrategySettings {
        let config = service.deployment_configuration();
        StrategySettings {
            strategy: strategy_of(config),
            bake_minutes: config
                .and_then(|c| c.bake_time_in_minutes())
                .unwrap_or(0)
                .max(0),
            hooks: config
                .map(|c| c.lifecycle_hooks())
                .unwrap_or_default()
                .iter()
                .map(|h| Hook {
                    target_type: h
                        .target_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    stages: h
                        .lifecycle_stages()
                        .iter()
                        .map(|s| s.as_str().to_owned())
                        .collect(),
                    timeout_minutes: h
                        .timeout_configuration()
                        .and_then(|t| t.timeout_in_minutes()),
                    timeout_action: h
                        .timeout_configuration()
                        .and_then(|t| t.action())
                        .map(|a| a.as_str().to_owned()),
                })
                .collect(),
            rules: service
                .load_balancers()
                .iter()
                .filter_map(|lb| {
                    let advanced = lb.advanced_configuration()?;
                    Some(TrafficRules {
                        target_group: lb.target_group_arn().map(str::to_owned),
                        alternate_target_group: advanced
                            .alternate_target_group_arn()
                            .map(str::to_owned),
                        production_rule: advanced.production_listener_rule().map(str::to_owned),
                        test_rule: advanced.test_listener_rule().map(str::to_owned),
                    })
                })
                .collect(),
        }
    }

    /// Whether tasks are replaced in waves (no stages, no bake).
    pub fn is_rolling(&self) -> bool {
        self.strategy == Strategy::Rolling
    }

    /// The share of production traffic on green after each production shift, in percent:
    /// `[100]` for blue/green, `[10, 20, …, 100]` for linear at 10 %, `[5, 100]` for a 5 %
    /// canary; empty for rolling.
    pub fn production_steps(&self) -> Vec<f64> {
        match &self.strategy {
            Strategy::Rolling => Vec::new(),
            Strategy::BlueGreen => vec![100.0],
            Strategy::Linear { step_percent, .. } => {
                let step = step_percent.clamp(1.0, 100.0);
                let mut steps = Vec::new();
                let mut share = 0.0_f64;
                while share < 100.0 {
                    share = (share + step).min(100.0);
                    steps.push(share);
                }
                steps
            }
            Strategy::Canary { canary_percent, .. } => {
                let canary = canary_percent.clamp(0.0, 100.0);
                if canary >= 100.0 {
                    vec![100.0]
                } else {
                    vec![canary, 100.0]
                }
            }
        }
    }

    /// Minutes a deployment waits by design, whatever happens: the bakes between production
    /// steps and the bake time after the last. A deployment cannot succeed sooner.
    pub fn planned_wait_minutes(&self) -> i64 {
        let between_steps = self.production_steps().len().saturating_sub(1) as i64;
        if self.is_rolling() {
            return 0;
        }
        between_steps * i64::from(self.step_bake_minutes()) + i64::from(self.bake_minutes)
    }

    /// Minutes between two production shifts: linear's step bake, the canary's bake (0 for
    /// blue/green and rolling, which shift once or not at all).
    pub fn step_bake_minutes(&self) -> i32 {
        match &self.strategy {
            Strategy::Linear {
                step_bake_minutes, ..
            } => (*step_bake_minutes).max(0),
            Strategy::Canary {
                canary_bake_minutes,
                ..
            } => (*canary_bake_minutes).max(0),
            Strategy::Rolling | Strategy::BlueGreen => 0,
        }
    }

    /// Minutes PAUSE hooks may hold a deployment before their timeout acts (one wait per
    /// stage a hook runs at): the longest a deployment can rightly be held.
    pub fn pause_limit_minutes(&self) -> i64 {
        self.hooks
            .iter()
            .filter(|h| h.is_pause())
            .map(|h| i64::from(h.timeout_minutes.unwrap_or(0).max(0)) * h.stages.len() as i64)
            .sum()
    }

    /// How much longer than a rolling update a watch must be ready to wait, with a minute
    /// lasting `minute` (60 s on AWS; local-ecs can run minutes faster).
    pub fn extra_watch_time(&self, minute: Duration) -> Duration {
        let minutes = self.planned_wait_minutes() + self.pause_limit_minutes();
        minute.saturating_mul(u32::try_from(minutes.max(0)).unwrap_or(u32::MAX))
    }

    /// The PAUSE hook that holds the deployment after test traffic reached green (at
    /// `POST_TEST_TRAFFIC_SHIFT`), when the service also has a test listener rule: the place
    /// to verify green before production traffic moves.
    pub fn test_traffic_gate(&self) -> Option<&Hook> {
        if !self.rules.iter().any(|r| r.test_rule.is_some()) {
            return None;
        }
        self.hooks
            .iter()
            .find(|h| h.is_pause() && h.stages.iter().any(|s| s == "POST_TEST_TRAFFIC_SHIFT"))
    }

    /// The listener rules ECS rewrites (production first, then test), for reading weights.
    pub fn rule_arns(&self) -> Vec<String> {
        let mut arns: Vec<String> = self
            .rules
            .iter()
            .filter_map(|r| r.production_rule.clone())
            .collect();
        arns.extend(self.rules.iter().filter_map(|r| r.test_rule.clone()));
        arns.dedup();
        arns
    }
}

fn strategy_of(config: Option<&DeploymentConfiguration>) -> Strategy {
    let Some(config) = config else {
        return Strategy::Rolling;
    };
    match config.strategy() {
        Some(DeploymentStrategy::BlueGreen) => Strategy::BlueGreen,
        Some(DeploymentStrategy::Linear) => {
            let linear = config.linear_configuration();
            Strategy::Linear {
                step_percent: linear
                    .and_then(|l| l.step_percent())
                    .unwrap_or(LINEAR_STEP_PERCENT),
                step_bake_minutes: linear
                    .and_then(|l| l.step_bake_time_in_minutes())
                    .unwrap_or(LINEAR_STEP_BAKE_MINUTES),
            }
        }
        Some(DeploymentStrategy::Canary) => {
            let canary = config.canary_configuration();
            Strategy::Canary {
                canary_percent: canary
                    .and_then(|c| c.canary_percent())
                    .unwrap_or(CANARY_PERCENT),
                canary_bake_minutes: canary
                    .and_then(|c| c.canary_bake_time_in_minutes())
                    .unwrap_or(CANARY_BAKE_MINUTES),
            }
        }
        _ => Strategy::Rolling,
    }
}

mod update;
pub use update::{StrategyUpdate, TrafficWiring, missing_wiring};

#[cfg(test)]
mod tests;
