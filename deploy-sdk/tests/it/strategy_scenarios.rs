//! Issue 12 (deploy-sdk): a blue/green deployment watched through its lifecycle stages, hooks
//! and traffic weights; never called done before its bake; its timeout includes bakes and
//! hook timeouts; a paused deployment answered with ContinueServiceDeployment.

use std::time::{Duration, Instant};

use crate::scenario::*;
use deploy_sdk::rollout::{Outcome, RolloutEvent, StageState, WatchOptions};
use deploy_sdk::service::StartedDeployment;
use deploy_sdk::service_deployment::{HookAnswer, continue_deployment};
use deploy_sdk::traffic::RuleWeights;

fn ours_via_api() -> StartedDeployment {
    let mut started = started(false);
    started.service_deployment_arn = Some(SD_OURS.into());
    started
}

fn stages(watched: &Watched) -> Vec<String> {
    watched
        .events
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::Stage(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

fn green_shares(watched: &Watched) -> Vec<(Option<f64>, Option<f64>)> {
    let share = |rules: &[RuleWeights], arn: &str| {
        rules
            .iter()
            .find(|r| r.rule_arn == arn)
            .and_then(|r| r.percent_to(TG_GREEN))
    };
    watched
        .events
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::TrafficWeights(rules) => {
                Some((share(rules, RULE_PROD), share(rules, RULE_TEST)))
            }
            _ => None,
        })
        .collect()
}

/// Blue and green both at full strength, as during a blue/green deployment.
fn both(done: bool) -> Vec<Dep> {
    let ours = dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0));
    let ours = if done {
        ours.rollout("COMPLETED", "done")
    } else {
        ours
    };
    vec![ours, dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0))]
}

fn with_minute(minute: Duration) -> WatchOptions {
    WatchOptions { minute, ..fast() }
}

/// Every stage is reported once, in order, with the PAUSE hook's states; the production
/// rule's weights move from blue to green; success only at SUCCESSFUL.
#[tokio::test]
async fn a_blue_green_deployment_is_followed_stage_by_stage() {
    let in_progress = |stage| sd("IN_PROGRESS").stage(stage);
    let script = Script::new(vec![
        frame(both(false)).sd(in_progress("SCALE_UP")),
        frame(both(false)).sd(in_progress("TEST_TRAFFIC_SHIFT")),
        frame(both(false))
            .sd(in_progress("POST_TEST_TRAFFIC_SHIFT").hook("AWAITING_ACTION"))
            .hold(3),
        frame(both(false))
            .sd(in_progress("PRODUCTION_TRAFFIC_SHIFT").hook("SUCCEEDED"))
            .weights(0, 100),
        frame(both(false))
            .sd(in_progress("BAKE_TIME").hook("SUCCEEDED"))
            .hold(3),
        frame(both(false)).sd(in_progress("CLEAN_UP").hook("SUCCEEDED")),
        frame(both(true)).sd(sd("SUCCESSFUL").stage("CLEAN_UP").hook("SUCCEEDED")),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.api = Api::Present;
        s.blue_green = Some(0);
    }
    let watched = run(&script, ours_via_api(), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert_eq!(
        stages(&watched),
        [
            "SCALE_UP",
            "TEST_TRAFFIC_SHIFT",
            "POST_TEST_TRAFFIC_SHIFT; PAUSE hook AWAITING_ACTION",
            "PRODUCTION_TRAFFIC_SHIFT; PAUSE hook SUCCEEDED",
            "BAKE_TIME; PAUSE hook SUCCEEDED",
            "CLEAN_UP; PAUSE hook SUCCEEDED",
        ]
    );
    assert_eq!(
        green_shares(&watched),
        [(Some(0.0), Some(100.0)), (Some(100.0), Some(100.0))],
        "production moves to green once; the test rule is green all along"
    );
    let paused = watched.events.iter().find_map(|e| match e {
        RolloutEvent::Stage(s) => s.awaiting_action().map(|h| h.hook_id.clone()),
        _ => None,
    });
    assert_eq!(
        paused.as_deref(),
        Some(HOOK_ID),
        "the hook to answer is named"
    );
}

/// The last shift can land on the very poll that sees the outcome: the weights are read then
/// too, so the account ends with production on green, not on the canary's share.
#[tokio::test]
async fn the_weights_at_the_outcome_are_reported() {
    let in_progress = |stage| sd("IN_PROGRESS").stage(stage);
    let script = Script::new(vec![
        frame(both(false))
            .sd(in_progress("PRODUCTION_TRAFFIC_SHIFT"))
            .weights(75, 25)
            .hold(2),
        frame(both(true))
            .sd(sd("SUCCESSFUL").stage("CLEAN_UP"))
            .weights(0, 100),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.api = Api::Present;
        s.blue_green = Some(0);
    }
    let watched = run(&script, ours_via_api(), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    let production: Vec<Option<f64>> = green_shares(&watched).into_iter().map(|s| s.0).collect();
    assert_eq!(production, [Some(25.0), Some(100.0)]);
}

/// A rolling service reads no rules: DescribeRules is only for strategies that move traffic.
#[tokio::test]
async fn a_rolling_deployment_reads_no_traffic_weights() {
    let script = Script::new(vec![
        frame(both(false)).sd(sd("IN_PROGRESS")),
        frame(both(true)).sd(sd("SUCCESSFUL")),
    ]);
    script.lock().unwrap().api = Api::Present;
    let watched = run(&script, ours_via_api(), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert_eq!(script.lock().unwrap().rules_calls, 0);
    assert!(
        stages(&watched).is_empty(),
        "no stage on a rolling deployment"
    );
}

/// Without the ServiceDeployment API the table may say COMPLETED at once: a blue/green
/// deployment is still not done before its bake time is over.
#[tokio::test]
async fn without_the_api_no_success_before_the_bake_is_over() {
    let script = Script::new(vec![frame(vec![
        dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout("COMPLETED", "done"),
    ])]);
    script.lock().unwrap().blue_green = Some(2);
    let minute = Duration::from_millis(150);
    let options = with_minute(minute);
    let begun = Instant::now();
    let watched = run(&script, started(false), options).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert!(
        begun.elapsed() >= minute * 2,
        "called done after {:?}, before the 2-minute bake",
        begun.elapsed()
    );
}

/// The watch's timeout grows by the bake and the PAUSE hook's timeout, in the endpoint's
/// minutes: a deployment held at its hook is not timed out after the plain timeout.
#[tokio::test]
async fn the_timeout_includes_the_bake_and_the_hook_timeout() {
    let script = Script::new(vec![
        frame(both(false)).sd(sd("IN_PROGRESS")
            .stage("POST_TEST_TRAFFIC_SHIFT")
            .hook("AWAITING_ACTION")),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.api = Api::Present;
        s.blue_green = Some(1);
    }
    let mut options = with_minute(Duration::from_millis(20));
    options.timeout = Duration::from_millis(100);
    let watched = run(&script, ours_via_api(), options).await;
    let Outcome::TimedOut { waited, .. } = watched.outcome else {
        panic!("expected a time-out, got {:?}", watched.outcome);
    };
    // 100 ms + (1 min bake + 10 min hook timeout) × 20 ms.
    assert!(
        waited >= Duration::from_millis(100 + 11 * 20),
        "timed out after {waited:?}"
    );
}

/// ContinueServiceDeployment names the deployment, the hook and the action.
#[tokio::test]
async fn a_paused_hook_is_answered() {
    let script = Script::new(vec![frame(both(false))]);
    script.lock().unwrap().api = Api::Present;
    let clients = clients(&script);
    for answer in [HookAnswer::Continue, HookAnswer::Rollback] {
        continue_deployment(&clients.ecs, SD_OURS, HOOK_ID, answer)
            .await
            .expect("answered");
    }
    assert_eq!(
        script.lock().unwrap().continues,
        [
            (
                SD_OURS.to_owned(),
                HOOK_ID.to_owned(),
                "CONTINUE".to_owned()
            ),
            (
                SD_OURS.to_owned(),
                HOOK_ID.to_owned(),
                "ROLLBACK".to_owned()
            ),
        ]
    );
}

/// `StageState` is what the events carry; its default is "no stage".
#[test]
fn no_stage_reads_as_such() {
    assert_eq!(StageState::default().to_string(), "no lifecycle stage");
}
