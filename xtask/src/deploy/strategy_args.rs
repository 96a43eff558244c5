//! The strategy flags of `cargo xtask deploy` (`--strategy`, its bake, step and canary
//! settings, `--verify-test-traffic`), checked by clap and [`StrategyArgs::strategy`] before
//! anything changes. What they do is `strategy.rs`'s.

use clap::{Args, ValueEnum};
use deploy_sdk::strategy::{
    CANARY_BAKE_MINUTES, CANARY_PERCENT, LINEAR_STEP_BAKE_MINUTES, LINEAR_STEP_PERCENT, Strategy,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyName {
    /// Tasks replaced in waves.
    Rolling,
    /// A full green fleet, then all production traffic at once.
    BlueGreen,
    /// Production traffic in equal steps with a bake after each.
    Linear,
    /// A canary share of production traffic, a bake, then the rest.
    Canary,
}

/// The strategy flags of `cargo xtask deploy`.
#[derive(Debug, Clone, Args, Default)]
pub struct StrategyArgs {
    /// Switch the service to this deployment strategy in this deploy's UpdateService (on AWS
    /// a non-rolling one needs the alternate target group, listener rules and role already in
    /// place; with --local they are created).
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub strategy: Option<StrategyName>,
    /// bakeTimeInMinutes (0 to 1440): how long blue is kept after production traffic moved.
    #[arg(long, value_name = "MIN", value_parser = clap::value_parser!(i32).range(0..=1440))]
    pub bake_minutes: Option<i32>,
    /// Linear: percent of production traffic each step moves (3 to 100).
    #[arg(long, value_name = "PERCENT", value_parser = step_percent)]
    pub step_percent: Option<f64>,
    /// Linear: minutes between steps (0 to 1440).
    #[arg(long, value_name = "MIN", value_parser = clap::value_parser!(i32).range(0..=1440))]
    pub step_bake_minutes: Option<i32>,
    /// Canary: percent of production traffic the canary gets (0.1 to 100).
    #[arg(long, value_name = "PERCENT", value_parser = canary_percent)]
    pub canary_percent: Option<f64>,
    /// Canary: minutes the canary runs before the rest moves (0 to 1440).
    #[arg(long, value_name = "MIN", value_parser = clap::value_parser!(i32).range(0..=1440))]
    pub canary_bake_minutes: Option<i32>,
    /// At POST_TEST_TRAFFIC_SHIFT, held by a PAUSE hook, verify the new build through the test
    /// listener, then continue the deployment, or roll it back before production sees it.
    /// Default: on when the service has a test listener rule and a PAUSE hook there.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub verify_test_traffic: Option<bool>,
}

fn percent(text: &str, low: f64) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    let tenths = value * 10.0;
    if !(low..=100.0).contains(&value) || (tenths - tenths.round()).abs() > 1e-9 {
        return Err(format!(
            "{text} is not a percentage from {low} to 100 in steps of 0.1"
        ));
    }
    Ok(value)
}

fn step_percent(text: &str) -> Result<f64, String> {
    percent(text, 3.0)
}

fn canary_percent(text: &str) -> Result<f64, String> {
    percent(text, 0.1)
}

impl StrategyArgs {
    /// The strategy asked for, with its settings; a usage error when a setting belongs to
    /// another strategy (or to none). `None` without `--strategy`.
    pub fn strategy(&self) -> Result<Option<Strategy>, String> {
        let linear = self.step_percent.is_some() || self.step_bake_minutes.is_some();
        let canary = self.canary_percent.is_some() || self.canary_bake_minutes.is_some();
        let Some(name) = self.strategy else {
            return match (linear, canary, self.bake_minutes.is_some()) {
                (false, false, false) => Ok(None),
                _ => Err("--bake-minutes, --step-* and --canary-* need --strategy".into()),
            };
        };
        if linear && name != StrategyName::Linear {
            return Err("--step-percent and --step-bake-minutes need --strategy linear".into());
        }
        if canary && name != StrategyName::Canary {
            return Err("--canary-percent and --canary-bake-minutes need --strategy canary".into());
        }
        Ok(Some(match name {
            StrategyName::Rolling if self.bake_minutes.is_some() => {
                return Err("--bake-minutes needs a blue-green, linear or canary strategy".into());
            }
            StrategyName::Rolling => Strategy::Rolling,
            StrategyName::BlueGreen => Strategy::BlueGreen,
            StrategyName::Linear => Strategy::Linear {
                step_percent: self.step_percent.unwrap_or(LINEAR_STEP_PERCENT),
                step_bake_minutes: self.step_bake_minutes.unwrap_or(LINEAR_STEP_BAKE_MINUTES),
            },
            StrategyName::Canary => Strategy::Canary {
                canary_percent: self.canary_percent.unwrap_or(CANARY_PERCENT),
                canary_bake_minutes: self.canary_bake_minutes.unwrap_or(CANARY_BAKE_MINUTES),
            },
        }))
    }
}
