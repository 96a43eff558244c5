//! `--strategy` and its settings: the deployment strategy this deploy switches the service
//! to, checked before anything changes, and (in the preflight) the UpdateService settings
//! that switch it — with `--local`, after bootstrapping the wiring a non-rolling strategy
//! needs; on AWS, refused when that wiring is missing.

use anyhow::Result;
use aws_sdk_ecs::types::Service;
use deploy_sdk::strategy::{Strategy, StrategySettings, StrategyUpdate, missing_wiring};
use local_stack::Stack;

use super::context::Deploy;
#[cfg(test)]
use super::strategy_args::StrategyArgs;
use crate::bootstrap_strategy;
use crate::failure::Failure;

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
