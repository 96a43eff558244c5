//! The load-balanced side of the stack: a cluster, a target group with a health check, an
//! Application Load Balancer and an HTTP listener forwarding to the target group. Each piece
//! is looked up by name first and created only when missing, so standing a stack up twice
//! gives the same stack.

use std::fmt;

use aws_sdk_elasticloadbalancingv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersError;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Listener, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum,
};

use crate::error::{Error, Result};

/// Seconds between health checks (AWS's minimum is 5; local-ecs accepts 1).
pub const HEALTH_CHECK_INTERVAL_SECS: i32 = 1;
const HEALTH_CHECK_TIMEOUT_SECS: i32 = 1;
/// Consecutive passes (or failures) that make a target healthy (or unhealthy).
const HEALTH_THRESHOLD: i32 = 2;
/// local-ecs has one network: any VPC id will do, but CreateTargetGroup wants one.
const VPC: &str = "vpc-local";

/// What to stand up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSpec {
    /// ECS cluster name.
    pub cluster: String,
    /// Target group name.
    pub target_group: String,
    /// `Instance` for tasks in bridge mode, `Ip` for awsvpc tasks.
    pub target_type: TargetTypeEnum,
    /// The target group's port: the container port.
    pub target_port: i32,
    /// The path the health check GETs (200 is healthy).
    pub health_check_path: String,
    /// How long a deregistered target drains before its task is stopped.
    pub deregistration_delay_secs: u32,
    /// Load balancer name.
    pub load_balancer: String,
    /// The load balancer's subnets (two, as an ALB requires).
    pub subnets: Vec<String>,
    /// The port the listener asks for (local-ecs binds another when it is taken).
    pub listener_port: i32,
}

/// A stack that stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// ECS cluster name.
    pub cluster: String,
    /// The target group services register their tasks in.
    pub target_group_arn: String,
    /// The load balancer.
    pub load_balancer_arn: String,
    /// The port the listener actually serves on (127.0.0.1 on local-ecs).
    pub listener_port: u16,
}

/// A piece [`ensure_stack`] had to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The cluster, by name.
    Cluster(String),
    /// The target group, by name, with its health check path and deregistration delay.
    TargetGroup {
        /// Its name.
        name: String,
        /// The path its health check GETs.
        health_check_path: String,
        /// Its deregistration delay in seconds.
        deregistration_delay_secs: u32,
    },
    /// The load balancer, by name.
    LoadBalancer(String),
    /// The listener, on the port it serves.
    Listener {
        /// The port bound.
        port: u16,
    },
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Created::Cluster(name) => write!(f, "created cluster {name}"),
            Created::TargetGroup {
                name,
                health_check_path,
                deregistration_delay_secs,
            } => write!(
                f,
                "created target group {name} (GET {health_check_path} every {HEALTH_CHECK_INTERVAL_SECS} s, deregistration delay {deregistration_delay_secs} s)"
            ),
            Created::LoadBalancer(name) => write!(f, "created load balancer {name}"),
            Created::Listener { port } => write!(f, "created listener on 127.0.0.1:{port}"),
        }
    }
}

/// Finds or creates each piece of `spec`, telling `on_created` about each one it creates.
pub async fn ensure_stack(
    ecs: &aws_sdk_ecs::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    spec: &StackSpec,
    on_created: &dyn Fn(&Created),
) -> Result<Stack> {
    ensure_cluster(ecs, &spec.cluster, on_created).await?;
    let target_group_arn = ensure_target_group(elb, spec, on_created).await?;
    let load_balancer_arn = ensure_load_balancer(elb, spec, on_created).await?;
    let listener_port = ensure_listener(
        elb,
        &load_balancer_arn,
        &target_group_arn,
        spec.listener_port,
        on_created,
    )
    .await?;
    Ok(Stack {
        cluster: spec.cluster.clone(),
        target_group_arn,
        load_balancer_arn,
        listener_port,
    })
}

async fn ensure_cluster(
    ecs: &aws_sdk_ecs::Client,
    name: &str,
    on_created: &dyn Fn(&Created),
) -> Result<()> {
    let found = ecs
        .describe_clusters()
        .clusters(name)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ecs:DescribeClusters", e))?;
    if found
        .clusters()
        .iter()
        .any(|c| c.status() == Some("ACTIVE"))
    {
        return Ok(());
    }
    ecs.create_cluster()
        .cluster_name(name)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ecs:CreateCluster", e))?;
    on_created(&Created::Cluster(name.to_owned()));
    Ok(())
}

async fn ensure_target_group(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    spec: &StackSpec,
    on_created: &dyn Fn(&Created),
) -> Result<String> {
    const DESCRIBE: &str = "elasticloadbalancing:DescribeTargetGroups";
    const CREATE: &str = "elasticloadbalancing:CreateTargetGroup";
    let found = by_name(
        elb.describe_target_groups()
            .names(&spec.target_group)
            .send()
            .await,
        DescribeTargetGroupsError::is_target_group_not_found_exception,
        DESCRIBE,
    )?;
    if let Some(group) = found.as_ref().and_then(|f| f.target_groups().first()) {
        return arn(group.target_group_arn(), DESCRIBE, "target group ARN");
    }
    let created = elb
        .create_target_group()
        .name(&spec.target_group)
        .protocol(ProtocolEnum::Http)
        .port(spec.target_port)
        .target_type(spec.target_type.clone())
        .vpc_id(VPC)
        .health_check_path(&spec.health_check_path)
        .health_check_interval_seconds(HEALTH_CHECK_INTERVAL_SECS)
        .health_check_timeout_seconds(HEALTH_CHECK_TIMEOUT_SECS)
        .healthy_threshold_count(HEALTH_THRESHOLD)
        .unhealthy_threshold_count(HEALTH_THRESHOLD)
        .send()
        .await
        .map_err(|e| Error::from_sdk(CREATE, e))?;
    let group_arn = arn(
        created
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn()),
        CREATE,
        "target group ARN",
    )?;
    elb.modify_target_group_attributes()
        .target_group_arn(&group_arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value(spec.deregistration_delay_secs.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:ModifyTargetGroupAttributes", e))?;
    on_created(&Created::TargetGroup {
        name: spec.target_group.clone(),
        health_check_path: spec.health_check_path.clone(),
        deregistration_delay_secs: spec.deregistration_delay_secs,
    });
    Ok(group_arn)
}

async fn ensure_load_balancer(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    spec: &StackSpec,
    on_created: &dyn Fn(&Created),
) -> Result<String> {
    const DESCRIBE: &str = "elasticloadbalancing:DescribeLoadBalancers";
    const CREATE: &str = "elasticloadbalancing:CreateLoadBalancer";
    let found = by_name(
        elb.describe_load_balancers()
            .names(&spec.load_balancer)
            .send()
            .await,
        DescribeLoadBalancersError::is_load_balancer_not_found_exception,
        DESCRIBE,
    )?;
    if let Some(balancer) = found.as_ref().and_then(|f| f.load_balancers().first()) {
        return arn(balancer.load_balancer_arn(), DESCRIBE, "load balancer ARN");
    }
    let created = elb
        .create_load_balancer()
        .name(&spec.load_balancer)
        .set_subnets(Some(spec.subnets.clone()))
        .send()
        .await
        .map_err(|e| Error::from_sdk(CREATE, e))?;
    let balancer_arn = arn(
        created
            .load_balancers()
            .first()
            .and_then(|b| b.load_balancer_arn()),
        CREATE,
        "load balancer ARN",
    )?;
    on_created(&Created::LoadBalancer(spec.load_balancer.clone()));
    Ok(balancer_arn)
}

/// The load balancer's listener (the first, when it has any), else a new one forwarding to
/// the target group; returns the port it serves.
async fn ensure_listener(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    load_balancer_arn: &str,
    target_group_arn: &str,
    port: i32,
    on_created: &dyn Fn(&Created),
) -> Result<u16> {
    const DESCRIBE: &str = "elasticloadbalancing:DescribeListeners";
    const CREATE: &str = "elasticloadbalancing:CreateListener";
    let found = elb
        .describe_listeners()
        .load_balancer_arn(load_balancer_arn)
        .send()
        .await
        .map_err(|e| Error::from_sdk(DESCRIBE, e))?;
    if let Some(listener) = found.listeners().first() {
        return port_of(Some(listener), DESCRIBE);
    }
    let created = elb
        .create_listener()
        .load_balancer_arn(load_balancer_arn)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(target_group_arn)
                .build(),
        )
        .send()
        .await
        .map_err(|e| Error::from_sdk(CREATE, e))?;
    let bound = port_of(created.listeners().first(), CREATE)?;
    on_created(&Created::Listener { port: bound });
    Ok(bound)
}

/// The answer of a lookup by name; None when the service says nothing has that name.
fn by_name<O, E, R>(
    described: Result<O, SdkError<E, R>>,
    is_not_found: fn(&E) -> bool,
    action: &'static str,
) -> Result<Option<O>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match described {
        Ok(found) => Ok(Some(found)),
        Err(err) if err.as_service_error().is_some_and(is_not_found) => Ok(None),
        Err(err) => Err(Error::from_sdk(action, err)),
    }
}

fn arn(value: Option<&str>, action: &'static str, what: &str) -> Result<String> {
    value
        .map(str::to_owned)
        .ok_or_else(|| Error::missing(action, what))
}

fn port_of(listener: Option<&Listener>, action: &'static str) -> Result<u16> {
    listener
        .and_then(Listener::port)
        .and_then(|port| u16::try_from(port).ok())
        .ok_or_else(|| Error::missing(action, "listener port"))
}
