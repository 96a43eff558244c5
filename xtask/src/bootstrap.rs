//! The tutorial's stacks on local-ecs for `deploy --local`, made with local-stack through the
//! same AWS API calls a user would make: the cluster, a target group with a `/ping` health
//! check, a load balancer and listener (found again when they exist), and on first use the
//! task definition and the service (2 tasks, 100/200, circuit breaker with rollback).

use std::path::{Path, PathBuf};

use anyhow::Result;
use aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum;
use deploy_sdk::Clients;
use deploy_sdk::service::StartedDeployment;
use local_stack::{CircuitBreaker, Platform, ServiceSpec, Stack, StackSpec, TaskSpec};

use crate::config::Settings;

/// The listener port asked for; local-ecs takes another when it is busy.
const LISTENER_PORT: i32 = 8000;
/// Names of what the bootstrap creates (the tutorial's stacks use the same shapes).
const TARGET_GROUP: &str = "hello-ecs-tg";
pub const LOAD_BALANCER: &str = "hello-ecs-alb";
/// A 1 s deregistration delay (and local-stack's 1 s health checks) keep a local rollout to
/// seconds.
const DEREGISTRATION_DELAY_SECS: u32 = 1;

/// Creates, when missing, the cluster, target group, load balancer and listener; says what it
/// created.
pub async fn bootstrap(
    clients: &Clients,
    settings: &Settings,
    say: &dyn Fn(&str),
) -> Result<Stack> {
    let spec = StackSpec {
        cluster: settings.cluster.clone(),
        target_group: TARGET_GROUP.into(),
        // Tasks run in bridge mode: targets are the instance (127.0.0.1) on a host port.
        target_type: TargetTypeEnum::Instance,
        target_port: i32::from(settings.container_port),
        health_check_path: "/ping".into(),
        deregistration_delay_secs: DEREGISTRATION_DELAY_SECS,
        load_balancer: LOAD_BALANCER.into(),
        subnets: vec!["subnet-local-a".into(), "subnet-local-b".into()],
        listener_port: LISTENER_PORT,
    };
    let say_created = |created: &local_stack::Created| say(&format!("bootstrap: {created}"));
    Ok(local_stack::ensure_stack(&clients.ecs, &clients.elb, &spec, &say_created).await?)
}

/// Registers the first task definition and creates the service behind `stack`: the
/// tutorial's task-definition and service stacks. Returns the deployment the creation
/// started, to watch like any other.
pub async fn create_service(
    clients: &Clients,
    settings: &Settings,
    stack: &Stack,
    image: &str,
    env: &[(String, String)],
    desired_count: Option<i32>,
) -> Result<StartedDeployment> {
    let task_definition = local_stack::register_task_definition(
        &clients.ecs,
        &TaskSpec {
            family: settings.service.clone(),
            container: settings.container.clone(),
            image: image.to_owned(),
            container_port: i32::from(settings.container_port),
            env: env.to_vec(),
            stop_timeout_secs: 30,
            platform: Platform::Bridge,
            health_check: None,
        },
    )
    .await?;
    let service = local_stack::create_service(
        &clients.ecs,
        stack,
        &ServiceSpec {
            name: settings.service.clone(),
            task_definition,
            desired_count: desired_count.unwrap_or(2),
            container: settings.container.clone(),
            container_port: i32::from(settings.container_port),
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            circuit_breaker: CircuitBreaker::Rollback,
            health_check_grace_period_secs: Some(5),
            platform: Platform::Bridge,
        },
    )
    .await?;
    let mut started =
        StartedDeployment::primary_of(&service, &settings.service_ref(), "ecs:CreateService")?;
    started.is_new = true;
    Ok(started)
}

/// Marks that the first local deploy created the service, so later deploys treat a missing
/// service as the configuration error it is rather than creating another.
fn bootstrap_marker(state_dir: &Path) -> PathBuf {
    state_dir.join("bootstrapped-service")
}

/// Whether a missing service may be created: only on first use of this local-ecs state.
pub fn may_create_service(state_dir: &Path) -> bool {
    !bootstrap_marker(state_dir).exists()
}

/// Records that the first local deploy created `service`.
pub fn mark_bootstrapped(state_dir: &Path, settings: &Settings) {
    let _ = std::fs::write(
        bootstrap_marker(state_dir),
        format!("{}/{}\n", settings.cluster, settings.service),
    );
}
