//! What a blue/green, linear or canary service needs on the local stack, made (when missing)
//! through the same AWS API calls a user would make, for `deploy --local --strategy S`: an
//! alternate target group, a test listener on a port of its own, the production listener's
//! default action as a weighted forward (primary 100, alternate 0) and a PAUSE hook at
//! POST_TEST_TRAFFIC_SHIFT. Idempotent: weights ECS already moved are left alone.

use anyhow::{Context, Result};
use aws_sdk_ecs::types::{
    DeploymentLifecycleHook, DeploymentLifecycleHookAction, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookTargetType, DeploymentLifecycleHookTimeoutConfiguration,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Listener, ProtocolEnum, TargetGroupTuple,
    TargetTypeEnum,
};
use deploy_sdk::Clients;
use deploy_sdk::strategy::TrafficWiring;
use local_stack::{Stack, StackSpec};

use crate::config::Settings;

/// The alternate (green) target group, shaped like the primary one.
const ALTERNATE_TARGET_GROUP: &str = "hello-ecs-tg-alt";
/// The test listener's port asked for; local-ecs takes another when it is busy.
const TEST_LISTENER_PORT: i32 = 8001;
/// local-ecs stores the role and never assumes it.
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/ecsInfrastructureRoleForLoadBalancers";
/// The gate's hook holds the deployment this many (local, 1 s) minutes, then rolls back.
pub const GATE_TIMEOUT_MINUTES: i32 = 300;

/// Ensures the wiring for `stack` exists; returns it.
pub async fn ensure_wiring(
    clients: &Clients,
    settings: &Settings,
    stack: &Stack,
    say: &dyn Fn(&str),
) -> Result<TrafficWiring> {
    // local-stack finds the cluster, load balancer and listener, and makes the group.
    let spec = StackSpec {
        cluster: settings.cluster.clone(),
        target_group: ALTERNATE_TARGET_GROUP.into(),
        target_type: TargetTypeEnum::Instance,
        target_port: i32::from(settings.container_port),
        health_check_path: "/ping".into(),
        deregistration_delay_secs: 1,
        load_balancer: crate::bootstrap::LOAD_BALANCER.into(),
        subnets: vec!["subnet-local-a".into(), "subnet-local-b".into()],
        listener_port: i32::from(stack.listener_port),
    };
    let say_created = |created: &local_stack::Created| say(&format!("bootstrap: {created}"));
    let alternate = local_stack::ensure_stack(&clients.ecs, &clients.elb, &spec, &say_created)
        .await?
        .target_group_arn;
    let weighted = forward(&[(&stack.target_group_arn, 100), (&alternate, 0)]);
    let listeners = listeners(clients, &stack.load_balancer_arn).await?;
    let production = listeners
        .first()
        .and_then(Listener::listener_arn)
        .context("elasticloadbalancing:DescribeListeners: the load balancer has no listener")?
        .to_owned();
    let production_actions = listeners[0].default_actions();
    if !weighs(production_actions, &stack.target_group_arn, &alternate) {
        clients
            .elb
            .modify_listener()
            .listener_arn(&production)
            .default_actions(weighted.clone())
            .send()
            .await
            .context("elasticloadbalancing:ModifyListener")?;
        say("bootstrap: production listener forwards weighted (blue 100, green 0)");
    }
    let test = match listeners.get(1).and_then(Listener::listener_arn) {
        Some(arn) => arn.to_owned(),
        None => create_test_listener(clients, &stack.load_balancer_arn, weighted, say).await?,
    };
    Ok(TrafficWiring {
        alternate_target_group: alternate,
        production_rule: default_rule(clients, &production).await?,
        test_rule: Some(default_rule(clients, &test).await?),
        role_arn: ROLE_ARN.into(),
    })
}

/// The test-traffic gate: a PAUSE hook at POST_TEST_TRAFFIC_SHIFT that rolls back when
/// nobody answers it in time.
pub fn gate_hook() -> DeploymentLifecycleHook {
    DeploymentLifecycleHook::builder()
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
        .timeout_configuration(
            DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(GATE_TIMEOUT_MINUTES)
                .action(DeploymentLifecycleHookAction::Rollback)
                .build(),
        )
        .build()
}

async fn listeners(clients: &Clients, load_balancer: &str) -> Result<Vec<Listener>> {
    let out = clients
        .elb
        .describe_listeners()
        .load_balancer_arn(load_balancer)
        .send()
        .await
        .context("elasticloadbalancing:DescribeListeners")?;
    Ok(out.listeners().to_vec())
}

async fn create_test_listener(
    clients: &Clients,
    load_balancer: &str,
    weighted: Action,
    say: &dyn Fn(&str),
) -> Result<String> {
    const CREATE: &str = "elasticloadbalancing:CreateListener";
    let created = clients
        .elb
        .create_listener()
        .load_balancer_arn(load_balancer)
        .protocol(ProtocolEnum::Http)
        .port(TEST_LISTENER_PORT)
        .default_actions(weighted)
        .send()
        .await
        .context(CREATE)?;
    let listener = created
        .listeners()
        .first()
        .context("elasticloadbalancing:CreateListener answered no listener")?;
    let arn = listener
        .listener_arn()
        .context("elasticloadbalancing:CreateListener answered no listener ARN")?;
    say(&format!(
        "bootstrap: test listener on port {}",
        listener.port().unwrap_or_default()
    ));
    Ok(arn.to_owned())
}

/// The listener's default rule (what ECS rewrites when no other rule is named).
async fn default_rule(clients: &Clients, listener: &str) -> Result<String> {
    let rules = clients
        .elb
        .describe_rules()
        .listener_arn(listener)
        .send()
        .await
        .context("elasticloadbalancing:DescribeRules")?;
    rules
        .rules()
        .iter()
        .find(|r| r.is_default() == Some(true))
        .and_then(|r| r.rule_arn())
        .map(str::to_owned)
        .with_context(|| {
            format!("elasticloadbalancing:DescribeRules: listener {listener} has no default rule")
        })
}

/// A forward action over weighted target groups.
fn forward(groups: &[(&str, i32)]) -> Action {
    let tuples = groups
        .iter()
        .map(|(group, weight)| {
            TargetGroupTuple::builder()
                .target_group_arn(*group)
                .weight(*weight)
                .build()
        })
        .collect();
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(tuples))
                .build(),
        )
        .build()
}

/// Whether `actions` already forward over both groups (whatever the weights: ECS moves them).
fn weighs(actions: &[Action], primary: &str, alternate: &str) -> bool {
    actions.iter().any(|a| {
        a.forward_config().is_some_and(|f| {
            let has = |arn: &str| {
                f.target_groups()
                    .iter()
                    .any(|t| t.target_group_arn() == Some(arn))
            };
            has(primary) && has(alternate)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_over_both_groups_is_left_alone_whatever_its_weights() {
        assert!(weighs(&[forward(&[("a", 0), ("b", 100)])], "a", "b"));
        assert!(!weighs(&[forward(&[("a", 100)])], "a", "b"));
        let plain = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("a")
            .build();
        assert!(!weighs(&[plain], "a", "b"));
    }
}
