//! The blue/green part of the wire-shape scenario: a service on its own stack (an alternate
//! target group, a test listener) with two PAUSE hooks at POST_TEST_TRAFFIC_SHIFT; one
//! BLUE_GREEN deployment held by the hooks (AWAITING_ACTION), continued one by one
//! (SUCCEEDED) and baked, then a CANARY one rolled back with StopServiceDeployment during
//! BAKE_TIME; and a listener rule modified to two weighted target groups, 90/10 as a canary
//! step writes them.
//! A minute lasts a second here (`Env::start_with_timing`): the bakes that must pass are one
//! minute, the one that must hold is 1440.

use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentLifecycleHookAction, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookStatus as HookStatus, DeploymentLifecycleHookTargetType,
    DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy, LaunchType, LoadBalancer,
    ServiceDeployment, ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentStatus as Status,
    StopServiceDeploymentStopType,
};
use aws_sdk_elasticloadbalancingv2::types::RuleCondition;

use super::common::*;

const NAME: &str = "g";
const ROLE: &str = "arn:aws:iam::000000000000:role/ecsInfrastructureRole";

/// The stack's target groups and listener rules, as `advancedConfiguration` names them.
struct Groups {
    blue: String,
    alternate: String,
    production_rule: String,
    test_listener: String,
    test_rule: String,
}

/// A stack with an alternate target group (weight 0 on both listeners) and a test listener:
/// the blue/green tests' stack.
async fn groups(env: &Env) -> Groups {
    let bg = crate::blue_green::blue_green_stack(env, NAME).await;
    Groups {
        blue: bg.stack.target_group_arn,
        alternate: bg.alternate,
        production_rule: bg.production_rule,
        test_listener: bg.test_listener,
        test_rule: bg.test_rule,
    }
}

fn pause_hook() -> DeploymentLifecycleHook {
    DeploymentLifecycleHook::builder()
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
        .timeout_configuration(
            DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(1440)
                .action(DeploymentLifecycleHookAction::Rollback)
                .build(),
        )
        .build()
}

fn settings(strategy: DeploymentStrategy, bake: i32) -> DeploymentConfiguration {
    let config = DeploymentConfiguration::builder()
        .strategy(strategy.clone())
        .bake_time_in_minutes(bake)
        .minimum_healthy_percent(100)
        .maximum_percent(200)
        .lifecycle_hooks(pause_hook())
        .lifecycle_hooks(pause_hook());
    match strategy {
        DeploymentStrategy::Canary => config
            .canary_configuration(
                CanaryConfiguration::builder()
                    .canary_percent(10.0)
                    .canary_bake_time_in_minutes(1)
                    .build(),
            )
            .build(),
        _ => config.build(),
    }
}

async fn create(env: &Env, g: &Groups, td: &str) {
    let lb = LoadBalancer::builder()
        .target_group_arn(&g.blue)
        .container_name("web")
        .container_port(8080)
        .advanced_configuration(
            AdvancedConfiguration::builder()
                .alternate_target_group_arn(&g.alternate)
                .production_listener_rule(&g.production_rule)
                .test_listener_rule(&g.test_rule)
                .role_arn(ROLE)
                .build(),
        )
        .build();
    let created = env
        .ecs
        .create_service()
        .cluster(NAME)
        .service_name(NAME)
        .task_definition(td)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .load_balancers(lb)
        .deployment_configuration(settings(DeploymentStrategy::BlueGreen, 1))
        .send()
        .await
        .expect("CreateService (blue/green)");
    let created = created.service().expect("a service in the answer");
    wait_completed(env, NAME, NAME, &primary_id(created)).await;
}

async fn update(env: &Env, td: &str, config: DeploymentConfiguration) -> String {
    let updated = env
        .ecs
        .update_service()
        .cluster(NAME)
        .service(NAME)
        .task_definition(td)
        .deployment_configuration(config)
        .send()
        .await
        .expect("UpdateService (blue/green)");
    updated
        .service()
        .and_then(|s| s.current_service_deployment())
        .expect("currentServiceDeployment")
        .to_owned()
}

async fn service_deployment(env: &Env, arn: &str) -> ServiceDeployment {
    let described = env
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .expect("DescribeServiceDeployments");
    described.service_deployments()[0].clone()
}

async fn wait_until<F>(env: &Env, arn: &str, what: &str, done: F) -> ServiceDeployment
where
    F: Fn(&ServiceDeployment) -> bool,
{
    wait_for(&format!("{arn}: {what}"), || async {
        let sd = service_deployment(env, arn).await;
        done(&sd).then_some(sd)
    })
    .await
}

/// Waits for the two PAUSE hooks to await an action, then answers them with CONTINUE one
/// after the other: between the two, the first shows SUCCEEDED beside the one still held
/// (a stage's hooks are shown only while the stage lasts).
async fn continue_at_the_hooks(env: &Env, arn: &str) {
    let held = wait_until(env, arn, "both hooks await an action", |sd| {
        sd.lifecycle_stage() == Some(&Stage::PostTestTrafficShift)
            && sd.lifecycle_hook_details().len() == 2
            && sd
                .lifecycle_hook_details()
                .iter()
                .all(|h| h.status() == Some(&HookStatus::AwaitingAction))
    })
    .await;
    let hooks: Vec<String> = held
        .lifecycle_hook_details()
        .iter()
        .filter_map(|h| h.hook_id().map(str::to_owned))
        .collect();
    for (i, hook) in hooks.iter().enumerate() {
        env.ecs
            .continue_service_deployment()
            .service_deployment_arn(arn)
            .hook_id(hook)
            .action(DeploymentLifecycleHookAction::Continue)
            .send()
            .await
            .expect("ContinueServiceDeployment");
        if i + 1 < hooks.len() {
            let sd = service_deployment(env, arn).await;
            let status = |id: &str| {
                sd.lifecycle_hook_details()
                    .iter()
                    .find(|h| h.hook_id() == Some(id))
                    .and_then(|h| h.status())
                    .cloned()
            };
            assert_eq!(status(hook), Some(HookStatus::Succeeded), "{sd:?}");
            assert_eq!(
                status(&hooks[i + 1]),
                Some(HookStatus::AwaitingAction),
                "{sd:?}"
            );
        }
    }
}

/// A listener rule on the test listener whose forward is changed to 90/10 by ModifyRule.
async fn weighted_rule(env: &Env, g: &Groups) {
    let rule = env
        .elb
        .create_rule()
        .listener_arn(&g.test_listener)
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .values("/canary/*")
                .build(),
        )
        .actions(forward(&[(&g.blue, 100), (&g.alternate, 0)]))
        .send()
        .await
        .expect("CreateRule (weighted)");
    let rule = rule.rules()[0].rule_arn().expect("an ARN");
    env.elb
        .modify_rule()
        .rule_arn(rule)
        .actions(forward(&[(&g.blue, 90), (&g.alternate, 10)]))
        .send()
        .await
        .expect("ModifyRule 90/10");
    env.elb
        .describe_rules()
        .rule_arns(rule)
        .send()
        .await
        .expect("DescribeRules");
}

/// Runs the blue/green service through a held, continued and baked BLUE_GREEN deployment and
/// a CANARY one rolled back during its bake.
pub async fn deployments(env: &Env) {
    let g = groups(env).await;
    // The rollout pushed hello-service as v1.
    let image = format!("{}/{REPO}:v1", env.registry());
    let v1 = register(env, NAME, &image, &[("GREETING", "v1")], None).await;
    create(env, &g, &v1).await;
    weighted_rule(env, &g).await;

    let v2 = register(env, NAME, &image, &[("GREETING", "v2")], None).await;
    let arn = update(env, &v2, settings(DeploymentStrategy::BlueGreen, 1)).await;
    continue_at_the_hooks(env, &arn).await;
    wait_until(env, &arn, "SUCCESSFUL", |sd| {
        sd.status() == Some(&Status::Successful)
    })
    .await;

    // 1440 minutes of bake: it holds until StopServiceDeployment ROLLBACK.
    let v3 = register(env, NAME, &image, &[("GREETING", "v3")], None).await;
    let arn = update(env, &v3, settings(DeploymentStrategy::Canary, 1440)).await;
    continue_at_the_hooks(env, &arn).await;
    wait_until(env, &arn, "BAKE_TIME", |sd| {
        sd.lifecycle_stage() == Some(&Stage::BakeTime)
    })
    .await;
    env.ecs
        .stop_service_deployment()
        .service_deployment_arn(&arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .expect("StopServiceDeployment ROLLBACK");
    wait_until(env, &arn, "ROLLBACK_SUCCESSFUL", |sd| {
        sd.status() == Some(&Status::RollbackSuccessful)
    })
    .await;
    describe(env, NAME, NAME).await;
}
