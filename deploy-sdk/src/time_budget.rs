//! A rolling update's time budget: how long the roll will take, predicted from the service's
//! and target group's settings before it starts, and where the time goes ("about 5 min 40 s,
//! 5 min of it the 300 s deregistration delay").
//!
//! - [`predict`]: a pure function of [`RollSettings`] and [`Estimates`] (what the settings do
//!   not say: task start, exit on SIGTERM), giving a [`Prediction`] with milestones.
//! - [`read_settings`]: the settings of a described service (one DescribeTargetGroups and a
//!   DescribeTargetGroupAttributes per target group).
//! - [`suggest`]: changes of settings that would cut the time, each with its trade-off.
//! - [`ActualMilestones`]: the same milestones read from a watch's events, to set the
//!   prediction against what happened.
//!
//! The model follows `docs/ecs-behaviour.md`: at most floor(desired × max / 100) tasks run
//! (draining ones count), old tasks stop only down to ceil(desired × min / 100) healthy
//! tasks, a new task is healthy after `HealthyThresholdCount` passing checks, and an old one
//! is gone after the deregistration delay and its exit on SIGTERM. Blue/green, linear and
//! canary deployments ([`StagedShift`]) start every green task at once, bake between
//! production shifts and after the last, then drain and stop blue; the time a PAUSE hook holds
//! them is not predicted.

mod actual;
mod model;
mod read;
mod suggest;

pub use actual::ActualMilestones;
pub use model::{
    Cause, Estimates, Milestones, Prediction, RollSettings, StagedShift, Unpredictable, predict,
    secs,
};
pub use read::{read_settings, service_settings, staged_shift};
pub use suggest::{Suggestion, suggest};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn local(desired: u32, min: u32, max: u32, delay: u64) -> RollSettings {
        RollSettings {
            old_tasks: desired,
            desired,
            minimum_healthy_percent: min,
            maximum_percent: max,
            health_check_interval: Duration::from_secs(1),
            healthy_threshold: 2,
            grace_period: Duration::from_secs(5),
            deregistration_delay: Duration::from_secs(delay),
            stop_timeout: Duration::from_secs(30),
            ..RollSettings::default()
        }
    }

    /// Round numbers: task start 10 s, SIGTERM exit 2 s, outcome seen 1 s, checks one
    /// interval after registration.
    fn round() -> Estimates {
        Estimates {
            task_start: Duration::from_secs(10),
            first_check_at_once: false,
            exit_on_sigterm: Duration::from_secs(2),
            outcome_seen: Duration::from_secs(1),
            minute: Duration::from_secs(60),
        }
    }

    #[test]
    fn waves_and_totals_follow_the_percentages() {
        // (desired, min, max, delay) → (waves, total, milestones running/healthy/gone).
        // One wave: start 10 + checks 2×1 = 12 healthy; then drain d + exit 2; then seen 1.
        let table = [
            ((2, 100, 200, 1), (1, 16.0, [10.0, 12.0, 15.0])),
            ((2, 100, 200, 5), (1, 20.0, [10.0, 12.0, 19.0])),
            ((4, 100, 200, 5), (1, 20.0, [10.0, 12.0, 19.0])),
            // 50/100: half the old tasks stop first (drain 5 + exit 2 = 7), then half the new
            // start (7 + 12 = 19 healthy) and the other old half stops (19 + 7 = 26) while
            // the second new half starts (26 + 12 = 38).
            ((4, 50, 100, 5), (2, 39.0, [36.0, 38.0, 26.0])),
            ((2, 50, 100, 1), (2, 31.0, [28.0, 30.0, 18.0])),
            // 100/150 with 2: floor(3) allows one extra task at a time.
            ((2, 100, 150, 1), (2, 31.0, [25.0, 27.0, 30.0])),
        ];
        for ((desired, min, max, delay), (waves, total, [running, healthy, gone])) in table {
            let p = predict(&local(desired, min, max, delay), &round()).unwrap();
            let at = (desired, min, max, delay);
            assert_eq!(p.waves, waves, "{at:?}");
            assert_eq!(p.total, total, "{at:?}");
            assert_eq!(p.milestones.new_running, running, "{at:?}");
            assert_eq!(p.milestones.new_healthy, healthy, "{at:?}");
            assert_eq!(p.milestones.old_gone, gone, "{at:?}");
            let along: f64 = p.causes.iter().map(|(_, s, _)| s).sum();
            assert_eq!(along, p.total, "the causes add up along the chain: {at:?}");
        }
    }

    fn staged(shifts: u32, step_bake: u32, bake: u32) -> RollSettings {
        RollSettings {
            // maximumPercent does not bound a green fleet: it starts whole.
            maximum_percent: 100,
            staged: Some(StagedShift {
                shifts,
                step_bake_minutes: step_bake,
                bake_minutes: bake,
            }),
            ..local(4, 100, 100, 5)
        }
    }

    #[test]
    fn staged_shifts_wait_for_their_bakes_then_drain_blue() {
        // Green healthy at 10 + 2 = 12; bakes; blue drains 5 + exits 2; seen 1.
        let table = [
            // (strategy, shifts, step bake min, bake min) → total, biggest cause
            (("blue/green", 1, 0, 0), 20.0, Cause::TaskStart),
            (("blue/green", 1, 0, 2), 140.0, Cause::BakeTime),
            // A canary baking 8 min, then 1 min bake time.
            (("canary", 2, 8, 1), 560.0, Cause::StepBakes),
            // Linear 20 %: 5 shifts, 4 bakes of 3 min between them, no bake time.
            (("linear", 5, 3, 0), 740.0, Cause::StepBakes),
        ];
        for ((name, shifts, step_bake, bake), total, biggest) in table {
            let p = predict(&staged(shifts, step_bake, bake), &round()).unwrap();
            assert_eq!(p.total, total, "{name}");
            assert_eq!(p.waves, 1, "{name}");
            assert_eq!(p.causes[0].0, biggest, "{name}: {:?}", p.causes);
            assert_eq!(p.milestones.new_healthy, 12.0, "{name}");
            assert_eq!(p.milestones.old_gone, total - 1.0, "{name}");
            let along: f64 = p.causes.iter().map(|(_, s, _)| s).sum();
            assert_eq!(along, p.total, "{name}");
        }
        let canary = predict(&staged(2, 8, 1), &round()).unwrap();
        assert_eq!(
            canary.to_string(),
            "about 9 min 20 s, 8 min of it 1 bake of 8 min between production traffic shifts"
        );
        // local-ecs's minutes last a second each.
        let local_canary = predict(
            &staged(2, 8, 1),
            &Estimates {
                minute: Duration::from_secs(1),
                ..round()
            },
        )
        .unwrap();
        assert_eq!(local_canary.total, 20.0 + 9.0);
        let changes: Vec<String> = suggest(&staged(2, 8, 1), &round())
            .into_iter()
            .map(|s| s.change)
            .collect();
        assert_eq!(
            changes,
            [
                "bake between shifts 8 min → 1 min",
                "bakeTimeInMinutes 1 → 0"
            ]
        );
    }

    #[test]
    fn the_default_delay_dominates_and_says_so() {
        let p = predict(&RollSettings::default(), &Estimates::aws()).unwrap();
        // 40 s start + 5 × 30 s checks + 300 s delay + 1 s exit + 5 s seen.
        assert_eq!(p.total, 496.0);
        assert_eq!(p.causes[0].0, Cause::DeregistrationDelay);
        assert_eq!(
            p.to_string(),
            "about 8 min 16 s, 5 min of it the 300 s deregistration delay"
        );
    }

    #[test]
    fn local_checks_start_at_registration() {
        let p = predict(&local(2, 100, 200, 1), &Estimates::local()).unwrap();
        // 0.3 start + 1 × 1 s check + 1 s delay + 0.4 exit + 0.8 seen.
        assert!((p.total - 3.5).abs() < 1e-9, "{}", p.total);
    }

    #[test]
    fn without_a_load_balancer_nothing_is_checked_or_drained() {
        let s = RollSettings {
            load_balanced: false,
            ..RollSettings::default()
        };
        let p = predict(&s, &round()).unwrap();
        assert_eq!(p.total, 13.0);
        assert!(
            p.causes
                .iter()
                .all(|(c, _, _)| !matches!(c, Cause::HealthChecks | Cause::DeregistrationDelay))
        );
    }

    #[test]
    fn bounds_that_allow_nothing_stall() {
        let stuck = local(3, 100, 125, 1);
        assert_eq!(
            predict(&stuck, &round()),
            Err(Unpredictable::Stalls {
                desired: 3,
                min: 100,
                max: 125
            })
        );
        // From zero tasks the same bounds let all three start.
        let grow = RollSettings {
            old_tasks: 0,
            ..stuck
        };
        assert!(predict(&grow, &round()).is_ok());
    }

    #[test]
    fn suggestions_save_time_and_name_their_cost() {
        let s = RollSettings {
            maximum_percent: 100,
            minimum_healthy_percent: 50,
            ..RollSettings::default()
        };
        let found = suggest(&s, &Estimates::aws());
        let changes: Vec<&str> = found.iter().map(|s| s.change.as_str()).collect();
        assert_eq!(changes[0], "deregistration delay 300 s → 10 s");
        assert!(changes.contains(&"maximumPercent 100 → 200"), "{changes:?}");
        assert!(
            !changes
                .iter()
                .any(|c| c.starts_with("minimumHealthyPercent"))
        );
        let now = predict(&s, &Estimates::aws()).unwrap().total;
        for suggestion in &found {
            assert!(suggestion.saves >= 1.0);
            assert!((suggestion.predicted - (now - suggestion.saves)).abs() < 1e-9);
            assert!(!suggestion.trade_off.is_empty());
        }
        // Already fast: nothing worth suggesting.
        assert!(suggest(&local(2, 100, 200, 1), &Estimates::local()).is_empty());
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let table = [
            (340.0, "5 min 40 s"),
            (300.0, "5 min"),
            (59.6, "60 s"),
            (12.0, "12 s"),
            (4.0, "4 s"),
            (1.5, "1.5 s"),
        ];
        for (seconds, text) in table {
            assert_eq!(secs(seconds), text);
        }
    }
}
