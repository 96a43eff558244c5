//! Issue 11, points 1 and 2: judging from the ServiceDeployment API where the endpoint has it
//! (the table where not, saying why), deployment alarms, and another client's UpdateService.

use crate::scenario::*;
use deploy_sdk::Error;
use deploy_sdk::rollout::{JudgedBy, Outcome, RolloutEvent};
use deploy_sdk::service::StartedDeployment;

fn ours_via_api() -> StartedDeployment {
    let mut started = started(false);
    started.service_deployment_arn = Some(SD_OURS.into());
    started
}

fn judged_by(watched: &Watched) -> Vec<JudgedBy> {
    watched
        .events
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::JudgedBy(j) => Some(j.clone()),
            _ => None,
        })
        .collect()
}

fn stats_judged_by(watched: &Watched) -> JudgedBy {
    watched
        .events
        .iter()
        .find_map(|e| match e {
            RolloutEvent::Stats(s) => Some(s.judged_by.clone()),
            _ => None,
        })
        .expect("stats")
}

/// Asserts the watch ended superseded by the other client's deployment of TD3; its reason.
fn superseded_by_other<'a>(watched: &'a Watched, case: &str) -> &'a str {
    let Outcome::Superseded {
        by,
        task_definition,
        reason,
        ..
    } = &watched.outcome
    else {
        panic!("{case}: expected Superseded, got {:?}", watched.outcome);
    };
    assert_eq!(
        (by.as_str(), task_definition.as_deref()),
        (OTHER, Some(TD3)),
        "{case}"
    );
    reason
}

/// The table says COMPLETED early (the bake time is not over); only SUCCESSFUL is success.
#[tokio::test]
async fn the_service_deployment_decides_not_the_table() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .sd(sd("PENDING")),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout("COMPLETED", "done"),
        ])
        .sd(sd("IN_PROGRESS"))
        .hold(3),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout("COMPLETED", "done"),
        ])
        .sd(sd("SUCCESSFUL")),
    ]);
    script.lock().unwrap().api = Api::Present;
    let watched = run(&script, ours_via_api(), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert_eq!(watched.describe_calls, 5, "not before SUCCESSFUL");
    assert_eq!(judged_by(&watched), [JudgedBy::ServiceDeployments]);
    assert_eq!(stats_judged_by(&watched), JudgedBy::ServiceDeployments);
}

/// Point 1 with the API: an alarm in ALARM, ECS rolls back; the watch waits for
/// ROLLBACK_SUCCESSFUL and names the alarm.
#[tokio::test]
async fn an_alarm_rollback_is_waited_for_and_names_the_alarm() {
    let reason = "ECS deployment alarm(s) triggered";
    let rolling_back = |status| {
        sd(status)
            .reason("Service deployment rolled back because of a deployment alarm")
            .rollback(reason, REV1)
            .alarms(&["hello-5xx"])
    };
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .sd(sd("IN_PROGRESS")),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)),
            dep(OURS, "ACTIVE", TD2, (0, 0, 2, 0)).rollout("FAILED", reason),
        ])
        .sd(rolling_back("ROLLBACK_REQUESTED")),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)),
            dep(OURS, "ACTIVE", TD2, (0, 0, 1, 0)).rollout("FAILED", reason),
        ])
        .sd(rolling_back("ROLLBACK_IN_PROGRESS"))
        .hold(2),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)).rollout("COMPLETED", "done"),
        ])
        .sd(rolling_back("ROLLBACK_SUCCESSFUL")),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.api = Api::Present;
        s.alarm_rollback = vec!["hello-5xx"];
    }
    let watched = run(&script, ours_via_api(), fast()).await;
    let Outcome::RolledBack {
        to,
        by,
        reason,
        finished,
        ..
    } = &watched.outcome
    else {
        panic!("expected RolledBack, got {:?}", watched.outcome);
    };
    assert_eq!(
        (to.as_str(), by.as_deref(), *finished),
        (TD1, Some(ROLLBACK), true)
    );
    assert!(reason.contains("hello-5xx"), "{reason}");
    assert_eq!(watched.describe_calls, 5, "waited for ROLLBACK_SUCCESSFUL");
}

/// Point 1 without the API: ours FAILED because of an alarm while the alarms roll back; the
/// table judge waits for ECS's rollback deployment, as for the circuit breaker's.
#[tokio::test]
async fn an_alarm_rollback_in_the_table_is_a_rollback_not_a_failure() {
    let reason = "ECS deployment alarm(s) triggered.";
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout("FAILED", reason),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .hold(2),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)),
            dep(OURS, "ACTIVE", TD2, (0, 0, 2, 0)).rollout("FAILED", reason),
        ]),
    ]);
    script.lock().unwrap().alarm_rollback = vec!["hello-5xx"];
    // What StartedDeployment learns from a service set up so.
    let service = {
        let mut s = script.lock().unwrap();
        let service = s.describe();
        (s.started, s.describe_calls) = (false, 0);
        service
    };
    let mut started = started(false);
    started.ecs_rolls_back = deploy_sdk::service::ecs_rolls_back(&service);
    started.alarm_names = deploy_sdk::service::deployment_alarm_names(&service);
    assert!(
        started.ecs_rolls_back,
        "alarms with rollback: ECS rolls back"
    );
    let watched = run(&script, started, fast()).await;
    let Outcome::RolledBack {
        to,
        by,
        reason,
        finished,
        ..
    } = &watched.outcome
    else {
        panic!("expected RolledBack, got {:?}", watched.outcome);
    };
    assert_eq!(
        (to.as_str(), by.as_deref(), *finished),
        (TD1, Some(ROLLBACK), false)
    );
    assert!(reason.contains("hello-5xx"), "{reason}");
    let [JudgedBy::DeploymentTable { why }] = &judged_by(&watched)[..] else {
        panic!("{:?}", judged_by(&watched));
    };
    assert!(why.contains("currentServiceDeployment"), "{why}");
}

/// The API denied or unknown: the table judges, and the stream says why.
#[tokio::test]
async fn the_table_judges_when_the_api_is_denied_or_unknown() {
    for (api, says) in [(Api::Denied, "denied"), (Api::Missing, "does not know")] {
        let script = Script::new(vec![
            frame(vec![
                dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)),
                dep(OLD, "ACTIVE", TD1, (1, 0, 1, 0)),
            ])
            .sd(sd("IN_PROGRESS")),
            frame(vec![
                dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)).rollout("COMPLETED", "done"),
            ])
            .sd(sd("IN_PROGRESS")),
        ]);
        script.lock().unwrap().api = api;
        let watched = run(&script, ours_via_api(), fast()).await;
        assert!(
            watched.outcome.is_success(),
            "{api:?}: {:?}",
            watched.outcome
        );
        let [JudgedBy::DeploymentTable { why }] = &judged_by(&watched)[..] else {
            panic!("{api:?}: {:?}", judged_by(&watched));
        };
        assert!(why.contains(says), "{api:?}: {why}");
        assert_eq!(
            script.lock().unwrap().sd_calls,
            0,
            "asked once, then never again"
        );
    }
}

/// Point 2: another client's UpdateService (to the revision we started from, even) is
/// superseded, never "rolled back to" their revision.
#[tokio::test]
async fn another_clients_update_is_superseded_not_rolled_back() {
    for api in [Api::Present, Api::Missing] {
        let script = Script::new(vec![
            frame(vec![
                dep(OURS, "PRIMARY", TD2, (2, 1, 1, 0)),
                dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
            ])
            .sd(sd("IN_PROGRESS")),
            frame(vec![
                dep(OTHER, "PRIMARY", TD3, (2, 2, 0, 0)),
                dep(OURS, "ACTIVE", TD2, (2, 0, 1, 0)),
                dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
            ])
            .sd(sd("STOPPED").current(SD_OTHER)),
        ]);
        script.lock().unwrap().api = api;
        let mut started = ours_via_api();
        started.ecs_rolls_back = true;
        let watched = run(&script, started, fast()).await;
        let reason = superseded_by_other(&watched, &format!("{api:?}"));
        assert!(reason.contains(OTHER), "{reason}");
        let err = watched.outcome.clone().into_result().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Superseded { .. }), "{text}");
        assert!(
            text.contains("hello-ecs:3") && !text.contains("rolled back"),
            "{text}"
        );
    }
}

/// Point 2, read skew: DescribeServices names ours current, then (an UpdateService landing in
/// between) DescribeServiceDeployments says ours is STOPPED. That is a supersession, not a
/// deployment that failed without a rollback.
#[tokio::test]
async fn an_update_between_the_polls_two_reads_is_superseded() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 1, 1, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .sd(sd("IN_PROGRESS")),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 1, 0)),
        ])
        .sd(sd("IN_PROGRESS"))
        .sd_ahead(),
        frame(vec![
            dep(OTHER, "PRIMARY", TD3, (2, 0, 0, 0)),
            dep(OURS, "ACTIVE", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 1, 0)),
        ])
        .sd(sd("STOPPED").current(SD_OTHER)),
    ]);
    script.lock().unwrap().api = Api::Present;
    let watched = run(&script, ours_via_api(), fast()).await;
    superseded_by_other(&watched, "read skew");
    assert_eq!(stats_judged_by(&watched), JudgedBy::ServiceDeployments);
}
