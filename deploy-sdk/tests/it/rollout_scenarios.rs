//! Rollouts scripted frame by frame behind `aws-smithy-mocks` (the harness is in
//! `scenario/`): what the watcher makes of the deployments table, events, target health and
//! stopped tasks.

use std::time::Duration;

use crate::scenario::*;
use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::types::error::ClusterNotFoundException;
use aws_sdk_ecs::types::{Failure, TaskStopCode};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::body::SdkBody;
use deploy_sdk::deploy::{DeployRequest, Deployer};
use deploy_sdk::rollout::{Diagnostic, Outcome, RolloutEvent, WatchOptions, watch};
use deploy_sdk::service::ServiceRef;
use deploy_sdk::taskdef::ContainerChanges;
use deploy_sdk::{Clients, Error};
use futures::StreamExt;

// ---------- the scenarios ----------

#[tokio::test]
async fn success_at_100_200() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(
            1,
            "(service hello-ecs) has started 2 tasks: (task new-a) (task new-b).",
        )
        .targets(&[(32001, "healthy"), (32002, "healthy")]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(
            3,
            "(service hello-ecs) registered 2 targets in (target-group hello)",
        )
        .targets(&[
            (32001, "healthy"),
            (32002, "healthy"),
            (33001, "initial"),
            (33002, "initial"),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .targets(&[
            (32001, "healthy"),
            (32002, "healthy"),
            (33001, "healthy"),
            (33002, "healthy"),
        ])
        .hold(3),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (0, 0, 2, 0)),
        ])
        .event(
            12,
            "(service hello-ecs) has begun draining connections on 2 tasks.",
        )
        .targets(&[
            (32001, "draining"),
            (32002, "draining"),
            (33001, "healthy"),
            (33002, "healthy"),
        ])
        .hold(4),
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout(
            "COMPLETED",
            "ECS deployment ecs-svc/2222222222222222222 completed.",
        )])
        .event(
            18,
            "(service hello-ecs) has stopped 2 running tasks: (task old-a) (task old-b).",
        )
        .event(19, "(service hello-ecs) has reached a steady state.")
        .targets(&[(33001, "healthy"), (33002, "healthy")]),
    ]);
    let watched = run(&script, started(false), fast()).await;
    assert!(
        matches!(&watched.outcome, Outcome::Completed { deployment_id, .. } if deployment_id == OURS),
        "{:?}",
        watched.outcome
    );
    assert_eq!(
        watched.messages(),
        [
            "(service hello-ecs) has started 2 tasks: (task new-a) (task new-b).",
            "(service hello-ecs) registered 2 targets in (target-group hello)",
            "(service hello-ecs) has begun draining connections on 2 tasks.",
            "(service hello-ecs) has stopped 2 running tasks: (task old-a) (task old-b).",
            "(service hello-ecs) has reached a steady state.",
        ],
        "each new event once, oldest first; none from before the deployment"
    );
    assert_eq!(
        watched.tables(),
        ["2:0/2 1:2/2", "2:2/2 1:2/2", "2:2/2 1:2/0", "2:2/2"]
    );
    let healthy_ours = watched.events.iter().any(
        |e| matches!(e, RolloutEvent::TargetHealth(groups) if groups[0].of(OURS).healthy == 2),
    );
    assert!(
        healthy_ours,
        "target health per deployment reached the stream"
    );
    let draining_old = watched.events.iter().any(
        |e| matches!(e, RolloutEvent::TargetHealth(groups) if groups[0].of(OLD).draining == 2),
    );
    assert!(draining_old);
    assert!(
        !watched
            .events
            .iter()
            .any(|e| matches!(e, RolloutEvent::TaskStopped(_)))
    );
}

#[tokio::test]
async fn success_at_50_100() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (4, 0, 4, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(
            2,
            "(service hello-ecs) has stopped 2 running tasks: (task old-c) (task old-d).",
        ),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .hold(2),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 2, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (0, 0, 0, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 4, 0)),
            dep(OLD, "ACTIVE", TD1, (0, 0, 0, 0)),
        ])
        .hold(2),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 4, 0)).rollout("COMPLETED", "done"),
        ]),
    ]);
    let watched = run(&script, started(false), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert_eq!(
        watched.tables(),
        [
            "2:0/4 1:4/4",
            "2:0/4 1:2/2",
            "2:2/4 1:2/2",
            "2:2/4 1:0/0",
            "2:4/4 1:0/0",
            "2:4/4"
        ]
    );
}

#[tokio::test]
async fn circuit_breaker_failure_without_rollback_is_a_failure_with_reasons() {
    let pull = "CannotPullContainerError: pull image manifest has been retried 5 time(s): repo:missing not found";
    let script = Script::new(vec![
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)), dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0))]),
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 2, 0, 1)), dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0))])
            .stopped(stopped_task("arn:task/f1", OURS, TD2, TaskStopCode::TaskFailedToStart, pull, None)),
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 2, 0, 2)), dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0))])
            .stopped(stopped_task("arn:task/f2", OURS, TD2, TaskStopCode::TaskFailedToStart, pull, None))
            .stopped(stopped_task("arn:task/o1", OLD, TD1, TaskStopCode::ServiceSchedulerInitiated, "Scaling activity initiated by (deployment ecs-svc/1111111111111111111)", Some(0))),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 0, 3)).rollout("FAILED", "ECS deployment circuit breaker: tasks failed to start."),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(30, "(service hello-ecs) (deployment ecs-svc/2222222222222222222) deployment failed: tasks failed to start.")
        .stopped(stopped_task("arn:task/f3", OURS, TD2, TaskStopCode::TaskFailedToStart, pull, None)),
    ]);
    let watched = run(&script, started(false), fast()).await;
    let Outcome::Failed {
        reason,
        stopped_tasks,
        ..
    } = &watched.outcome
    else {
        panic!("expected Failed, got {:?}", watched.outcome);
    };
    assert_eq!(
        reason,
        "ECS deployment circuit breaker: tasks failed to start."
    );
    assert_eq!(
        stopped_tasks.len(),
        3,
        "ours only, each once: {stopped_tasks:?}"
    );
    assert!(
        stopped_tasks
            .iter()
            .all(|t| t.stopped_reason.starts_with("CannotPullContainerError"))
    );
    let stopped_events = watched
        .events
        .iter()
        .filter(|e| matches!(e, RolloutEvent::TaskStopped(_)))
        .count();
    assert_eq!(stopped_events, 3);
    let message = watched
        .outcome
        .clone()
        .into_result()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("circuit breaker") && message.contains("CannotPullContainerError"),
        "{message}"
    );
}

#[tokio::test]
async fn a_circuit_breaker_rollback_is_never_a_success() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 3)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ]),
        // FAILED while still PRIMARY: the rollback deployment has not appeared yet.
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 0, 3)).rollout(
                "FAILED",
                "ECS deployment circuit breaker: tasks failed to start.",
            ),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .hold(2),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)),
            dep(OURS, "ACTIVE", TD2, (0, 0, 0, 3)).rollout(
                "FAILED",
                "ECS deployment circuit breaker: tasks failed to start.",
            ),
        ])
        .event(
            40,
            "(service hello-ecs) rolling back to deployment ecs-svc/1111111111111111111.",
        ),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)).rollout("COMPLETED", "completed"),
        ])
        .event(50, "(service hello-ecs) has reached a steady state."),
    ]);
    script.lock().unwrap().circuit_breaker_rollback = true;
    let watched = run(&script, started(true), fast()).await;
    let Outcome::RolledBack { to, by, reason, .. } = &watched.outcome else {
        panic!("expected RolledBack, got {:?}", watched.outcome);
    };
    assert_eq!((to.as_str(), by.as_deref()), (TD1, Some(ROLLBACK)));
    assert!(reason.contains("circuit breaker"), "{reason}");
    let err = watched.outcome.clone().into_result().unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
}

#[tokio::test]
async fn a_stable_service_back_on_the_old_revision_is_rolled_back_not_completed() {
    // All the watcher ever sees: one deployment, running == desired, COMPLETED — the state
    // `aws ecs wait services-stable` calls success.
    let script = Script::new(vec![frame(vec![
        dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)).rollout("COMPLETED", "completed"),
    ])]);
    let watched = run(&script, started(true), fast()).await;
    assert!(
        matches!(&watched.outcome, Outcome::RolledBack { to, .. } if to == TD1),
        "{:?}",
        watched.outcome
    );
}

#[tokio::test]
async fn a_stuck_deployment_times_out_saying_where_it_stood() {
    let script = Script::new(vec![frame(vec![dep(OURS, "PRIMARY", TD2, (3, 0, 0, 0)), dep(OLD, "ACTIVE", TD1, (3, 0, 3, 0))])
        .event(1, "(service hello-ecs) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
        .hold(usize::MAX)]);
    let options = WatchOptions {
        timeout: Duration::from_millis(500),
        ..fast()
    };
    let watched = run(&script, started(false), options).await;
    let Outcome::TimedOut { waited, last, .. } = &watched.outcome else {
        panic!("expected TimedOut, got {:?}", watched.outcome);
    };
    assert!(*waited >= Duration::from_millis(500), "{waited:?}");
    assert_eq!(last.len(), 2);
    let message = watched
        .outcome
        .clone()
        .into_result()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("timed out after 0s")
            && message.contains("hello-ecs:2 desired=3 pending=0 running=0"),
        "{message}"
    );
    assert!(watched.messages()[0].contains("unable to stop or start tasks"));
    assert!(watched.describe_calls > 3, "it kept polling");
}

#[tokio::test]
async fn throttling_is_retried_and_polled_through() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)),
            dep(OLD, "ACTIVE", TD1, (1, 0, 1, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)).rollout("COMPLETED", "done"),
        ]),
    ]);
    // As many throttled answers as the SDK's own attempts: the call fails, and the watch must
    // report it and go on.
    script.lock().unwrap().throttle_next = deploy_sdk::MAX_ATTEMPTS as usize;
    let watched = run(&script, started(false), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    let retrying: Vec<_> = watched
        .events
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::Retrying { error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(retrying.len(), 1, "{retrying:?}");
    assert!(retrying[0].contains("ThrottlingException"), "{retrying:?}");
}

/// Point 5: without rolloutState (Classic Load Balancer), "alone at full strength" is not
/// done while our targets are not all healthy.
#[tokio::test]
async fn without_rollout_state_running_is_not_healthy() {
    let alone = || vec![dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).no_rollout_state()];
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).no_rollout_state(),
            dep(OLD, "ACTIVE", TD1, (0, 0, 2, 0)).no_rollout_state(),
        ])
        .targets(&[(32001, "draining"), (33001, "initial"), (33002, "initial")])
        .hold(2),
        frame(alone())
            .targets(&[(33001, "healthy"), (33002, "initial")])
            .hold(3),
        frame(alone())
            .targets(&[(33001, "healthy"), (33002, "unhealthy")])
            .hold(3),
        frame(alone())
            .targets(&[(33001, "healthy"), (33002, "healthy")])
            .hold(usize::MAX),
    ]);
    let options = WatchOptions {
        steady_window: Duration::from_millis(50),
        ..fast()
    };
    let watched = run(&script, started(false), options).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    let healthy_from = 2 + 3 + 3 + 1;
    assert!(
        watched.describe_calls > healthy_from,
        "not done before both targets were healthy: {} calls",
        watched.describe_calls
    );
}

/// Point 5, no target groups at all: running == desired must hold over the steady window.
#[tokio::test]
async fn without_rollout_state_or_target_groups_running_must_hold_a_while() {
    let alone = || vec![dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).no_rollout_state()];
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).no_rollout_state(),
            dep(OLD, "ACTIVE", TD1, (0, 0, 2, 0)).no_rollout_state(),
        ]),
        frame(alone()),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 1, 0)).no_rollout_state(),
        ]),
        frame(alone()).hold(usize::MAX),
    ]);
    script.lock().unwrap().classic = true;
    let started_at = tokio::time::Instant::now();
    let options = WatchOptions {
        steady_window: Duration::from_millis(100),
        ..fast()
    };
    let watched = run(&script, started(false), options).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert!(
        started_at.elapsed() >= Duration::from_millis(100),
        "steady for the whole window first"
    );
    assert!(
        watched.describe_calls >= 5,
        "a relapse to 1 running started the window over: {} calls",
        watched.describe_calls
    );
    assert!(
        !watched
            .events
            .iter()
            .any(|e| matches!(e, RolloutEvent::TargetHealth(_))),
        "no target groups, no target health"
    );
}

fn count<F: Fn(&RolloutEvent) -> bool>(events: &[RolloutEvent], f: F) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// Point 6: target health gone (TargetGroupNotFound on every poll) and ListTasks throttled
/// through all its retries once: each reported once, and the outcome still comes.
#[tokio::test]
async fn diagnostics_that_fail_never_end_the_watch_nor_hide_its_outcome() {
    let pull = "CannotPullContainerError: repo:2 not found";
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 1, 1, 1)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .stopped(stopped_task(
            "arn:task/f1",
            OURS,
            TD2,
            TaskStopCode::TaskFailedToStart,
            pull,
            None,
        ))
        .hold(3),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 1)).rollout("COMPLETED", "done"),
        ]),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.target_group_gone = true;
        s.list_tasks_fail_at = Some(2);
    }
    let watched = run(&script, started(false), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    let failed = |what| {
        count(
            &watched.events,
            |e| matches!(e, RolloutEvent::DiagnosticFailed { what: w, .. } if *w == what),
        )
    };
    assert_eq!(failed(Diagnostic::TargetHealth), 1, "once, not every poll");
    assert_eq!(failed(Diagnostic::StoppedTasks), 1);
    let stopped = count(&watched.events, |e| {
        matches!(e, RolloutEvent::TaskStopped(_))
    });
    assert_eq!(
        stopped, 1,
        "the stopped task the failed ListTasks missed, reported later once"
    );
    assert!(watched.describe_calls >= 4);
}

/// Point 7: a poll whose DescribeServiceDeployments fails (every attempt throttled) after
/// DescribeServices answered new events and a new table: those are handed out once, by the
/// next poll.
#[tokio::test]
async fn events_are_handed_out_once_when_a_poll_fails_half_way() {
    let registered = "(service hello-ecs) registered 2 targets in (target-group hello)";
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(
            1,
            "(service hello-ecs) has started 2 tasks: (task new-a) (task new-b).",
        )
        .sd(sd("IN_PROGRESS")),
        // Served twice: to the poll that fails, then to the next one.
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(3, registered)
        .sd(sd("IN_PROGRESS"))
        .hold(2),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout("COMPLETED", "done"),
        ])
        .sd(sd("SUCCESSFUL")),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.api = Api::Present;
        s.sd_fail_at = Some(2);
    }
    let mut started = started(false);
    started.service_deployment_arn = Some(SD_OURS.into());
    let watched = run(&script, started, fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert_eq!(
        count(&watched.events, |e| matches!(
            e,
            RolloutEvent::Retrying { .. }
        )),
        1
    );
    assert_eq!(
        watched.messages(),
        [
            "(service hello-ecs) has started 2 tasks: (task new-a) (task new-b).",
            registered
        ]
    );
    assert_eq!(watched.tables(), ["2:0/2 1:2/2", "2:2/2 1:2/2", "2:2/2"]);
}

/// Point 8: bad poll bounds are refused before any call.
#[tokio::test]
async fn bad_watch_options_are_refused() {
    let script = Script::new(vec![frame(vec![dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0))])]);
    for options in [
        WatchOptions {
            min_interval: Duration::ZERO,
            ..WatchOptions::default()
        },
        WatchOptions {
            min_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(1),
            ..WatchOptions::default()
        },
    ] {
        let mut stream = std::pin::pin!(watch(clients(&script), started(false), options));
        let first = stream.next().await.expect("an item");
        assert!(
            matches!(&first, Err(Error::InvalidInput { what, .. }) if what == "watch options"),
            "{first:?}"
        );
        assert!(stream.next().await.is_none());
    }
    assert_eq!(script.lock().unwrap().describe_calls, 0);
}

/// Point 8: a watch sharing its budget with another (a deploy and its rollback) waits for the
/// other's attempts to leave the 60 s window.
#[tokio::test(start_paused = true)]
async fn a_shared_budget_holds_across_watches() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)),
            dep(OLD, "ACTIVE", TD1, (1, 0, 1, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)).rollout("COMPLETED", "done"),
        ]),
    ]);
    let budget = deploy_sdk::rollout::CallBudget::new();
    let begun = tokio::time::Instant::now();
    for _ in 0..20 {
        budget.record(begun);
    }
    let options = WatchOptions {
        budget: budget.clone(),
        ..WatchOptions::default()
    };
    let watched = run(&script, started(false), options).await;
    assert!(watched.outcome.is_success());
    assert!(
        begun.elapsed() >= Duration::from_secs(60),
        "the second poll waited for the window: {:?}",
        begun.elapsed()
    );
    assert_eq!(
        budget.total(),
        22,
        "both polls recorded in the shared budget"
    );
}

// ---------- errors before the rollout ----------

fn failing_clients(describe: aws_smithy_mocks::Rule) -> Clients {
    Clients {
        ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]),
        ecr: mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        ),
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        ),
    }
}

fn request() -> DeployRequest {
    DeployRequest::new(
        ServiceRef::new("dev-cluster", "hello-ecs"),
        ContainerChanges::default().image("hello-ecs", "repo:2"),
    )
}

#[tokio::test]
async fn a_missing_service_is_named() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:us-east-1:123456789012:service/dev-cluster/hello-ecs")
                    .reason("MISSING")
                    .build(),
            )
            .build()
    });
    let err = Deployer::new(failing_clients(rule))
        .prepare(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ServiceNotFound { cluster, service } if cluster == "dev-cluster" && service == "hello-ecs"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("aws ecs list-services --cluster dev-cluster"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_cluster_is_named() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
        DescribeServicesError::ClusterNotFoundException(
            ClusterNotFoundException::builder()
                .message("Cluster not found.")
                .build(),
        )
    });
    let err = Deployer::new(failing_clients(rule))
        .prepare(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ClusterNotFound { cluster } if cluster == "dev-cluster"),
        "{err:?}"
    );
}

#[tokio::test]
async fn access_denied_names_the_action() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(|| {
        HttpResponse::new(
            400.try_into().unwrap(),
            SdkBody::from(r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::1:user/ci is not authorized to perform: ecs:DescribeServices"}"#),
        )
    });
    let err = Deployer::new(failing_clients(rule))
        .prepare(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AccessDenied { action, .. } if action == "ecs:DescribeServices"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("grant ecs:DescribeServices"),
        "{err}"
    );
}
