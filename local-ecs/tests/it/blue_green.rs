//! Blue/green, linear and canary deployments run by local-ecs, with real hello-service
//! processes behind real listeners: every lifecycle stage in order with blue stopped only in
//! CLEAN_UP; a PAUSE hook at POST_TEST_TRAFFIC_SHIFT that holds the deployment while the test
//! listener serves green and production stays on blue; a rollback during BAKE_TIME that puts
//! production back on blue at once; canary and linear steps whose weights DescribeRules shows
//! and whose measured production share matches them.
//!
//! A minute lasts 250 ms here (`Timing::minute`, `serve --minute-seconds`): bakes that must
//! hold while the test looks are hundreds of minutes, ones that must pass are a few.

use std::time::Duration;

use crate::common::*;
use aws_sdk_ecs::operation::create_service::CreateServiceError;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentLifecycleHookAction, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookStatus as HookStatus, DeploymentLifecycleHookTargetType,
    DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy, LinearConfiguration,
    LoadBalancer, ServiceDeployment, ServiceDeploymentLifecycleStage as Stage,
    ServiceDeploymentStatus as Status,
};
use aws_sdk_elasticloadbalancingv2::types::ProtocolEnum;

const ROLE: &str = "arn:aws:iam::000000000000:role/ecsInfrastructureRole";

/// A blue/green stack: the production listener (default rule forwarding to the target group,
/// the alternate one at weight 0) and a test listener on the same load balancer.
pub(crate) struct BlueGreenStack {
    pub(crate) stack: Stack,
    pub(crate) alternate: String,
    pub(crate) production_rule: String,
    pub(crate) test_listener: String,
    pub(crate) test_rule: String,
    pub(crate) test_port: u16,
}

async fn default_rule(env: &Env, listener: &str) -> String {
    let rules = env
        .elb
        .describe_rules()
        .listener_arn(listener)
        .send()
        .await
        .expect("DescribeRules");
    rules
        .rules()
        .iter()
        .find(|r| r.is_default() == Some(true))
        .and_then(|r| r.rule_arn())
        .expect("a default rule")
        .to_owned()
}

/// Also the wire-shape scenario's blue/green stack (`wire_shapes/blue_green.rs`).
pub(crate) async fn blue_green_stack(env: &Env, name: &str) -> BlueGreenStack {
    let stack = stack(env, name, 0).await;
    let alternate = env
        .elb
        .create_target_group()
        .name(format!("{name}-alt"))
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id("vpc-local")
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .health_check_path("/ping")
        .health_check_interval_seconds(1)
        .health_check_timeout_seconds(1)
        .healthy_threshold_count(2)
        .unhealthy_threshold_count(2)
        .send()
        .await
        .expect("CreateTargetGroup")
        .target_groups()[0]
        .target_group_arn()
        .expect("an ARN")
        .to_owned();
    env.elb
        .modify_target_group_attributes()
        .target_group_arn(&alternate)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("0")
                .build(),
        )
        .send()
        .await
        .expect("ModifyTargetGroupAttributes");
    let weighted = forward(&[(&stack.target_group_arn, 100), (&alternate, 0)]);
    let listeners = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&stack.load_balancer_arn)
        .send()
        .await
        .expect("DescribeListeners");
    let production = listeners.listeners()[0]
        .listener_arn()
        .expect("ARN")
        .to_owned();
    env.elb
        .modify_listener()
        .listener_arn(&production)
        .default_actions(weighted.clone())
        .send()
        .await
        .expect("ModifyListener");
    let test = env
        .elb
        .create_listener()
        .load_balancer_arn(&stack.load_balancer_arn)
        .protocol(ProtocolEnum::Http)
        .port(8081)
        .default_actions(weighted)
        .send()
        .await
        .expect("CreateListener (test)");
    let test = &test.listeners()[0];
    let test_port = test.port().expect("a port") as u16;
    let test_listener = test.listener_arn().expect("ARN").to_owned();
    let test_rule = default_rule(env, &test_listener).await;
    BlueGreenStack {
        production_rule: default_rule(env, &production).await,
        stack,
        alternate,
        test_listener,
        test_rule,
        test_port,
    }
}

/// CreateService with `config` behind the stack (advanced configuration included); waits for
/// its first deployment (no blue yet: it just starts) to complete.
async fn create(
    env: &Env,
    bg: &BlueGreenStack,
    name: &str,
    td: &str,
    desired: i32,
    config: DeploymentConfiguration,
) {
    let lb = LoadBalancer::builder()
        .target_group_arn(&bg.stack.target_group_arn)
        .container_name("web")
        .container_port(8080)
        .advanced_configuration(
            AdvancedConfiguration::builder()
                .alternate_target_group_arn(&bg.alternate)
                .production_listener_rule(&bg.production_rule)
                .test_listener_rule(&bg.test_rule)
                .role_arn(ROLE)
                .build(),
        )
        .build();
    let created = env
        .ecs
        .create_service()
        .cluster(&bg.stack.cluster)
        .service_name(name)
        .task_definition(td)
        .desired_count(desired)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .load_balancers(lb)
        .deployment_configuration(config)
        .send()
        .await
        .expect("CreateService")
        .service()
        .cloned()
        .expect("a service");
    wait_completed(env, &bg.stack.cluster, name, &primary_id(&created)).await;
}

async fn update(env: &Env, cluster: &str, name: &str, td: &str) -> String {
    env.ecs
        .update_service()
        .cluster(cluster)
        .service(name)
        .task_definition(td)
        .send()
        .await
        .expect("UpdateService")
        .service()
        .and_then(|s| s.current_service_deployment())
        .expect("currentServiceDeployment")
        .to_owned()
}

async fn service_deployment(env: &Env, arn: &str) -> ServiceDeployment {
    env.ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .expect("DescribeServiceDeployments")
        .service_deployments()[0]
        .clone()
}

async fn wait_stage(env: &Env, arn: &str, stage: Stage) -> ServiceDeployment {
    wait_for(&format!("{arn} to reach {stage}"), || async {
        let sd = service_deployment(env, arn).await;
        (sd.lifecycle_stage() == Some(&stage)).then_some(sd)
    })
    .await
}

async fn wait_status(env: &Env, arn: &str, status: Status) -> ServiceDeployment {
    wait_for(&format!("{arn} to be {status}"), || async {
        let sd = service_deployment(env, arn).await;
        (sd.status() == Some(&status)).then_some(sd)
    })
    .await
}

/// How many of `n` requests through the listener on `port` the build greeting `greeting`
/// answered (every request must be answered 200).
async fn answered_by(port: u16, greeting: &str, n: usize) -> usize {
    let mut count = 0;
    for _ in 0..n {
        let answer = http_get(port, "/hello/x").await.expect("an answer");
        assert_eq!(answer.status, 200, "{answer:?}");
        count += usize::from(answer.body.starts_with(&format!("{greeting} x")));
    }
    count
}

/// The weights rule `arn`'s forward action gives (target group, weight).
async fn weights(env: &Env, arn: &str) -> Vec<(String, i32)> {
    let rules = env
        .elb
        .describe_rules()
        .rule_arns(arn)
        .send()
        .await
        .expect("DescribeRules");
    let action = &rules.rules()[0].actions()[0];
    action
        .forward_config()
        .map(|c| c.target_groups())
        .unwrap_or_default()
        .iter()
        .map(|t| {
            (
                t.target_group_arn().unwrap_or_default().to_owned(),
                t.weight().unwrap_or(-1),
            )
        })
        .collect()
}

fn config(
    strategy: DeploymentStrategy,
    bake: i32,
) -> aws_sdk_ecs::types::builders::DeploymentConfigurationBuilder {
    DeploymentConfiguration::builder()
        .strategy(strategy)
        .bake_time_in_minutes(bake)
        .minimum_healthy_percent(100)
        .maximum_percent(200)
}

async fn env() -> Env {
    let timing = local_ecs::Timing {
        minute: Duration::from_millis(250),
        ..Default::default()
    };
    Env::start_with_timing(timing).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_goes_through_every_stage_and_a_pause_hook_holds_it_on_test_traffic() {
    let mut env = env().await;
    let bg = blue_green_stack(&env, "bg").await;
    let image = push_hello(&env, REPO, "v1").await;
    let v1 = register(&env, "bg", &image, &[("GREETING", "v1")], None).await;
    let hook = DeploymentLifecycleHook::builder()
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
        .timeout_configuration(
            DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(1440)
                .action(DeploymentLifecycleHookAction::Rollback)
                .build(),
        )
        .build();
    // 8 minutes of bake: 2 s here.
    let settings = config(DeploymentStrategy::BlueGreen, 8)
        .lifecycle_hooks(hook)
        .build();
    create(&env, &bg, "bg", &v1, 2, settings).await;
    let described = describe(&env, "bg", "bg").await;
    let echoed = described
        .deployment_configuration()
        .expect("deploymentConfiguration");
    assert_eq!(echoed.strategy(), Some(&DeploymentStrategy::BlueGreen));
    assert_eq!(echoed.bake_time_in_minutes(), Some(8));
    assert_eq!(echoed.lifecycle_hooks().len(), 1);
    let advanced = described.load_balancers()[0]
        .advanced_configuration()
        .expect("advancedConfiguration");
    assert_eq!(
        advanced.alternate_target_group_arn(),
        Some(bg.alternate.as_str())
    );
    assert_eq!(advanced.role_arn(), Some(ROLE));

    let v2 = register(&env, "bg", &image, &[("GREETING", "v2")], None).await;
    let arn = update(&env, "bg", "bg", &v2).await;
    let held = wait_stage(&env, &arn, Stage::PostTestTrafficShift).await;
    let hook = &held.lifecycle_hook_details()[0];
    assert_eq!(hook.status(), Some(&HookStatus::AwaitingAction), "{held:?}");
    assert_eq!(
        hook.timeout_action(),
        Some(&DeploymentLifecycleHookAction::Rollback)
    );
    assert!(hook.expires_at().is_some());
    assert_eq!(
        answered_by(bg.test_port, "v2", 20).await,
        20,
        "the test listener serves green"
    );
    assert_eq!(
        answered_by(bg.stack.listener_port, "v1", 20).await,
        20,
        "production stays on blue"
    );
    assert_eq!(
        weights(&env, &bg.test_rule).await,
        [
            (bg.stack.target_group_arn.clone(), 0),
            (bg.alternate.clone(), 100)
        ]
    );
    assert_eq!(
        alive_tasks(&env, "bg", "bg").await.len(),
        4,
        "green at full size beside blue"
    );

    env.ecs
        .continue_service_deployment()
        .service_deployment_arn(&arn)
        .hook_id(hook.hook_id().expect("hookId"))
        .action(DeploymentLifecycleHookAction::Continue)
        .send()
        .await
        .expect("ContinueServiceDeployment");
    wait_stage(&env, &arn, Stage::BakeTime).await;
    assert_eq!(
        answered_by(bg.stack.listener_port, "v2", 20).await,
        20,
        "production on green"
    );
    let alive = alive_tasks(&env, "bg", "bg").await;
    assert_eq!(alive.len(), 4, "blue keeps running during the bake");
    assert!(
        alive.iter().all(|t| t.desired_status() == Some("RUNNING")),
        "{alive:?}"
    );

    let done = wait_status(&env, &arn, Status::Successful).await;
    assert_eq!(done.lifecycle_stage(), Some(&Stage::CleanUp));
    let service = describe(&env, "bg", "bg").await;
    let stages: Vec<String> = events(&service)
        .into_iter()
        .rev()
        .filter_map(|m| {
            m.split("entered lifecycle stage ")
                .nth(1)
                .map(|s| s.trim_end_matches('.').to_owned())
        })
        .collect();
    let order = [
        "RECONCILE_SERVICE",
        "PRE_SCALE_UP",
        "SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "CLEAN_UP",
    ];
    assert_eq!(stages, order);
    // Blue's tasks were asked to stop only once CLEAN_UP began.
    let clean_up = service
        .events()
        .iter()
        .find(|e| e.message().is_some_and(|m| m.ends_with("CLEAN_UP.")))
        .and_then(|e| e.created_at())
        .expect("the CLEAN_UP event")
        .as_secs_f64();
    let stopped = stopped_tasks(&env, "bg", "bg").await;
    let blue: Vec<_> = stopped
        .iter()
        .filter(|t| t.task_definition_arn() == Some(v1.as_str()))
        .collect();
    assert_eq!(blue.len(), 2, "{stopped:?}");
    for task in blue {
        let stopping = task.stopping_at().expect("stoppingAt").as_secs_f64();
        assert!(
            stopping >= clean_up - 0.01,
            "a blue task stopped at {stopping}, before CLEAN_UP at {clean_up}"
        );
    }
    assert_eq!(
        weights(&env, &bg.production_rule).await,
        [
            (bg.stack.target_group_arn.clone(), 0),
            (bg.alternate.clone(), 100)
        ]
    );
    // The next deployment's green goes to the group without production traffic (the roles
    // swap), and a hook's ROLLBACK puts test traffic back on blue (v2).
    let v3 = register(&env, "bg", &image, &[("GREETING", "v3")], None).await;
    let arn = update(&env, "bg", "bg", &v3).await;
    let held = wait_stage(&env, &arn, Stage::PostTestTrafficShift).await;
    assert_eq!(
        weights(&env, &bg.test_rule).await,
        [
            (bg.alternate.clone(), 0),
            (bg.stack.target_group_arn.clone(), 100)
        ]
    );
    assert_eq!(answered_by(bg.test_port, "v3", 10).await, 10);
    env.ecs
        .continue_service_deployment()
        .service_deployment_arn(&arn)
        .hook_id(held.lifecycle_hook_details()[0].hook_id().expect("hookId"))
        .action(DeploymentLifecycleHookAction::Rollback)
        .send()
        .await
        .expect("ContinueServiceDeployment ROLLBACK");
    let rolled_back = wait_status(&env, &arn, Status::RollbackSuccessful).await;
    assert!(
        rolled_back
            .status_reason()
            .is_some_and(|r| r.contains("answered ROLLBACK")),
        "{rolled_back:?}"
    );
    assert_eq!(answered_by(bg.test_port, "v2", 10).await, 10);
    assert_eq!(answered_by(bg.stack.listener_port, "v2", 10).await, 10);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_during_the_bake_puts_production_back_on_blue_at_once() {
    let mut env = env().await;
    let bg = blue_green_stack(&env, "rb").await;
    let image = push_hello(&env, REPO, "v1").await;
    let v1 = register(&env, "rb", &image, &[("GREETING", "v1")], None).await;
    // 1000 minutes of bake: longer than the test.
    create(
        &env,
        &bg,
        "rb",
        &v1,
        1,
        config(DeploymentStrategy::BlueGreen, 1000).build(),
    )
    .await;
    let v2 = register(&env, "rb", &image, &[("GREETING", "v2")], None).await;
    let arn = update(&env, "rb", "rb", &v2).await;
    wait_stage(&env, &arn, Stage::BakeTime).await;
    assert_eq!(answered_by(bg.stack.listener_port, "v2", 10).await, 10);

    env.ecs
        .stop_service_deployment()
        .service_deployment_arn(&arn)
        .stop_type(aws_sdk_ecs::types::StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .expect("StopServiceDeployment");
    let back = wait_for("production back on blue", || async {
        let w = weights(&env, &bg.production_rule).await;
        (w == [
            (bg.stack.target_group_arn.clone(), 100),
            (bg.alternate.clone(), 0),
        ])
        .then_some(())
    });
    tokio::time::timeout(Duration::from_secs(5), back)
        .await
        .expect("at once, not after the bake");
    assert_eq!(
        answered_by(bg.stack.listener_port, "v1", 20).await,
        20,
        "blue answers production"
    );
    assert_eq!(
        answered_by(bg.test_port, "v1", 5).await,
        5,
        "and test traffic"
    );
    let done = wait_status(&env, &arn, Status::RollbackSuccessful).await;
    assert!(done.rollback().is_some(), "{done:?}");
    wait_for("green stopped", || async {
        (alive_tasks(&env, "rb", "rb").await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(answered_by(bg.stack.listener_port, "v1", 10).await, 10);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_and_linear_steps_show_in_the_rules_and_in_the_traffic() {
    let mut env = env().await;
    let image = push_hello(&env, REPO, "v1").await;
    for (name, settings, green) in [
        (
            "canary",
            config(DeploymentStrategy::Canary, 0)
                .canary_configuration(
                    CanaryConfiguration::builder()
                        .canary_percent(20.0)
                        .canary_bake_time_in_minutes(1000)
                        .build(),
                )
                .build(),
            20,
        ),
        (
            "linear",
            config(DeploymentStrategy::Linear, 0)
                .linear_configuration(
                    LinearConfiguration::builder()
                        .step_percent(30.0)
                        .step_bake_time_in_minutes(1000)
                        .build(),
                )
                .build(),
            30,
        ),
    ] {
        let bg = blue_green_stack(&env, name).await;
        let v1 = register(&env, name, &image, &[("GREETING", "v1")], None).await;
        create(&env, &bg, name, &v1, 1, settings).await;
        let v2 = register(&env, name, &image, &[("GREETING", "v2")], None).await;
        let arn = update(&env, name, name, &v2).await;
        wait_for(&format!("{name}'s first production step"), || async {
            let w = weights(&env, &bg.production_rule).await;
            (w == [
                (bg.stack.target_group_arn.clone(), 100 - green),
                (bg.alternate.clone(), green),
            ])
            .then_some(())
        })
        .await;
        assert_eq!(
            service_deployment(&env, &arn).await.lifecycle_stage(),
            Some(&Stage::ProductionTrafficShift)
        );
        let n = 200;
        let share = answered_by(bg.stack.listener_port, "v2", n).await as f64 * 100.0 / n as f64;
        assert!(
            (share - f64::from(green)).abs() <= 3.0,
            "{name}: {share}% of production on green, want {green}%"
        );
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_weights_are_checked_as_aws_checks_them() {
    let mut env = env().await;
    let bg = blue_green_stack(&env, "chk").await;
    let image = push_hello(&env, REPO, "v1").await;
    let v1 = register(&env, "chk", &image, &[("GREETING", "v1")], None).await;
    let attempt = |config: DeploymentConfiguration, advanced: bool| {
        let mut lb = LoadBalancer::builder()
            .target_group_arn(&bg.stack.target_group_arn)
            .container_name("web")
            .container_port(8080);
        if advanced {
            lb = lb.advanced_configuration(
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(&bg.alternate)
                    .production_listener_rule(&bg.production_rule)
                    .role_arn(ROLE)
                    .build(),
            );
        }
        env.ecs
            .create_service()
            .cluster("chk")
            .service_name("chk")
            .task_definition(&v1)
            .desired_count(0)
            .load_balancers(lb.build())
            .deployment_configuration(config)
            .send()
    };
    let refused = |result: Result<_, aws_sdk_ecs::error::SdkError<CreateServiceError, _>>,
                   field: &str| {
        let e = result.expect_err(field).into_service_error();
        let what = format!("{e:?}");
        assert!(
            e.is_invalid_parameter_exception() && what.contains(field),
            "{field}: {what}"
        );
    };
    refused(
        attempt(config(DeploymentStrategy::BlueGreen, 1).build(), false).await,
        "advancedConfiguration",
    );
    let lambda = DeploymentLifecycleHook::builder()
        .hook_target_arn("arn:aws:lambda:us-east-1:000000000000:function:check")
        .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
        .build();
    let with_lambda = config(DeploymentStrategy::BlueGreen, 1).lifecycle_hooks(lambda);
    refused(attempt(with_lambda.build(), true).await, "PAUSE");
    let canary = CanaryConfiguration::builder().canary_percent(0.05).build();
    let tiny = config(DeploymentStrategy::Canary, 1).canary_configuration(canary);
    refused(attempt(tiny.build(), true).await, "canaryPercent");
    refused(
        attempt(config(DeploymentStrategy::BlueGreen, 1441).build(), true).await,
        "bakeTimeInMinutes",
    );
    attempt(config(DeploymentStrategy::Linear, 0).build(), true)
        .await
        .expect("a LINEAR service");

    let listener = bg.test_rule.replacen(":listener-rule/", ":listener/", 1);
    let listener = listener
        .rsplit_once('/')
        .map(|(l, _)| l.to_owned())
        .expect("an ARN");
    for (groups, why) in [
        (vec![(bg.alternate.as_str(), 1000)], "weight 1000"),
        (
            vec![(bg.alternate.as_str(), 1), (bg.alternate.as_str(), 1)],
            "a group twice",
        ),
    ] {
        let e = env
            .elb
            .modify_listener()
            .listener_arn(&listener)
            .default_actions(forward(&groups))
            .send()
            .await
            .expect_err(why);
        let code = e.into_service_error().meta().code().map(str::to_owned);
        assert_eq!(code.as_deref(), Some("ValidationError"), "{why}");
    }
    // One group: TargetGroupArn is written too, as AWS does.
    let out = env
        .elb
        .modify_listener()
        .listener_arn(&listener)
        .default_actions(forward(&[(&bg.alternate, 5)]))
        .send()
        .await
        .expect("ModifyListener");
    let action = &out.listeners()[0].default_actions()[0];
    assert_eq!(action.target_group_arn(), Some(bg.alternate.as_str()));
    assert_eq!(
        weights(&env, &bg.test_rule).await,
        [(bg.alternate.clone(), 5)]
    );

    // ModifyRule changes a rule's actions and conditions; the default rule is ModifyListener's.
    let rule = env
        .elb
        .create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(
            aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
                .field("path-pattern")
                .values("/a/*")
                .build(),
        )
        .actions(forward(&[(&bg.stack.target_group_arn, 1)]))
        .send()
        .await
        .expect("CreateRule");
    let rule = rule.rules()[0].rule_arn().expect("ARN").to_owned();
    let modified = env
        .elb
        .modify_rule()
        .rule_arn(&rule)
        .actions(forward(&[
            (&bg.stack.target_group_arn, 30),
            (&bg.alternate, 70),
        ]))
        .conditions(
            aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
                .field("path-pattern")
                .values("/b/*")
                .build(),
        )
        .send()
        .await
        .expect("ModifyRule");
    let modified = &modified.rules()[0];
    assert_eq!(modified.conditions()[0].values(), ["/b/*"]);
    assert_eq!(
        modified.actions()[0].target_group_arn(),
        None,
        "two groups: no TargetGroupArn"
    );
    assert_eq!(
        weights(&env, &rule).await,
        [
            (bg.stack.target_group_arn.clone(), 30),
            (bg.alternate.clone(), 70)
        ]
    );
    let e = env
        .elb
        .modify_rule()
        .rule_arn(&bg.test_rule)
        .actions(forward(&[(&bg.alternate, 1)]))
        .send()
        .await
        .expect_err("the default rule");
    let code = e.into_service_error().meta().code().map(str::to_owned);
    assert_eq!(code.as_deref(), Some("OperationNotPermitted"));

    // The settings survive a restart, as every service field does.
    env.stop().await;
    let dir = std::mem::replace(&mut env.dir, tempfile::tempdir().expect("temp dir"));
    let mut env = Env::start_in(dir, 0).await;
    let service = describe(&env, "chk", "chk").await;
    let config = service
        .deployment_configuration()
        .expect("deploymentConfiguration");
    assert_eq!(config.strategy(), Some(&DeploymentStrategy::Linear));
    assert_eq!(config.bake_time_in_minutes(), Some(0));
    let advanced = service.load_balancers()[0]
        .advanced_configuration()
        .expect("advancedConfiguration");
    assert_eq!(
        advanced.production_listener_rule(),
        Some(bg.production_rule.as_str())
    );
    assert_eq!(advanced.test_listener_rule(), None);
    assert_eq!(
        weights(&env, &bg.test_rule).await,
        [(bg.alternate.clone(), 5)]
    );
    env.stop().await;
}
