//! What the wire-shape suite drives through the recording proxy: a real rollout, every read
//! operation local-ecs has, CloudWatch over its other two protocols, and error answers.
//! Only the calls matter here (their answers are checked afterwards); a call that should
//! fail is asserted to fail, so that its error answer is on record.

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_ecs::types::{DeploymentRolloutState, DesiredStatus};

use super::common::*;

const NAME: &str = "w";

/// Stands up the stack (2 s deregistration delay), runs v1 on 2 tasks, forces a new
/// deployment (waiting to see a draining target), then a revision whose tasks exit at once
/// until the circuit breaker fails it and rolls back; returns the stack.
pub async fn rollout(env: &Env) -> Stack {
    let stack = stack(env, NAME, 2).await;
    let image = push_hello(env, REPO, "v1").await;
    let v1 = register(env, NAME, &image, &[("GREETING", "v1")], None).await;
    let created = create_service(env, &stack, NAME, &v1, 2, (100, 200), Some(true)).await;
    wait_completed(env, NAME, NAME, &primary_id(&created)).await;

    let forced = env
        .ecs
        .update_service()
        .cluster(NAME)
        .service(NAME)
        .force_new_deployment(true)
        .send()
        .await
        .expect("UpdateService forceNewDeployment");
    let forced = primary_id(forced.service().expect("a service in the answer"));
    wait_for("a draining target", || async {
        let states = target_states(env, &stack.target_group_arn).await;
        states
            .iter()
            .any(|(_, state, _)| state == "draining")
            .then_some(())
    })
    .await;
    wait_completed(env, NAME, NAME, &forced).await;

    // A PORT in the container definition is kept, as on ECS: hello-service exits 2 at once.
    let bad = register(env, NAME, &image, &[("PORT", "not-a-port")], None).await;
    let updated = env
        .ecs
        .update_service()
        .cluster(NAME)
        .service(NAME)
        .task_definition(&bad)
        .send()
        .await
        .expect("UpdateService to a crashing revision");
    let failed = primary_id(updated.service().expect("a service in the answer"));
    let rollback = wait_for("the circuit breaker to fail the deployment", || async {
        let s = describe(env, NAME, NAME).await;
        let gone = s
            .deployments()
            .iter()
            .find(|d| d.id() == Some(failed.as_str()));
        let rolled_back =
            gone.is_none_or(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed));
        rolled_back.then(|| primary_id(&s))
    })
    .await;
    wait_completed(env, NAME, NAME, &rollback).await;
    stack
}

/// Every read operation local-ecs serves, over everything the rollout left.
pub async fn reads(env: &Env, stack: &Stack) {
    ecs_reads(env).await;
    service_deployment_reads(env).await;
    let repos = env
        .ecr
        .describe_repositories()
        .send()
        .await
        .expect("DescribeRepositories");
    assert!(!repos.repositories().is_empty());
    let images = env
        .ecr
        .describe_images()
        .repository_name(REPO)
        .send()
        .await
        .expect("DescribeImages");
    let ids: Vec<_> = images
        .image_details()
        .iter()
        .filter_map(|d| d.image_digest())
        .map(|digest| {
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(digest)
                .build()
        })
        .collect();
    env.ecr
        .batch_get_image()
        .repository_name(REPO)
        .set_image_ids(Some(ids))
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("missing")
                .build(),
        )
        .send()
        .await
        .expect("BatchGetImage");
    elb_reads(env, stack).await;
    cloudwatch(env).await;
}

/// The changes the rollout made no call for: a listener rule, a health-check change, a
/// repository deleted.
pub async fn changes(env: &Env, stack: &Stack) {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, RuleCondition};
    env.elb
        .modify_target_group()
        .target_group_arn(&stack.target_group_arn)
        .health_check_interval_seconds(1)
        .send()
        .await
        .expect("ModifyTargetGroup");
    let listeners = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&stack.load_balancer_arn)
        .send()
        .await
        .expect("DescribeListeners");
    let listener = listeners.listeners()[0].listener_arn().map(str::to_owned);
    let rule = env
        .elb
        .create_rule()
        .set_listener_arn(listener.clone())
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .values("/wire/*")
                .build(),
        )
        .actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&stack.target_group_arn)
                .build(),
        )
        .send()
        .await
        .expect("CreateRule");
    // Weighted forwards, as ECS writes them during a blue/green deployment.
    let weighted = |weight: i32| {
        use aws_sdk_elasticloadbalancingv2::types::{ForwardActionConfig, TargetGroupTuple};
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn(&stack.target_group_arn)
                            .weight(weight)
                            .build(),
                    )
                    .build(),
            )
            .build()
    };
    env.elb
        .modify_rule()
        .set_rule_arn(
            rule.rules()
                .first()
                .and_then(|r| r.rule_arn())
                .map(str::to_owned),
        )
        .actions(weighted(5))
        .send()
        .await
        .expect("ModifyRule");
    env.elb
        .modify_listener()
        .set_listener_arn(listener)
        .default_actions(weighted(1))
        .send()
        .await
        .expect("ModifyListener");
    env.ecr
        .create_repository()
        .repository_name("scratch")
        .send()
        .await
        .expect("CreateRepository");
    env.ecr
        .delete_repository()
        .repository_name("scratch")
        .send()
        .await
        .expect("DeleteRepository");
}

async fn ecs_reads(env: &Env) {
    env.ecs.list_clusters().send().await.expect("ListClusters");
    env.ecs
        .describe_clusters()
        .clusters(NAME)
        .clusters("missing")
        .send()
        .await
        .expect("DescribeClusters");
    env.ecs
        .list_services()
        .cluster(NAME)
        .send()
        .await
        .expect("ListServices");
    let mut arns = Vec::new();
    for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let out = env
            .ecs
            .list_tasks()
            .cluster(NAME)
            .desired_status(desired)
            .send()
            .await
            .expect("ListTasks");
        arns.extend(out.task_arns().iter().cloned());
    }
    for chunk in arns.chunks(100) {
        env.ecs
            .describe_tasks()
            .cluster(NAME)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .expect("DescribeTasks");
    }
    let definitions = env
        .ecs
        .list_task_definitions()
        .send()
        .await
        .expect("ListTaskDefinitions");
    for arn in definitions.task_definition_arns() {
        env.ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .expect("DescribeTaskDefinition");
    }
}

async fn service_deployment_reads(env: &Env) {
    let listed = env
        .ecs
        .list_service_deployments()
        .cluster(NAME)
        .service(NAME)
        .send()
        .await
        .expect("ListServiceDeployments");
    let arns: Vec<String> = listed
        .service_deployments()
        .iter()
        .filter_map(|sd| sd.service_deployment_arn().map(str::to_owned))
        .collect();
    let described = env
        .ecs
        .describe_service_deployments()
        .set_service_deployment_arns(Some(arns))
        .send()
        .await
        .expect("DescribeServiceDeployments");
    let mut revisions: Vec<String> = described
        .service_deployments()
        .iter()
        .flat_map(|sd| {
            let target = sd.target_service_revision().and_then(|r| r.arn());
            let sources = sd.source_service_revisions().iter().filter_map(|r| r.arn());
            target.into_iter().chain(sources).map(str::to_owned)
        })
        .collect();
    revisions.sort();
    revisions.dedup();
    env.ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(revisions))
        .send()
        .await
        .expect("DescribeServiceRevisions");
}

async fn elb_reads(env: &Env, stack: &Stack) {
    env.elb
        .describe_load_balancers()
        .send()
        .await
        .expect("DescribeLoadBalancers");
    env.elb
        .describe_target_groups()
        .send()
        .await
        .expect("DescribeTargetGroups");
    env.elb
        .describe_target_group_attributes()
        .target_group_arn(&stack.target_group_arn)
        .send()
        .await
        .expect("DescribeTargetGroupAttributes");
    env.elb
        .describe_target_health()
        .target_group_arn(&stack.target_group_arn)
        .send()
        .await
        .expect("DescribeTargetHealth");
    let listeners = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&stack.load_balancer_arn)
        .send()
        .await
        .expect("DescribeListeners");
    for listener in listeners.listeners() {
        env.elb
            .describe_rules()
            .set_listener_arn(listener.listener_arn().map(str::to_owned))
            .send()
            .await
            .expect("DescribeRules");
    }
}

/// An alarm's life over the SDK (RPC v2 CBOR).
async fn cloudwatch(env: &Env) {
    env.cw
        .put_metric_alarm()
        .alarm_name("w-5xx")
        .metric_name("HTTPCode_Target_5XX_Count")
        .namespace("AWS/ApplicationELB")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
    env.cw
        .describe_alarms()
        .send()
        .await
        .expect("DescribeAlarms");
    env.cw
        .set_alarm_state()
        .alarm_name("w-5xx")
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .expect("SetAlarmState");
    env.cw
        .describe_alarms()
        .alarm_names("w-5xx")
        .send()
        .await
        .expect("DescribeAlarms");
}

/// DescribeAlarms in awsJson 1.0 and awsQuery, which local-ecs also serves, signed for the
/// proxy's host and sent through it.
pub async fn raw_cloudwatch(env: &Env, proxy: u16) {
    let signer = Signer {
        key_id: env.credentials.access_key_id(),
        secret: env.credentials.secret_access_key(),
        service: "monitoring",
        time: std::time::SystemTime::now(),
    };
    let host = format!("127.0.0.1:{proxy}");
    let json = sign_request(
        &host,
        &signer,
        "/",
        &[
            (
                "x-amz-target",
                "GraniteServiceVersion20100801.DescribeAlarms",
            ),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        br#"{"AlarmNames":["w-5xx"]}"#,
    );
    let answer = send_raw(proxy, &json).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let form = b"Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1=w-5xx";
    let query = sign_request(
        &host,
        &signer,
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        form,
    );
    let answer = send_raw(proxy, &query).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Calls that must fail: unknown names, an invalid parameter, an unknown target group.
pub async fn errors(env: &Env, stack: &Stack) {
    let e = &env.ecs;
    let deployments = e
        .list_service_deployments()
        .cluster(NAME)
        .service(NAME)
        .send()
        .await;
    let done = deployments
        .expect("ListServiceDeployments")
        .service_deployments()[0]
        .service_deployment_arn()
        .map(str::to_owned);
    // Only a PENDING or IN_PROGRESS service deployment can be stopped.
    let stop = e
        .stop_service_deployment()
        .set_service_deployment_arn(done.clone())
        .send()
        .await;
    assert!(stop.is_err());
    // Nor can a finished one be continued: no hook awaits an action.
    let answer = e
        .continue_service_deployment()
        .set_service_deployment_arn(done)
        .hook_id("none")
        .send()
        .await;
    assert!(answer.is_err());
    assert!(
        e.describe_services()
            .cluster("missing")
            .services(NAME)
            .send()
            .await
            .is_err()
    );
    assert!(
        e.update_service()
            .cluster(NAME)
            .service("missing")
            .desired_count(1)
            .send()
            .await
            .is_err()
    );
    assert!(
        e.describe_task_definition()
            .task_definition("missing:9")
            .send()
            .await
            .is_err()
    );
    let invalid = e
        .create_service()
        .cluster(NAME)
        .service_name("invalid")
        .task_definition("missing:1")
        .desired_count(-1)
        .send()
        .await;
    assert!(invalid.is_err());
    assert!(
        e.list_service_deployments()
            .cluster(NAME)
            .service("missing")
            .send()
            .await
            .is_err()
    );
    assert!(
        env.ecr
            .describe_images()
            .repository_name("missing")
            .send()
            .await
            .is_err()
    );
    let unknown_tg = stack.target_group_arn.replace("/w-tg/", "/nope/");
    assert!(
        env.elb
            .describe_target_health()
            .target_group_arn(unknown_tg)
            .send()
            .await
            .is_err()
    );
    assert!(
        env.elb
            .describe_listeners()
            .load_balancer_arn(
                "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/nope/0"
            )
            .send()
            .await
            .is_err()
    );
    assert!(
        env.cw
            .set_alarm_state()
            .alarm_name("missing")
            .state_value(StateValue::Ok)
            .state_reason("test")
            .send()
            .await
            .is_err()
    );
}

/// Deletes what the rollout made (DRAINING, INACTIVE and deregistered definitions on the
/// wire too).
pub async fn teardown(env: &Env) {
    let running = env
        .ecs
        .list_tasks()
        .cluster(NAME)
        .send()
        .await
        .expect("ListTasks");
    let task = running.task_arns().first().expect("a running task").clone();
    env.ecs
        .stop_task()
        .cluster(NAME)
        .task(task)
        .reason("wire shapes")
        .send()
        .await
        .expect("StopTask");
    env.cw
        .delete_alarms()
        .alarm_names("w-5xx")
        .send()
        .await
        .expect("DeleteAlarms");
    let definitions = env
        .ecs
        .list_task_definitions()
        .send()
        .await
        .expect("ListTaskDefinitions");
    if let Some(last) = definitions.task_definition_arns().last() {
        env.ecs
            .deregister_task_definition()
            .task_definition(last)
            .send()
            .await
            .expect("DeregisterTaskDefinition");
    }
    env.ecs
        .delete_service()
        .cluster(NAME)
        .service(NAME)
        .force(true)
        .send()
        .await
        .expect("DeleteService");
    env.ecs
        .describe_services()
        .cluster(NAME)
        .services(NAME)
        .send()
        .await
        .expect("DescribeServices");
}
