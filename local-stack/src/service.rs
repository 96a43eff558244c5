//! The task-definition and service side: one container serving on a port, and a service
//! running it behind the stack's target group.

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration,
    HealthCheck, KeyValuePair, LaunchType, LoadBalancer, NetworkMode, PortMapping, Service,
    TransportProtocol,
};

use crate::error::{Error, Result};
use crate::stack::Stack;

/// Where the tasks run, which decides the network mode and how the port is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// EC2-style bridge networking: the container port on a dynamic host port (`hostPort` 0);
    /// the target group's targets are instances (`TargetTypeEnum::Instance`).
    Bridge,
    /// Fargate (awsvpc, 256 CPU units, 512 MiB): each task has its own address; the target
    /// group's targets are IPs (`TargetTypeEnum::Ip`).
    Fargate,
}

/// A task definition with one essential container serving on a port.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// The family (registering again makes a new revision of it).
    pub family: String,
    /// The container's name (what the service's load balancer entry names).
    pub container: String,
    /// Its image.
    pub image: String,
    /// The port it listens on.
    pub container_port: i32,
    /// Its environment, in order.
    pub env: Vec<(String, String)>,
    /// Seconds between SIGTERM and SIGKILL when it is stopped.
    pub stop_timeout_secs: i32,
    /// Where it runs.
    pub platform: Platform,
    /// A container health check, if any.
    pub health_check: Option<HealthCheck>,
}

/// Registers `spec`; returns the new revision's ARN.
pub async fn register_task_definition(
    ecs: &aws_sdk_ecs::Client,
    spec: &TaskSpec,
) -> Result<String> {
    const ACTION: &str = "ecs:RegisterTaskDefinition";
    let port = PortMapping::builder().container_port(spec.container_port);
    let port = match spec.platform {
        Platform::Bridge => port.host_port(0).protocol(TransportProtocol::Tcp),
        Platform::Fargate => port,
    };
    let mut container = ContainerDefinition::builder()
        .name(&spec.container)
        .image(&spec.image)
        .essential(true)
        .stop_timeout(spec.stop_timeout_secs)
        .port_mappings(port.build())
        .set_health_check(spec.health_check.clone());
    for (name, value) in &spec.env {
        container = container.environment(KeyValuePair::builder().name(name).value(value).build());
    }
    let request = ecs
        .register_task_definition()
        .family(&spec.family)
        .container_definitions(container.build());
    let request = match spec.platform {
        Platform::Bridge => request.network_mode(NetworkMode::Bridge),
        Platform::Fargate => request
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512"),
    };
    let registered = request
        .send()
        .await
        .map_err(|e| Error::from_sdk(ACTION, e))?;
    registered
        .task_definition()
        .and_then(|td| td.task_definition_arn())
        .map(str::to_owned)
        .ok_or_else(|| Error::missing(ACTION, "task definition ARN"))
}

/// What the deployment circuit breaker does when tasks keep failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitBreaker {
    /// No circuit breaker.
    Off,
    /// It fails the deployment.
    Fail,
    /// It fails the deployment and rolls back to the last one that completed.
    Rollback,
}

/// A service running a task definition behind the stack's target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The service's name.
    pub name: String,
    /// The task definition (ARN or family:revision) it runs.
    pub task_definition: String,
    /// How many tasks.
    pub desired_count: i32,
    /// The container registered in the target group.
    pub container: String,
    /// Its port.
    pub container_port: i32,
    /// The fewest healthy tasks during a rolling update, in percent of the desired count.
    pub minimum_healthy_percent: i32,
    /// The most running tasks during a rolling update, in percent of the desired count.
    pub maximum_percent: i32,
    /// The deployment circuit breaker.
    pub circuit_breaker: CircuitBreaker,
    /// Seconds after a task starts during which failed health checks do not count.
    pub health_check_grace_period_secs: Option<i32>,
    /// Where the tasks run (Fargate sets the launch type).
    pub platform: Platform,
}

/// Creates the service of `spec` in `stack`'s cluster, behind its target group.
pub async fn create_service(
    ecs: &aws_sdk_ecs::Client,
    stack: &Stack,
    spec: &ServiceSpec,
) -> Result<Service> {
    const ACTION: &str = "ecs:CreateService";
    let breaker = |rollback| {
        DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(rollback)
            .build()
    };
    let deployment = DeploymentConfiguration::builder()
        .minimum_healthy_percent(spec.minimum_healthy_percent)
        .maximum_percent(spec.maximum_percent)
        .set_deployment_circuit_breaker(match spec.circuit_breaker {
            CircuitBreaker::Off => None,
            CircuitBreaker::Fail => Some(breaker(false)),
            CircuitBreaker::Rollback => Some(breaker(true)),
        })
        .build();
    let created = ecs
        .create_service()
        .cluster(&stack.cluster)
        .service_name(&spec.name)
        .task_definition(&spec.task_definition)
        .desired_count(spec.desired_count)
        .set_health_check_grace_period_seconds(spec.health_check_grace_period_secs)
        .set_launch_type((spec.platform == Platform::Fargate).then_some(LaunchType::Fargate))
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(&stack.target_group_arn)
                .container_name(&spec.container)
                .container_port(spec.container_port)
                .build(),
        )
        .deployment_configuration(deployment)
        .send()
        .await
        .map_err(|e| Error::from_sdk(ACTION, e))?;
    created
        .service()
        .cloned()
        .ok_or_else(|| Error::missing(ACTION, "service"))
}
