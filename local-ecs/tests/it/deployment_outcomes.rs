//! How deployments end, as the ServiceDeployment API reports them, with real hello-service
//! processes behind a real listener: a rollout that succeeds, a circuit-breaker rollback past
//! an earlier failed deployment, an alarm that goes off during a deployment, a rollback asked
//! for with StopServiceDeployment, and an UpdateService that supersedes a deployment.
//!
//! Deployments that must stay IN_PROGRESS while the test acts use deployment alarms whose
//! bake time (Period 3600 s × 10 evaluation periods / 60 = 10 minutes here) holds a settled
//! deployment IN_PROGRESS: no race with the scheduler.

use crate::common::*;
use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_ecs::types::{
    DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentRolloutState,
    ServiceDeployment, ServiceDeploymentRollbackMonitorsStatus as Monitor,
    ServiceDeploymentStatus as Status,
};

async fn service_deployment(env: &Env, arn: &str) -> ServiceDeployment {
    let out = env
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .expect("DescribeServiceDeployments");
    assert!(out.failures().is_empty(), "{out:?}");
    out.service_deployments()[0].clone()
}

async fn wait_status(env: &Env, arn: &str, status: Status) -> ServiceDeployment {
    wait_for(&format!("{arn} to be {status}"), || async {
        let sd = service_deployment(env, arn).await;
        (sd.status() == Some(&status)).then_some(sd)
    })
    .await
}

fn current(service: &aws_sdk_ecs::types::Service) -> String {
    service
        .current_service_deployment()
        .expect("currentServiceDeployment")
        .to_owned()
}

fn target(sd: &ServiceDeployment) -> String {
    sd.target_service_revision()
        .and_then(|r| r.arn())
        .expect("targetServiceRevision.arn")
        .to_owned()
}

/// UpdateService to `td`, with `config` when given; returns the service in its answer.
async fn update(
    env: &Env,
    name: &str,
    td: &str,
    config: Option<DeploymentConfiguration>,
) -> aws_sdk_ecs::types::Service {
    env.ecs
        .update_service()
        .cluster(name)
        .service(name)
        .task_definition(td)
        .set_deployment_configuration(config)
        .send()
        .await
        .expect("UpdateService")
        .service()
        .cloned()
        .expect("a service in UpdateService's answer")
}

/// Stands up `name`'s stack with v1 of hello-service running (`desired` tasks, the breaker on
/// with `rollback`); returns the stack, the image and v1's task definition and service
/// deployment.
async fn v1_running(
    env: &Env,
    name: &str,
    desired: i32,
    rollback: bool,
) -> (Stack, String, String, ServiceDeployment) {
    let stack = stack(env, name, 0).await;
    let image = push_hello(env, REPO, "v1").await;
    let v1 = register(env, name, &image, &[("GREETING", "v1")], None).await;
    let created = create_service(env, &stack, name, &v1, desired, (100, 200), Some(rollback)).await;
    let first = current(&created);
    wait_completed(env, name, name, &primary_id(&created)).await;
    let sd = wait_status(env, &first, Status::Successful).await;
    (stack, image, v1, sd)
}

/// Serves `greeting` through the listener.
async fn wait_serving(stack: &Stack, greeting: &str) {
    wait_for(
        &format!("{greeting} to answer through the listener"),
        || async {
            let answer = http_get(stack.listener_port, "/hello/x").await.ok()?;
            (answer.status == 200 && answer.body.starts_with(&format!("{greeting} x")))
                .then_some(())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_one_service_deployment_from_in_progress_to_successful() {
    let mut env = Env::start().await;
    let (stack, image, _, sd1) = v1_running(&env, "sdok", 2, true).await;
    assert!(sd1.source_service_revisions().is_empty(), "{sd1:?}");
    let v2 = register(&env, "sdok", &image, &[("GREETING", "v2")], None).await;
    let updated = update(&env, "sdok", &v2, None).await;
    let arn = current(&updated);
    assert_ne!(arn, sd1.service_deployment_arn().unwrap());
    let row = primary_id(&updated);
    let sd2 = service_deployment(&env, &arn).await;
    assert!(
        matches!(sd2.status(), Some(Status::Pending | Status::InProgress)),
        "{sd2:?}"
    );
    let expected_revision = format!(
        "arn:aws:ecs:us-east-1:000000000000:service-revision/sdok/sdok/{}",
        row.trim_start_matches("ecs-svc/")
    );
    assert_eq!(target(&sd2), expected_revision);
    assert_eq!(
        sd2.source_service_revisions()
            .iter()
            .filter_map(|r| r.arn())
            .collect::<Vec<_>>(),
        [target(&sd1)]
    );

    wait_completed(&env, "sdok", "sdok", &row).await;
    let done = wait_status(&env, &arn, Status::Successful).await;
    assert!(done.started_at().is_some() && done.finished_at().is_some());
    assert_eq!(done.stopped_at(), None);
    assert_eq!(done.rollback(), None);
    let breaker = done.deployment_circuit_breaker().unwrap();
    assert_eq!(breaker.status(), Some(&Monitor::MonitoringComplete));
    assert_eq!((breaker.failure_count(), breaker.threshold()), (0, 3));
    assert_eq!(
        done.alarms().and_then(|a| a.status()),
        Some(&Monitor::Disabled)
    );
    assert_eq!(
        done.target_service_revision().unwrap().running_task_count(),
        2
    );
    assert_eq!(current(&describe(&env, "sdok", "sdok").await), arn);

    let revision = env
        .ecs
        .describe_service_revisions()
        .service_revision_arns(&expected_revision)
        .send()
        .await
        .expect("DescribeServiceRevisions");
    let revision = &revision.service_revisions()[0];
    assert_eq!(revision.task_definition(), Some(v2.as_str()));
    assert_eq!(
        revision.load_balancers()[0].target_group_arn(),
        Some(stack.target_group_arn.as_str())
    );
    let image_digest = env
        .ecr
        .describe_images()
        .repository_name(REPO)
        .send()
        .await
        .expect("DescribeImages")
        .image_details()[0]
        .image_digest()
        .map(str::to_owned);
    let container = &revision.container_images()[0];
    assert_eq!(container.container_name(), Some("web"));
    assert_eq!(container.image(), Some(image.as_str()));
    assert_eq!(container.image_digest().map(str::to_owned), image_digest);

    let listed = env
        .ecs
        .list_service_deployments()
        .cluster("sdok")
        .service("sdok")
        .send()
        .await
        .expect("ListServiceDeployments");
    let arns: Vec<&str> = listed
        .service_deployments()
        .iter()
        .filter_map(|b| b.service_deployment_arn())
        .collect();
    assert_eq!(
        arns,
        [arn.as_str(), sd1.service_deployment_arn().unwrap()],
        "newest first"
    );
    let before = env
        .ecs
        .list_service_deployments()
        .cluster("sdok")
        .service("sdok")
        .created_at(
            aws_sdk_ecs::types::CreatedAt::builder()
                .before(*done.created_at().unwrap())
                .build(),
        )
        .send()
        .await
        .expect("ListServiceDeployments createdAt.before");
    assert_eq!(before.service_deployments().len(), 1);
    wait_serving(&stack, "v2").await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_rollback_goes_to_the_last_successful_revision_past_a_failed_one() {
    let mut env = Env::start().await;
    let (stack, image, v1, sd1) = v1_running(&env, "sdbreak", 1, false).await;
    // A PORT that is no port: hello-service exits at once.
    let bad = |greeting: &'static str| {
        let env = &env;
        let image = image.clone();
        async move {
            register(
                env,
                "sdbreak",
                &image,
                &[("GREETING", greeting), ("PORT", "x")],
                None,
            )
            .await
        }
    };
    let failed = update(&env, "sdbreak", &bad("v2").await, None).await;
    let sd2 = wait_status(&env, &current(&failed), Status::Stopped).await;
    assert_eq!(
        sd2.status_reason(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    assert!(sd2.stopped_at().is_some() && sd2.rollback().is_none());
    let breaker = sd2.deployment_circuit_breaker().unwrap();
    assert_eq!(breaker.status(), Some(&Monitor::Triggered));
    assert!(breaker.failure_count() >= 3, "{breaker:?}");

    // The PRIMARY deployment FAILED; the next one rolls back past it to v1.
    let with_rollback = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build();
    let updated = update(&env, "sdbreak", &bad("v3").await, Some(with_rollback)).await;
    let arn = current(&updated);
    let sd3 = wait_status(&env, &arn, Status::RollbackSuccessful).await;
    let rollback = sd3.rollback().expect("rollback");
    assert_eq!(rollback.service_revision_arn(), Some(target(&sd1).as_str()));
    assert_eq!(
        rollback.reason(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    assert!(rollback.started_at().is_some() && sd3.finished_at().is_some());
    assert_eq!(
        sd3.deployment_circuit_breaker().and_then(|b| b.status()),
        Some(&Monitor::Triggered)
    );
    let service = describe(&env, "sdbreak", "sdbreak").await;
    assert_eq!(
        current(&service),
        arn,
        "the rollback belongs to the deployment that failed"
    );
    assert_eq!(service.task_definition(), Some(v1.as_str()));
    wait_serving(&stack, "v1").await;
    env.stop().await;
}

/// A deployment alarm whose bake time holds a settled deployment IN_PROGRESS for 10 minutes.
async fn slow_alarm(env: &Env, name: &str) -> DeploymentConfiguration {
    env.cw
        .put_metric_alarm()
        .alarm_name(name)
        .metric_name("HTTPCode_Target_5XX_Count")
        .namespace("AWS/ApplicationELB")
        .statistic(Statistic::Sum)
        .period(3600)
        .evaluation_periods(10)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
    DeploymentConfiguration::builder()
        .alarms(
            DeploymentAlarms::builder()
                .alarm_names(name)
                .enable(true)
                .rollback(true)
                .build()
                .expect("alarms"),
        )
        .build()
}

/// Rolls `name` to a v2 watched by `alarm` and waits until v2 alone runs, baking; returns
/// its service deployment's ARN.
async fn baking_v2(env: &Env, name: &str, image: &str, alarm: &str) -> String {
    let config = slow_alarm(env, alarm).await;
    let v2 = register(env, name, image, &[("GREETING", "v2")], None).await;
    let updated = update(env, name, &v2, Some(config)).await;
    let row = primary_id(&updated);
    wait_for("v2 alone to run, baking", || async {
        let s = describe(env, name, name).await;
        let baking = s.deployments().len() == 1
            && s.deployments()[0].id() == Some(row.as_str())
            && s.running_count() == s.desired_count();
        baking.then_some(s)
    })
    .await;
    current(&updated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_during_a_deployment_rolls_it_back() {
    let mut env = Env::start().await;
    let (stack, image, v1, sd1) = v1_running(&env, "sdalarm", 1, true).await;
    let arn = baking_v2(&env, "sdalarm", &image, "sdalarm-5xx").await;
    let baking = describe(&env, "sdalarm", "sdalarm").await;
    assert_eq!(
        baking.deployments()[0].rollout_state(),
        Some(&DeploymentRolloutState::InProgress),
        "settled, still baking"
    );
    let sd = service_deployment(&env, &arn).await;
    assert_eq!(sd.status(), Some(&Status::InProgress));
    assert_eq!(
        sd.alarms().and_then(|a| a.status()),
        Some(&Monitor::Monitoring)
    );

    env.cw
        .set_alarm_state()
        .alarm_name("sdalarm-5xx")
        .state_value(StateValue::Alarm)
        .state_reason("5xx errors")
        .send()
        .await
        .expect("SetAlarmState");
    let sd = wait_status(&env, &arn, Status::RollbackSuccessful).await;
    let alarms = sd.alarms().unwrap();
    assert_eq!(alarms.status(), Some(&Monitor::Triggered));
    assert_eq!(alarms.triggered_alarm_names(), ["sdalarm-5xx"]);
    assert_eq!(
        sd.status_reason(),
        Some("ECS deployment alarms: alarm detected: sdalarm-5xx in ALARM.")
    );
    assert_eq!(
        sd.rollback().and_then(|r| r.service_revision_arn()),
        Some(target(&sd1).as_str())
    );
    let service = describe(&env, "sdalarm", "sdalarm").await;
    assert_eq!(service.task_definition(), Some(v1.as_str()));
    assert!(
        events(&service)
            .iter()
            .any(|e| e.ends_with("deployment failed: alarm detected: sdalarm-5xx.")),
        "{:#?}",
        events(&service)
    );
    let rolled_back = env
        .ecs
        .list_service_deployments()
        .cluster("sdalarm")
        .service("sdalarm")
        .status(Status::RollbackSuccessful)
        .send()
        .await
        .expect("ListServiceDeployments");
    assert_eq!(
        rolled_back.service_deployments()[0].service_deployment_arn(),
        Some(arn.as_str())
    );
    wait_serving(&stack, "v1").await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_service_deployment_rolls_an_in_progress_deployment_back() {
    let mut env = Env::start().await;
    let (stack, image, v1, sd1) = v1_running(&env, "sdstop", 1, false).await;
    let arn = baking_v2(&env, "sdstop", &image, "sdstop-alarm").await;
    let stopped = env
        .ecs
        .stop_service_deployment()
        .service_deployment_arn(&arn)
        .stop_type(aws_sdk_ecs::types::StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .expect("StopServiceDeployment");
    assert_eq!(stopped.service_deployment_arn(), Some(arn.as_str()));
    let sd = service_deployment(&env, &arn).await;
    assert!(
        matches!(
            sd.status(),
            Some(
                Status::RollbackRequested | Status::RollbackInProgress | Status::RollbackSuccessful
            )
        ),
        "{sd:?}"
    );
    let sd = wait_status(&env, &arn, Status::RollbackSuccessful).await;
    assert!(sd.stopped_at().is_some());
    assert_eq!(
        sd.rollback().and_then(|r| r.service_revision_arn()),
        Some(target(&sd1).as_str())
    );
    assert_eq!(
        sd.status_reason(),
        Some("ECS deployment stopped: a rollback was requested with StopServiceDeployment.")
    );
    assert_eq!(
        describe(&env, "sdstop", "sdstop").await.task_definition(),
        Some(v1.as_str())
    );
    let err = env
        .ecs
        .stop_service_deployment()
        .service_deployment_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_conflict_exception(),
        "{err:?}"
    );
    wait_serving(&stack, "v1").await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseding_update_stops_the_older_service_deployment() {
    let mut env = Env::start().await;
    let (_stack, image, _, _) = v1_running(&env, "sdsuper", 1, true).await;
    let arn = baking_v2(&env, "sdsuper", &image, "sdsuper-alarm").await;
    let v3 = register(&env, "sdsuper", &image, &[("GREETING", "v3")], None).await;
    let updated = update(&env, "sdsuper", &v3, None).await;
    let newer = current(&updated);
    assert_ne!(newer, arn);
    let superseded = service_deployment(&env, &arn).await;
    assert_eq!(superseded.status(), Some(&Status::Stopped));
    assert!(
        superseded.rollback().is_none(),
        "superseded, not rolled back"
    );
    assert!(superseded.stopped_at().is_some() && superseded.finished_at().is_some());
    let reason = superseded.status_reason().unwrap_or_default();
    assert!(
        reason.ends_with(&format!("superseded by service deployment {newer}.")),
        "{reason}"
    );
    let sd3 = service_deployment(&env, &newer).await;
    assert!(
        sd3.source_service_revisions()
            .iter()
            .any(|r| r.arn() == Some(target(&superseded).as_str())),
        "{sd3:?}"
    );
    let revision = env
        .ecs
        .describe_service_revisions()
        .service_revision_arns(target(&sd3))
        .send()
        .await
        .unwrap();
    assert_eq!(
        revision.service_revisions()[0].task_definition(),
        Some(v3.as_str())
    );
    env.stop().await;
}
