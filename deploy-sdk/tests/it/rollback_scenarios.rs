//! Issue 11, point 3: a rollback goes where ECS would — the last deployment that COMPLETED —
//! and, where the ServiceDeployment API exists and ours is still in progress, asks ECS to roll
//! it back (`StopServiceDeployment` ROLLBACK).

use crate::scenario::*;
use deploy_sdk::Error;
use deploy_sdk::deploy::Deployer;
use deploy_sdk::rollout::Outcome;
use deploy_sdk::service::StartedDeployment;

fn ours_via_api() -> StartedDeployment {
    let mut started = started(false);
    started.service_deployment_arn = Some(SD_OURS.into());
    started
}

const SD_A: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/dev-cluster/hello-ecs/a";
const SD_B: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/dev-cluster/hello-ecs/b";

#[tokio::test]
async fn an_in_progress_deployment_is_stopped_for_ecs_to_roll_back_to_the_last_success() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .sd(sd("IN_PROGRESS")),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD3, (2, 2, 0, 0)),
            dep(OURS, "ACTIVE", TD2, (0, 0, 0, 0)),
        ])
        .sd(sd("ROLLBACK_IN_PROGRESS").rollback("requested by the user", REV3))
        .hold(2),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD3, (2, 0, 2, 0)).rollout("COMPLETED", "done"),
        ])
        .sd(sd("ROLLBACK_SUCCESSFUL").rollback("requested by the user", REV3)),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.api = Api::Present;
        // Listed oldest first: the newest SUCCESSFUL one (TD3) must win all the same.
        s.history = vec![
            (SD_A, REV1, "SUCCESSFUL", -300),
            (SD_B, REV3, "SUCCESSFUL", -60),
        ];
    }
    let deployer = Deployer::new(clients(&script));
    let rollback = deployer.rollback(&ours_via_api()).await.unwrap();
    assert!(rollback.stop_rollback);
    assert_eq!(rollback.task_definition, TD3);
    assert_eq!(rollback.service_deployment_arn.as_deref(), Some(SD_OURS));
    assert_eq!(
        script.lock().unwrap().stops,
        [(SD_OURS.to_owned(), "ROLLBACK".to_owned())]
    );
    assert!(
        script.lock().unwrap().updates.is_empty(),
        "no UpdateService racing ECS"
    );
    script.lock().unwrap().describe_calls = 0;
    let watched = run(&script, rollback, fast()).await;
    assert!(
        matches!(&watched.outcome, Outcome::Completed { task_definition, .. } if task_definition == TD3),
        "{:?}",
        watched.outcome
    );
}

#[tokio::test]
async fn a_finished_deployment_is_rolled_back_by_an_update_to_the_last_other_success() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout("COMPLETED", "done"),
        ])
        .sd(sd("SUCCESSFUL")),
    ]);
    {
        let mut s = script.lock().unwrap();
        s.api = Api::Present;
        s.history = vec![
            (SD_OURS, REV2, "SUCCESSFUL", 60),
            (SD_A, REV1, "SUCCESSFUL", -300),
            // An endpoint that ignored the status filter: never a target.
            (SD_B, REV3, "ROLLBACK_SUCCESSFUL", -60),
        ];
    }
    let rollback = Deployer::new(clients(&script))
        .rollback(&ours_via_api())
        .await
        .unwrap();
    assert!(!rollback.stop_rollback);
    assert_eq!(script.lock().unwrap().updates, [TD1]);
    assert_eq!(rollback.task_definition, TD1);
    assert_eq!(rollback.previous_task_definition.as_deref(), Some(TD2));
}

#[tokio::test]
async fn without_the_api_a_failed_previous_deployment_is_skipped() {
    let script = Script::new(vec![frame(vec![
        dep(OURS, "PRIMARY", TD2, (2, 0, 0, 3)).rollout("FAILED", "circuit breaker"),
        dep(OTHER, "ACTIVE", TD3, (2, 0, 1, 0)).rollout("FAILED", "circuit breaker"),
        dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
    ])]);
    let mut failed = started(false);
    failed.previous_task_definition = None;
    let rollback = Deployer::new(clients(&script))
        .rollback(&failed)
        .await
        .unwrap();
    assert_eq!(
        script.lock().unwrap().updates,
        [TD1],
        "the COMPLETED one, not TD3"
    );
    assert_eq!(rollback.task_definition, TD1);
}

#[tokio::test]
async fn without_the_api_the_one_completed_before_the_update_is_used() {
    let script = Script::new(vec![frame(vec![
        dep(OURS, "PRIMARY", TD2, (2, 0, 0, 3)).rollout("FAILED", "circuit breaker"),
    ])]);
    Deployer::new(clients(&script))
        .rollback(&started(false))
        .await
        .unwrap();
    assert_eq!(script.lock().unwrap().updates, [TD1]);
}

#[tokio::test]
async fn with_nothing_completed_a_rollback_asks_for_an_explicit_revision() {
    let script = Script::new(vec![frame(vec![
        dep(OURS, "PRIMARY", TD2, (2, 0, 0, 3)).rollout("FAILED", "circuit breaker"),
        dep(OTHER, "ACTIVE", TD3, (2, 0, 1, 0)).rollout("IN_PROGRESS", ""),
    ])]);
    let mut failed = started(false);
    failed.previous_task_definition = None;
    let err = Deployer::new(clients(&script))
        .rollback(&failed)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { what, problem }
            if what == "rollback" && problem.contains("name the task definition")),
        "{err}"
    );
    assert!(script.lock().unwrap().updates.is_empty());
}
