//! The ServiceDeployment API, CloudWatch alarms and deployment controllers as the AWS SDKs see
//! them: typed errors, AWS-shaped ARNs, and what each service answer carries. No task runs
//! here (the outcomes of real deployments are in `deployment_outcomes.rs`).

use crate::common::*;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
use aws_sdk_ecs::types::{
    DeploymentAlarms, DeploymentConfiguration, DeploymentController, DeploymentControllerType,
    ServiceDeploymentStatus,
};

const ACCOUNT: &str = "000000000000";

async fn put_alarm(env: &Env, name: &str, period: i32) {
    env.cw
        .put_metric_alarm()
        .alarm_name(name)
        .metric_name("HTTPCode_Target_5XX_Count")
        .namespace("AWS/ApplicationELB")
        .statistic(Statistic::Sum)
        .dimensions(
            Dimension::builder()
                .name("LoadBalancer")
                .value("app/x/1")
                .build(),
        )
        .period(period)
        .evaluation_periods(2)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_alarms_round_trip_over_rpc_v2_cbor() {
    let mut env = Env::start().await;
    put_alarm(&env, "web-5xx", 60).await;
    put_alarm(&env, "web-latency", 300).await;
    put_alarm(&env, "other", 60).await;

    let all = env
        .cw
        .describe_alarms()
        .send()
        .await
        .expect("DescribeAlarms");
    let names: Vec<&str> = all
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    assert_eq!(names, ["other", "web-5xx", "web-latency"]);
    let alarm = &all.metric_alarms()[1];
    assert_eq!(
        alarm.alarm_arn(),
        Some(format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:web-5xx").as_str())
    );
    assert_eq!(alarm.state_value(), Some(&StateValue::InsufficientData));
    assert_eq!(alarm.period(), Some(60));
    assert_eq!(alarm.evaluation_periods(), Some(2));
    assert_eq!(alarm.threshold(), Some(5.0));
    assert_eq!(alarm.statistic(), Some(&Statistic::Sum));
    assert_eq!(alarm.dimensions()[0].value(), Some("app/x/1"));
    assert!(alarm.state_updated_timestamp().is_some());
    assert!(alarm.alarm_configuration_updated_timestamp().is_some());

    let before = alarm.state_updated_timestamp().cloned();
    env.cw
        .set_alarm_state()
        .alarm_name("web-5xx")
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .state_reason_data("{\"x\":1}")
        .send()
        .await
        .expect("SetAlarmState");
    let alarmed = env
        .cw
        .describe_alarms()
        .state_value(StateValue::Alarm)
        .send()
        .await
        .expect("DescribeAlarms StateValue");
    assert_eq!(alarmed.metric_alarms().len(), 1);
    let alarm = &alarmed.metric_alarms()[0];
    assert_eq!(alarm.alarm_name(), Some("web-5xx"));
    assert_eq!(alarm.state_reason(), Some("test"));
    assert_eq!(alarm.state_reason_data(), Some("{\"x\":1}"));
    assert!(alarm.state_updated_timestamp().cloned() >= before);

    let prefixed = env
        .cw
        .describe_alarms()
        .alarm_name_prefix("web-")
        .max_records(1)
        .send()
        .await
        .expect("DescribeAlarms prefix");
    assert_eq!(prefixed.metric_alarms()[0].alarm_name(), Some("web-5xx"));
    let token = prefixed.next_token().expect("a second page").to_owned();
    let second = env
        .cw
        .describe_alarms()
        .alarm_name_prefix("web-")
        .max_records(1)
        .next_token(token)
        .send()
        .await
        .expect("DescribeAlarms page 2");
    assert_eq!(second.metric_alarms()[0].alarm_name(), Some("web-latency"));
    assert_eq!(second.next_token(), None);
    let by_name = env
        .cw
        .describe_alarms()
        .alarm_names("web-latency")
        .alarm_names("nope")
        .send()
        .await
        .expect("DescribeAlarms names");
    assert_eq!(by_name.metric_alarms().len(), 1);

    env.cw
        .delete_alarms()
        .alarm_names("other")
        .send()
        .await
        .expect("DeleteAlarms");
    let left = env.cw.describe_alarms().send().await.unwrap();
    assert_eq!(left.metric_alarms().len(), 2);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_errors_are_typed() {
    let mut env = Env::start().await;
    let err = env
        .cw
        .set_alarm_state()
        .alarm_name("missing")
        .state_value(StateValue::Alarm)
        .state_reason("x")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_resource_not_found(),
        "{err:?}"
    );
    let err = env
        .cw
        .delete_alarms()
        .alarm_names("missing")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_resource_not_found(),
        "{err:?}"
    );
    let err = env
        .cw
        .describe_alarms()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_invalid_next_token(),
        "{err:?}"
    );
    // No EvaluationPeriods.
    let err = env
        .cw
        .put_metric_alarm()
        .alarm_name("bad")
        .metric_name("m")
        .namespace("n")
        .statistic(Statistic::Sum)
        .period(60)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MissingParameter"), "{err:?}");
    let err = env
        .cw
        .put_metric_alarm()
        .alarm_name("bad")
        .metric_name("m")
        .namespace("n")
        .statistic(Statistic::Sum)
        .period(45)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    put_alarm(&env, "ok", 60).await;
    let err = env
        .cw
        .set_alarm_state()
        .alarm_name("ok")
        .state_value(StateValue::Ok)
        .state_reason("x")
        .state_reason_data("not json")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_invalid_format_fault(),
        "{err:?}"
    );
    let err = env
        .cw
        .describe_alarms()
        .alarm_names("ok")
        .alarm_name_prefix("o")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterCombination"), "{err:?}");
    env.stop().await;
}

/// A cluster `c` with a registered task definition (its image need not exist: nothing runs).
async fn cluster_and_definition(env: &Env) -> String {
    env.ecs
        .create_cluster()
        .cluster_name("c")
        .send()
        .await
        .unwrap();
    let image = format!("{}/hello:v1", env.registry());
    register(env, "web", &image, &[], None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_deployment_api_errors() {
    let mut env = Env::start().await;
    let td = cluster_and_definition(&env).await;
    let created = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("web")
        .task_definition(&td)
        .desired_count(0)
        .send()
        .await
        .expect("CreateService")
        .service()
        .cloned()
        .unwrap();
    let current = created
        .current_service_deployment()
        .expect("currentServiceDeployment in CreateService's answer")
        .to_owned();
    let prefix = format!("arn:aws:ecs:us-east-1:{ACCOUNT}:service-deployment/c/web/");
    let id = current.strip_prefix(&prefix).expect("the ARN's shape");
    assert_eq!(id.len(), 21, "{current}");
    let revisions = created.current_service_revisions();
    let primary = primary_id(&created);
    assert_eq!(
        revisions[0].arn(),
        Some(
            format!(
                "arn:aws:ecs:us-east-1:{ACCOUNT}:service-revision/c/web/{}",
                primary.trim_start_matches("ecs-svc/")
            )
            .as_str()
        )
    );

    let missing = format!("{prefix}nope");
    let out = env
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(&current)
        .service_deployment_arns(&missing)
        .send()
        .await
        .expect("DescribeServiceDeployments");
    assert_eq!(out.service_deployments().len(), 1);
    assert_eq!(out.failures()[0].arn(), Some(missing.as_str()));
    assert_eq!(out.failures()[0].reason(), Some("MISSING"));
    let too_many: Vec<String> = (0..21).map(|i| format!("{prefix}{i}")).collect();
    let err = env
        .ecs
        .describe_service_deployments()
        .set_service_deployment_arns(Some(too_many))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );
    let out = env
        .ecs
        .describe_service_revisions()
        .service_revision_arns("arn:aws:ecs:us-east-1:000000000000:service-revision/c/web/1")
        .send()
        .await
        .expect("DescribeServiceRevisions");
    assert_eq!(out.failures()[0].reason(), Some("MISSING"));

    let err = env
        .ecs
        .list_service_deployments()
        .cluster("c")
        .service("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_service_not_found_exception(),
        "{err:?}"
    );
    let err = env
        .ecs
        .list_service_deployments()
        .cluster("nope")
        .service("web")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_cluster_not_found_exception(),
        "{err:?}"
    );

    let err = env
        .ecs
        .stop_service_deployment()
        .service_deployment_arn(&missing)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_service_deployment_not_found_exception(),
        "{err:?}"
    );
    let err = env
        .ecs
        .stop_service_deployment()
        .service_deployment_arn(&current)
        .stop_type(aws_sdk_ecs::types::StopServiceDeploymentStopType::Abort)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );
    // With nothing to run, the first deployment finishes at once; a finished one can't be
    // stopped.
    wait_for("the first deployment to succeed", || async {
        let out = env
            .ecs
            .list_service_deployments()
            .cluster("c")
            .service("web")
            .status(ServiceDeploymentStatus::Successful)
            .send()
            .await
            .ok()?;
        (out.service_deployments().len() == 1).then_some(())
    })
    .await;
    let err = env
        .ecs
        .stop_service_deployment()
        .service_deployment_arn(&current)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_conflict_exception(),
        "{err:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_alarms_are_validated_and_echoed() {
    let mut env = Env::start().await;
    let td = cluster_and_definition(&env).await;
    let alarms = DeploymentAlarms::builder()
        .alarm_names("not-created-yet")
        .enable(true)
        .rollback(true)
        .build()
        .unwrap();
    let created = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("web")
        .task_definition(&td)
        .desired_count(0)
        .deployment_configuration(DeploymentConfiguration::builder().alarms(alarms).build())
        .send()
        .await
        .expect("CreateService with alarms that do not exist yet");
    let echoed = created
        .service()
        .and_then(|s| s.deployment_configuration())
        .and_then(|c| c.alarms())
        .expect("alarms echoed");
    assert_eq!(echoed.alarm_names(), ["not-created-yet"]);
    assert!(echoed.enable() && echoed.rollback());

    let err = env
        .ecs
        .update_service()
        .cluster("c")
        .service("web")
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .alarms(
                    DeploymentAlarms::builder()
                        .set_alarm_names(Some(Vec::new()))
                        .enable(true)
                        .rollback(false)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );
    let sd = env
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(
            created
                .service()
                .and_then(|s| s.current_service_deployment())
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let alarms = sd.service_deployments()[0].alarms().unwrap();
    assert_eq!(alarms.alarm_names(), ["not-created-yet"]);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_deploy_and_external_services_are_deployed_by_their_controller() {
    let mut env = Env::start().await;
    let td = cluster_and_definition(&env).await;
    let controller = |t| DeploymentController::builder().r#type(t).build().unwrap();
    let created = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("bluegreen")
        .task_definition(&td)
        .desired_count(1)
        .deployment_controller(controller(DeploymentControllerType::CodeDeploy))
        .send()
        .await
        .expect("CreateService CODE_DEPLOY");
    let service = created.service().unwrap();
    assert_eq!(
        service.deployment_controller().map(|c| c.r#type()),
        Some(&DeploymentControllerType::CodeDeploy)
    );
    assert_eq!(service.task_definition(), Some(td.as_str()));
    assert!(service.deployments().is_empty(), "CodeDeploy deploys it");
    assert_eq!(service.current_service_deployment(), None);

    let v2 = register(
        &env,
        "web",
        &format!("{}/hello:v2", env.registry()),
        &[],
        None,
    )
    .await;
    let err = env
        .ecs
        .update_service()
        .cluster("c")
        .service("bluegreen")
        .task_definition(&v2)
        .send()
        .await
        .unwrap_err();
    let service_err = err.as_service_error().unwrap();
    assert!(service_err.is_invalid_parameter_exception(), "{err:?}");
    assert_eq!(
        aws_sdk_ecs::error::ProvideErrorMetadata::message(service_err),
        Some(
            "Unable to update task definition on services with a CODE_DEPLOY deployment \
             controller. Use AWS CodeDeploy to trigger a new deployment."
        )
    );
    // The desired count may still change.
    let scaled = env
        .ecs
        .update_service()
        .cluster("c")
        .service("bluegreen")
        .desired_count(3)
        .send()
        .await
        .expect("UpdateService desiredCount");
    assert_eq!(scaled.service().map(|s| s.desired_count()), Some(3));

    let err = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("external")
        .task_definition(&td)
        .deployment_controller(controller(DeploymentControllerType::External))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );
    let external = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("external")
        .desired_count(1)
        .deployment_controller(controller(DeploymentControllerType::External))
        .send()
        .await
        .expect("CreateService EXTERNAL without a task definition");
    let service = external.service().unwrap();
    assert_eq!(service.task_definition(), None);
    assert_eq!(
        service.deployment_controller().map(|c| c.r#type()),
        Some(&DeploymentControllerType::External)
    );
    let described = describe(&env, "c", "external").await;
    assert!(described.deployments().is_empty());
    assert_eq!(described.running_count(), 0);
    env.stop().await;
}

/// POSTs a form to the endpoint, signed for `service`; returns the raw answer.
async fn post_form(env: &Env, service: &str, form: &str) -> String {
    let request = env.signed_request(
        service,
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    send_raw(env.port, &request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_speaks_aws_query_too() {
    let mut env = Env::start().await;
    let put = post_form(
        &env,
        "monitoring",
        "Action=PutMetricAlarm&Version=2010-08-01&AlarmName=q&MetricName=m&Namespace=n\
         &Statistic=Sum&Period=60&EvaluationPeriods=1&Threshold=2.5\
         &ComparisonOperator=GreaterThanThreshold&Dimensions.member.1.Name=A\
         &Dimensions.member.1.Value=b",
    )
    .await;
    assert!(put.starts_with("HTTP/1.1 200"), "{put}");
    assert!(
        put.contains(
            "<PutMetricAlarmResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">"
        ),
        "{put}"
    );
    let described = post_form(
        &env,
        "monitoring",
        "Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1=q",
    )
    .await;
    for part in [
        "<AlarmName>q</AlarmName>",
        "<Threshold>2.5</Threshold>",
        "<Period>60</Period>",
        "<Dimensions><member><Name>A</Name><Value>b</Value></member></Dimensions>",
        "<StateValue>INSUFFICIENT_DATA</StateValue>",
    ] {
        assert!(described.contains(part), "{part} in {described}");
    }
    // Timestamps in awsQuery are ISO 8601 text.
    let stamp = described
        .split("<StateUpdatedTimestamp>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default();
    assert!(
        stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{stamp}"
    );
    // The same SDK client sees the alarm: one state behind three protocols.
    let out = env
        .cw
        .describe_alarms()
        .alarm_names("q")
        .send()
        .await
        .unwrap();
    assert_eq!(out.metric_alarms()[0].threshold(), Some(2.5));
    let missing = post_form(
        &env,
        "monitoring",
        "Action=SetAlarmState&Version=2010-08-01&AlarmName=zz&StateValue=OK&StateReason=x",
    )
    .await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(
        missing.contains("<Code>ResourceNotFound</Code>"),
        "{missing}"
    );
    // ELBv2 is still served on the same endpoint.
    let elb = post_form(
        &env,
        "elasticloadbalancing",
        "Action=DescribeLoadBalancers&Version=2015-12-01",
    )
    .await;
    assert!(elb.starts_with("HTTP/1.1 200"), "{elb}");
    env.stop().await;
}
