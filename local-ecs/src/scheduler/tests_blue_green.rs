//! The lifecycle-stage rules of blue/green, linear and canary deployments as a table (a
//! child of `tests`, with its views and helpers): NEW is green (its tasks in the alternate
//! target group ALT), OLD is blue (in TG, carrying production).

use std::time::Duration;

use super::super::action::{Action, Failure, Plan};
use super::super::plan::plan;
use super::super::view::View;
use super::{NEW, OLD, TG, expect, now, seen, service, stopped_of, task, tasks, view};
use crate::state::{
    AdvancedConfig, BlueGreenRun, HookAction, HookRun, HookStage, HookStatus, HookTarget,
    LifecycleHook, LifecycleStage, LinearConfig, Route, Strategy, StrategySettings, TargetState,
};

const ALT: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/alt/2";
const PROD: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/l/1/p";
const TEST: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/l/1/t";

/// A green task (NEW) with its target in ALT.
fn green(n: u16) -> crate::scheduler::view::TaskView {
    let mut t = task(n, NEW);
    t.targets[0].group = ALT.into();
    t
}

/// Desired 2 at 100/100 (blue/green ignores maximumPercent): two healthy blue tasks, and
/// the green deployment at `stage` (entered 10 s ago), with `green_tasks` healthy green ones.
fn at(stage: Option<LifecycleStage>, green_tasks: u16, settings: StrategySettings) -> View {
    let mut s = service(2, 100, 100);
    s.load_balancers[0].advanced = Some(AdvancedConfig {
        alternate_target_group_arn: ALT.into(),
        production_listener_rule: PROD.into(),
        test_listener_rule: Some(TEST.into()),
        role_arn: "arn:aws:iam::000000000000:role/ecs-infra".into(),
    });
    s.deployments[0].alternate = true;
    s.blue_green = Some(BlueGreenRun {
        settings,
        blue_row: OLD.into(),
        routes: vec![Route {
            production_rule: PROD.into(),
            test_rule: Some(TEST.into()),
            blue_group: TG.into(),
            green_group: ALT.into(),
        }],
        stage,
        stage_since: now().wall - Duration::from_secs(10),
        hooks: Vec::new(),
        steps_done: 0,
        production_percent: 0.0,
        shifted_at: None,
    });
    let mut all = tasks(0..2, OLD);
    all.extend((10..10 + green_tasks).map(green));
    let mut v = view(s, all);
    v.target_groups.insert(ALT.into(), Duration::from_secs(5));
    v
}

fn blue_green(bake_minutes: i64) -> StrategySettings {
    StrategySettings {
        strategy: Strategy::BlueGreen,
        bake_minutes: Some(bake_minutes),
        ..Default::default()
    }
}

/// A PAUSE hook at POST_TEST_TRAFFIC_SHIFT, 5 minutes, then ROLLBACK.
fn paused() -> StrategySettings {
    let mut s = blue_green(1);
    s.hooks.push(LifecycleHook {
        target_type: HookTarget::Pause,
        hook_target_arn: None,
        role_arn: None,
        stages: vec![HookStage::PostTestTrafficShift],
        hook_details: None,
        timeout: None,
    });
    s
}

fn with_hook(mut v: View, status: HookStatus, expires_in: i64) -> View {
    let run = v.services[0].blue_green.as_mut().expect("a run");
    let expires_at = if expires_in >= 0 {
        now().wall + Duration::from_secs(expires_in as u64)
    } else {
        now().wall - Duration::from_secs((-expires_in) as u64)
    };
    run.hooks.push(HookRun {
        hook_id: "hook-1".into(),
        stage: HookStage::PostTestTrafficShift,
        step: 0,
        target_type: HookTarget::Pause,
        status,
        expires_at,
        timeout_action: HookAction::Rollback,
    });
    v
}

fn entered(p: &Plan) -> Vec<LifecycleStage> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Stage { stage, .. } => Some(*stage),
            _ => None,
        })
        .collect()
}

fn routes(p: &Plan) -> Vec<(String, Vec<(String, i64)>)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Route { rule, groups } => Some((rule.clone(), groups.clone())),
            _ => None,
        })
        .collect()
}

fn completes(p: &Plan) -> bool {
    p.actions
        .iter()
        .any(|a| matches!(a, Action::Complete { deployment, .. } if deployment == NEW))
}

fn linear_after(steps_done: u32, shifted_secs_ago: u64) -> View {
    let settings = StrategySettings {
        strategy: Strategy::Linear,
        linear: Some(LinearConfig {
            step_percent: Some(40.0),
            step_bake_minutes: Some(1),
        }),
        ..blue_green(0)
    };
    let mut v = at(Some(LifecycleStage::ProductionTrafficShift), 2, settings);
    let run = v.services[0].blue_green.as_mut().expect("a run");
    run.steps_done = steps_done;
    run.shifted_at = Some(now().wall - Duration::from_secs(shifted_secs_ago));
    v
}

struct Row {
    rule: &'static str,
    view: fn() -> View,
    check: fn(&Plan) -> Result<(), String>,
}

use LifecycleStage::*;

const ROWS: &[Row] = &[
    Row {
        rule: "a blue/green deployment taken up enters RECONCILE_SERVICE and starts nothing yet",
        view: || at(None, 0, blue_green(1)),
        check: |p| {
            expect(
                entered(p) == [ReconcileService] && seen(p).started == 0,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "PRE_SCALE_UP goes on to SCALE_UP; green starts only from SCALE_UP on",
        view: || at(Some(PreScaleUp), 0, blue_green(1)),
        check: |p| {
            expect(
                entered(p) == [ScaleUp] && seen(p).started == 0,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "SCALE_UP starts green at the full desired count (maximumPercent 100 notwithstanding) and stops no blue task",
        view: || at(Some(ScaleUp), 0, blue_green(1)),
        check: |p| {
            let s = seen(p);
            expect(
                s.started == 2 && s.stopped.is_empty() && entered(p).is_empty(),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "SCALE_UP waits for every green task to be healthy",
        view: || {
            let mut v = at(Some(ScaleUp), 2, blue_green(1));
            let last = v.tasks.len() - 1;
            v.tasks[last] = v.tasks[last].clone().target(TargetState::Initial);
            v
        },
        check: |p| expect(entered(p).is_empty(), format!("{p:#?}")),
    },
    Row {
        rule: "SCALE_UP with every green task healthy goes on to POST_SCALE_UP",
        view: || at(Some(ScaleUp), 2, blue_green(1)),
        check: |p| expect(entered(p) == [PostScaleUp], format!("{p:#?}")),
    },
    Row {
        rule: "TEST_TRAFFIC_SHIFT moves the test rule (only) to green",
        view: || at(Some(PostScaleUp), 2, blue_green(1)),
        check: |p| {
            let want = vec![(
                TEST.to_owned(),
                vec![(TG.to_owned(), 0), (ALT.to_owned(), 100)],
            )];
            expect(
                entered(p) == [TestTrafficShift] && routes(p) == want,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "a PAUSE hook at POST_TEST_TRAFFIC_SHIFT is started when the stage is reached",
        view: || at(Some(PostTestTrafficShift), 2, paused()),
        check: |p| {
            let opened = p.actions.iter().any(|a| {
                matches!(
                    a,
                    Action::OpenHooks {
                        stage: HookStage::PostTestTrafficShift,
                        step: 0,
                        ..
                    }
                )
            });
            expect(opened && entered(p).is_empty(), format!("{p:#?}"))
        },
    },
    Row {
        rule: "entering a stage with a PAUSE hook opens the hook in the same pass",
        view: || at(Some(TestTrafficShift), 2, paused()),
        check: |p| {
            let opened = p.actions.iter().any(|a| {
                matches!(
                    a,
                    Action::OpenHooks {
                        stage: HookStage::PostTestTrafficShift,
                        step: 0,
                        ..
                    }
                )
            });
            expect(
                entered(p) == [PostTestTrafficShift] && opened,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "a hook AWAITING_ACTION holds the stage until it expires (the next pass is due then)",
        view: || {
            with_hook(
                at(Some(PostTestTrafficShift), 2, paused()),
                HookStatus::AwaitingAction,
                30,
            )
        },
        check: |p| {
            let due = now().instant + Duration::from_secs(30);
            expect(
                entered(p).is_empty() && routes(p).is_empty() && p.wake_at == Some(due),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "a hook past its timeout is TIMED_OUT",
        view: || {
            with_hook(
                at(Some(PostTestTrafficShift), 2, paused()),
                HookStatus::AwaitingAction,
                -1,
            )
        },
        check: |p| {
            let timed_out = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::HookTimedOut { hook, .. } if hook == "hook-1"));
            expect(timed_out && entered(p).is_empty(), format!("{p:#?}"))
        },
    },
    Row {
        rule: "a hook that answered ROLLBACK (or timed out with ROLLBACK) fails the deployment back to blue",
        view: || {
            with_hook(
                at(Some(PostTestTrafficShift), 2, paused()),
                HookStatus::TimedOut,
                -1,
            )
        },
        check: |p| {
            let trip = p.actions.iter().any(|a| matches!(a, Action::Trip { cause: Failure::Hook(_), rollback_to: Some(to), .. } if to.id == OLD));
            expect(
                trip && entered(p).is_empty() && seen(p).started == 0,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "a hook that CONTINUEd lets POST_TEST_TRAFFIC_SHIFT go on to PRODUCTION_TRAFFIC_SHIFT",
        view: || {
            with_hook(
                at(Some(PostTestTrafficShift), 2, paused()),
                HookStatus::Succeeded,
                30,
            )
        },
        check: |p| expect(entered(p) == [ProductionTrafficShift], format!("{p:#?}")),
    },
    Row {
        rule: "BLUE_GREEN moves all production traffic to green in one step",
        view: || at(Some(ProductionTrafficShift), 2, blue_green(1)),
        check: |p| {
            let want = vec![(
                PROD.to_owned(),
                vec![(TG.to_owned(), 0), (ALT.to_owned(), 100)],
            )];
            let shifted = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Shifted { percent, .. } if *percent == 100.0));
            expect(
                routes(p) == want && shifted && entered(p).is_empty(),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "LINEAR waits its step bake time between steps",
        view: || linear_after(1, 10),
        check: |p| {
            let due = now().instant + Duration::from_secs(50);
            expect(
                routes(p).is_empty() && p.wake_at == Some(due),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "LINEAR makes the next step once the step bake is over (40 % steps: 80 % after the second)",
        view: || linear_after(1, 61),
        check: |p| {
            let want = vec![(
                PROD.to_owned(),
                vec![(TG.to_owned(), 20), (ALT.to_owned(), 80)],
            )];
            expect(routes(p) == want, format!("{p:#?}"))
        },
    },
    Row {
        rule: "after the last step production goes on to POST_PRODUCTION_TRAFFIC_SHIFT without a bake",
        view: || linear_after(3, 0),
        check: |p| {
            expect(
                entered(p) == [PostProductionTrafficShift] && routes(p).is_empty(),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "BAKE_TIME keeps blue running until bakeTimeInMinutes is over, and does not complete",
        view: || at(Some(BakeTime), 2, blue_green(1)),
        check: |p| {
            let due = now().instant + Duration::from_secs(50);
            let s = seen(p);
            expect(
                entered(p).is_empty()
                    && s.stopped.is_empty()
                    && !completes(p)
                    && p.wake_at == Some(due),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "BAKE_TIME over: CLEAN_UP",
        view: || at(Some(BakeTime), 2, blue_green(0)),
        check: |p| {
            expect(
                entered(p) == [CleanUp] && seen(p).stopped.is_empty(),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "CLEAN_UP stops every blue task, healthy or not, and completes only once they are gone",
        view: || at(Some(CleanUp), 2, blue_green(1)),
        check: |p| {
            expect(
                stopped_of(&seen(p), OLD) == 2 && !completes(p),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "CLEAN_UP with blue gone completes the deployment",
        view: || {
            let mut v = at(Some(CleanUp), 2, blue_green(1));
            v.tasks.retain(|t| t.of_deployment(NEW));
            v
        },
        check: |p| expect(completes(p), format!("{p:#?}")),
    },
    Row {
        rule: "before CLEAN_UP nothing completes, even with blue gone",
        view: || {
            let mut v = at(Some(PostProductionTrafficShift), 2, blue_green(1));
            v.tasks.retain(|t| t.of_deployment(NEW));
            v
        },
        check: |p| expect(!completes(p) && entered(p) == [BakeTime], format!("{p:#?}")),
    },
    Row {
        rule: "a PRE_PRODUCTION_TRAFFIC_SHIFT hook runs before each production step, which waits for it",
        view: || {
            let mut v = linear_after(1, 61);
            let run = v.services[0].blue_green.as_mut().expect("a run");
            run.settings.hooks.push(LifecycleHook {
                target_type: HookTarget::Pause,
                hook_target_arn: None,
                role_arn: None,
                stages: vec![HookStage::PreProductionTrafficShift],
                hook_details: None,
                timeout: None,
            });
            v
        },
        check: |p| {
            let opened = p.actions.iter().any(|a| {
                matches!(
                    a,
                    Action::OpenHooks {
                        stage: HookStage::PreProductionTrafficShift,
                        step: 1,
                        ..
                    }
                )
            });
            expect(opened && routes(p).is_empty(), format!("{p:#?}"))
        },
    },
    Row {
        rule: "the circuit breaker fails a blue/green deployment whose green tasks keep failing",
        view: || {
            let mut v = at(Some(ScaleUp), 0, blue_green(1));
            v.services[0].deployments[0].failed_tasks = 2;
            let mut failed = green(10);
            failed.last_status = crate::state::TaskStatus::Stopped;
            failed.desired = crate::state::DesiredStatus::Stopped;
            failed.was_healthy = false;
            failed.health_check_failure = true;
            failed.targets.clear();
            v.tasks.push(failed);
            v
        },
        check: |p| {
            let trip = p.actions.iter().any(|a| {
                matches!(a, Action::Trip { cause: Failure::Breaker, rollback_to: Some(to), .. } if to.id == OLD)
            });
            expect(trip && seen(p).started == 0, format!("{p:#?}"))
        },
    },
    Row {
        rule: "green tasks register in the alternate target group, blue's stay where they are",
        view: || {
            let mut v = at(Some(ScaleUp), 0, blue_green(1));
            let mut t = green(10);
            t.targets_registered = false;
            t.targets.clear();
            v.tasks.push(t);
            v
        },
        check: |p| {
            let ok = p.actions.iter().any(|a| matches!(a, Action::Register { task, targets } if task == &format!("{NEW}-t10") && targets == &vec![(ALT.to_owned(), 20_010)]));
            expect(ok, format!("{p:#?}"))
        },
    },
];

#[test]
fn the_rules_of_blue_green_deployments() {
    let mut failed = Vec::new();
    for row in ROWS {
        let plan = plan(&(row.view)(), now());
        if let Err(why) = (row.check)(&plan) {
            failed.push(format!("{}\n  {why}", row.rule));
        }
    }
    assert!(
        failed.is_empty(),
        "{} rules broken:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
