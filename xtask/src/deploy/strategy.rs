//! `--strategy` and its settings: the deployment strategy this deploy switches the service
//! to, checked before anything changes, and (in the preflight) the UpdateService settings
//! that switch it — with `--local`, after bootstrapping the wiring a non-rolling strategy
//! needs; on AWS, refused when that wiring is missing.

use anyhow::Result;
use aws_sdk_ecs::types::Service;
use clap::{Args, ValueEnum};
use deploy_sdk::strategy::{Strategy, StrategySettings, StrategyUpdate, missing_wiring};
use local_stack::Stack;

use super::context::Deploy;
use crate::bootstrap_strategy;
use crate::failure::Failure;

/// ECS's defaults (its API reference) when a flag does not say.
const LINEAR_STEP_PERCENT: f64 = 10.0;
const LINEAR_STEP_BAKE_MINUTES: i32 = 6;
const CANARY_PERCENT: f64 = 5.0;
const CANARY_BAKE_MINUTES: i32 = 10;

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

impl Deploy<'_> {
    /// The UpdateService settings that switch `service` to the `--strategy` asked for:
    /// with `--local` (and a `stack`), the wiring and gate hook are bootstrapped when the
    /// service lacks them; on AWS a non-rolling strategy without wiring is a usage error.
    pub async fn strategy_update(
        &self,
        service: &Service,
        stack: Option<&Stack>,
    ) -> Result<Option<StrategyUpdate>> {
        let Some(strategy) = self.args.strategy.strategy().map_err(Failure::usage)? else {
            return Ok(None);
        };
        let mut update = StrategyUpdate {
            strategy,
            bake_minutes: self.args.strategy.bake_minutes,
            hooks: None,
            wiring: None,
        };
        if update.strategy == Strategy::Rolling {
            return Ok(Some(update));
        }
        let missing = missing_wiring(service, &update.strategy);
        match (missing, stack) {
            (None, _) => {}
            (Some(_), Some(stack)) => {
                let say = |line: &str| self.say(line);
                update.wiring = Some(
                    bootstrap_strategy::ensure_wiring(&self.clients, self.settings, stack, &say)
                        .await?,
                );
            }
            // A local dry run bootstraps nothing: say what the deploy would make.
            (Some(_), None) if self.settings.local.is_some() => self.say(
                "dry run: would create the alternate target group, the test listener and a PAUSE hook at POST_TEST_TRAFFIC_SHIFT",
            ),
            (Some(why), None) => {
                return Err(Failure::usage(format!(
                    "cannot switch {} to {}: {why}",
                    self.target, update.strategy
                ))
                .into());
            }
        }
        if stack.is_some() && StrategySettings::of(service).hooks.is_empty() {
            update.hooks = Some(vec![bootstrap_strategy::gate_hook()]);
        }
        Ok(Some(update))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        strategy: StrategyArgs,
    }

    fn parse(args: &[&str]) -> Result<Option<Strategy>, String> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.strategy.strategy()
    }

    #[test]
    fn strategies_and_their_settings() {
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(
            parse(&["--strategy", "rolling"]),
            Ok(Some(Strategy::Rolling))
        );
        assert_eq!(
            parse(&["--strategy", "blue-green", "--bake-minutes", "2"]),
            Ok(Some(Strategy::BlueGreen))
        );
        assert_eq!(
            parse(&["--strategy", "linear", "--step-percent", "25"]),
            Ok(Some(Strategy::Linear {
                step_percent: 25.0,
                step_bake_minutes: 6
            }))
        );
        assert_eq!(
            parse(&[
                "--strategy",
                "canary",
                "--canary-percent",
                "12.5",
                "--canary-bake-minutes",
                "1"
            ]),
            Ok(Some(Strategy::Canary {
                canary_percent: 12.5,
                canary_bake_minutes: 1
            }))
        );
    }

    #[test]
    fn settings_of_another_strategy_or_out_of_range_are_refused() {
        for (args, says) in [
            (
                &["--strategy", "canary", "--step-percent", "10"][..],
                "--strategy linear",
            ),
            (
                &["--strategy", "linear", "--canary-percent", "10"],
                "--strategy canary",
            ),
            (&["--bake-minutes", "3"], "need --strategy"),
            (
                &["--strategy", "rolling", "--bake-minutes", "3"],
                "blue-green",
            ),
            (
                &["--strategy", "linear", "--step-percent", "2"],
                "from 3 to 100",
            ),
            (
                &["--strategy", "canary", "--canary-percent", "5.55"],
                "steps of 0.1",
            ),
            (
                &["--strategy", "canary", "--canary-percent", "x"],
                "not a number",
            ),
            (
                &["--strategy", "blue-green", "--bake-minutes", "1441"],
                "1441",
            ),
            (&["--strategy", "purple"], "purple"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }
}
