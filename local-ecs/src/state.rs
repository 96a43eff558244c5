//! The control plane's model: every resource the three APIs manage, in one structure behind
//! one lock. What survives a restart is serialized by `store`; runtime-only parts (tasks,
//! targets, health counters) are marked `serde(skip)`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use crate::ids;

/// How many events a service keeps, as ECS does.
pub const MAX_SERVICE_EVENTS: usize = 100;

/// Every resource, keyed the way the APIs look them up.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// ECS clusters by name.
    pub clusters: BTreeMap<String, Cluster>,
    /// Task definition revisions by family; index `i` holds revision `i + 1`.
    pub task_definitions: BTreeMap<String, Vec<TaskDefinition>>,
    /// ECS services, in creation order.
    pub services: Vec<Service>,
    /// ECS tasks by task id (not persisted: a restart starts services' tasks afresh).
    #[serde(skip)]
    pub tasks: BTreeMap<String, Task>,
    /// ECR repositories by name.
    pub repositories: BTreeMap<String, Repository>,
    /// Registry passwords handed out by GetAuthorizationToken.
    pub auth_tokens: Vec<AuthToken>,
    /// ELBv2 load balancers.
    pub load_balancers: Vec<LoadBalancer>,
    /// ELBv2 target groups.
    pub target_groups: Vec<TargetGroup>,
    /// ELBv2 listeners.
    pub listeners: Vec<Listener>,
    /// ELBv2 listener rules (the default rule of each listener is implied, not stored).
    pub rules: Vec<Rule>,
    /// Every API/registry port this state directory has been served on. Task definitions
    /// name images as `127.0.0.1:PORT/...`; a restart on another port must still pull them.
    #[serde(default)]
    pub served_ports: std::collections::BTreeSet<u16>,
    /// Set by every change that must reach the state file.
    #[serde(skip)]
    pub dirty: bool,
}

/// An ECS cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    /// `clusterName`.
    pub name: String,
    /// `clusterArn`.
    pub arn: String,
    /// `tags` as sent.
    pub tags: Value,
    /// `settings` as sent (containerInsights).
    pub settings: Value,
}

/// One revision of a task definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDefinition {
    /// `family`.
    pub family: String,
    /// `revision`.
    pub revision: i64,
    /// `taskDefinitionArn`.
    pub arn: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// The registered definition as sent (minus `tags`), with the fields AWS adds.
    pub body: Value,
    /// `tags` as sent.
    pub tags: Value,
    /// `registeredAt`.
    pub registered_at: SystemTime,
    /// `deregisteredAt`, once deregistered.
    pub deregistered_at: Option<SystemTime>,
}

/// `deploymentConfiguration.deploymentCircuitBreaker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    /// `enable`.
    pub enable: bool,
    /// `rollback`.
    pub rollback: bool,
}

/// An entry of a service's `loadBalancers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLoadBalancer {
    /// `targetGroupArn`.
    pub target_group_arn: String,
    /// `containerName`.
    pub container_name: String,
    /// `containerPort`.
    pub container_port: i64,
}

/// A service event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceEvent {
    /// `id`.
    pub id: String,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `message`.
    pub message: String,
}

/// A deployment of a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    /// `id` (`ecs-svc/...`).
    pub id: String,
    /// `PRIMARY` or `ACTIVE` (INACTIVE deployments are dropped).
    pub status: String,
    /// `taskDefinition` (ARN).
    pub task_definition: String,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `updatedAt`.
    pub updated_at: SystemTime,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub rollout_state: String,
    /// `rolloutStateReason`.
    pub rollout_state_reason: String,
    /// `failedTasks`: consecutive failures, counted until a task of this deployment is healthy.
    pub failed_tasks: i64,
    /// The circuit breaker stopped evaluating: a task of this deployment reached health.
    pub monitoring_complete: bool,
    /// `launchType`, when the service has one.
    pub launch_type: Option<String>,
    /// `networkConfiguration` as sent.
    pub network_configuration: Value,
}

/// The deployment a circuit breaker rolls back to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedDeployment {
    /// Its id.
    pub id: String,
    /// Its task definition ARN.
    pub task_definition: String,
}

/// An ECS service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    /// `serviceName`.
    pub name: String,
    /// `serviceArn`.
    pub arn: String,
    /// The cluster's name.
    pub cluster_name: String,
    /// `clusterArn`.
    pub cluster_arn: String,
    /// `taskDefinition`: the primary deployment's.
    pub task_definition: String,
    /// `desiredCount`.
    pub desired_count: i64,
    /// `deploymentConfiguration.minimumHealthyPercent`.
    pub minimum_healthy_percent: i64,
    /// `deploymentConfiguration.maximumPercent`.
    pub maximum_percent: i64,
    /// `deploymentConfiguration.deploymentCircuitBreaker`.
    pub circuit_breaker: CircuitBreaker,
    /// `loadBalancers`.
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// `healthCheckGracePeriodSeconds`.
    pub health_check_grace_period: i64,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `launchType`, when given.
    pub launch_type: Option<String>,
    /// `events`, newest first.
    pub events: VecDeque<ServiceEvent>,
    /// `deployments`, PRIMARY first.
    pub deployments: Vec<Deployment>,
    /// The newest deployment that reached COMPLETED (what a rollback goes back to).
    pub last_completed: Option<CompletedDeployment>,
    /// Fields echoed as sent: networkConfiguration, platformVersion, tags, propagateTags, ...
    pub echoed: Value,
    /// Scheduler bookkeeping that does not survive a restart.
    #[serde(skip)]
    pub runtime: ServiceRuntime,
}

/// Scheduler bookkeeping for a service.
#[derive(Debug, Clone, Default)]
pub struct ServiceRuntime {
    /// When the "unable to stop or start tasks" event was last sent for the current stall.
    pub stall_reported_at: Option<Instant>,
    /// When "has reached a steady state." was last sent.
    pub steady_reported_at: Option<Instant>,
}

impl Service {
    /// Adds an event, newest first, keeping at most [`MAX_SERVICE_EVENTS`].
    pub fn push_event(&mut self, message: String) {
        tracing::info!(service = %self.name, "{message}");
        self.events.push_front(ServiceEvent {
            id: ids::uuid(),
            created_at: SystemTime::now(),
            message,
        });
        self.events.truncate(MAX_SERVICE_EVENTS);
    }

    /// The PRIMARY deployment.
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }
}

/// The lifecycle states of an ECS task, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskStatus {
    /// Created, nothing done yet.
    Provisioning,
    /// Pulling and unpacking images, starting processes.
    Pending,
    /// Processes running.
    Running,
    /// Deregistering targets (connection draining).
    Deactivating,
    /// SIGTERM sent, waiting for processes to exit.
    Stopping,
    /// Every process has exited.
    Stopped,
}

impl TaskStatus {
    /// The wire name (`lastStatus`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Stopped => "STOPPED",
        }
    }
}

/// One container of a task.
#[derive(Debug, Clone)]
pub struct ContainerRun {
    /// `name`.
    pub name: String,
    /// `containerArn`.
    pub arn: String,
    /// `image` as in the task definition.
    pub image: String,
    /// `imageDigest`, once resolved.
    pub image_digest: Option<String>,
    /// `lastStatus`: PENDING, RUNNING or STOPPED.
    pub last_status: &'static str,
    /// `exitCode`.
    pub exit_code: Option<i32>,
    /// `reason`.
    pub reason: Option<String>,
    /// The process id (reported as `runtimeId`).
    pub pid: Option<u32>,
    /// The first port mapping's containerPort.
    pub container_port: Option<u16>,
    /// The loopback port the process was told to listen on (`PORT`).
    pub host_port: Option<u16>,
    /// `healthStatus`: HEALTHY, UNHEALTHY or UNKNOWN.
    pub health_status: &'static str,
    /// Whether the task stops when this container exits.
    pub essential: bool,
    /// Whether the task definition gives it a `healthCheck`.
    pub has_health_check: bool,
}

/// An ECS task: its state as DescribeTasks reports it, plus what the scheduler needs.
#[derive(Debug, Clone)]
pub struct Task {
    /// The 32-hex task id.
    pub id: String,
    /// `taskArn`.
    pub arn: String,
    /// The cluster's name.
    pub cluster_name: String,
    /// `clusterArn`.
    pub cluster_arn: String,
    /// `taskDefinitionArn`.
    pub task_definition_arn: String,
    /// `group` (`service:NAME` or `family:FAMILY`).
    pub group: String,
    /// `startedBy`.
    pub started_by: Option<String>,
    /// The service that owns the task.
    pub service_arn: Option<String>,
    /// The deployment that started the task.
    pub deployment_id: Option<String>,
    /// `lastStatus`.
    pub last_status: TaskStatus,
    /// `desiredStatus`: RUNNING or STOPPED.
    pub desired_status: &'static str,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `pullStartedAt`.
    pub pull_started_at: Option<SystemTime>,
    /// `pullStoppedAt`.
    pub pull_stopped_at: Option<SystemTime>,
    /// `startedAt`.
    pub started_at: Option<SystemTime>,
    /// `stoppingAt`.
    pub stopping_at: Option<SystemTime>,
    /// `stoppedAt`.
    pub stopped_at: Option<SystemTime>,
    /// `stopCode`.
    pub stop_code: Option<&'static str>,
    /// `stoppedReason`.
    pub stopped_reason: Option<String>,
    /// `containers`.
    pub containers: Vec<ContainerRun>,
    /// `launchType`.
    pub launch_type: String,
    /// `cpu`, `memory` from the task definition.
    pub cpu: Option<String>,
    /// See `cpu`.
    pub memory: Option<String>,
    /// `version`: bumped on every change.
    pub version: i64,
    /// Target registrations: (target group ARN, port).
    pub targets: Vec<(String, u16)>,
    /// Wakes the task's lifecycle when its desired status becomes STOPPED.
    pub stop_signal: Arc<Notify>,
    /// When the task reached RUNNING (for the health check grace period).
    pub running_since: Option<Instant>,
    /// Whether the task ever counted as healthy.
    pub was_healthy: bool,
    /// Stopped for failing health checks (counts toward the circuit breaker).
    pub health_check_failure: bool,
    /// Skip connection draining when stopping (local-ecs is shutting down).
    pub skip_draining: bool,
    /// `tags` propagated to the task.
    pub tags: Value,
}

impl Task {
    /// Marks the task to be stopped; its lifecycle picks this up.
    pub fn request_stop(&mut self, code: &'static str, reason: String) {
        if self.desired_status == "STOPPED" {
            return;
        }
        self.desired_status = "STOPPED";
        self.stop_code.get_or_insert(code);
        self.stopped_reason.get_or_insert(reason);
        self.version += 1;
        self.stop_signal.notify_one();
    }

    /// `healthStatus` of the task: from its essential containers that have health checks.
    pub fn health_status(&self) -> &'static str {
        let checked: Vec<&ContainerRun> = self
            .containers
            .iter()
            .filter(|c| c.essential && c.has_health_check)
            .collect();
        if checked.iter().any(|c| c.health_status == "UNHEALTHY") {
            "UNHEALTHY"
        } else if !checked.is_empty() && checked.iter().all(|c| c.health_status == "HEALTHY") {
            "HEALTHY"
        } else {
            "UNKNOWN"
        }
    }
}

/// An image manifest stored in a repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The manifest's media type.
    pub media_type: String,
    /// `imageSizeInBytes`: the manifest's layers and config (or its own size for an index).
    pub size: u64,
    /// `imagePushedAt`.
    pub pushed_at: SystemTime,
    /// The config's media type (`artifactMediaType`).
    pub artifact_media_type: Option<String>,
}

/// An ECR repository and the registry content linked to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repository {
    /// `repositoryName`.
    pub name: String,
    /// `repositoryArn`.
    pub arn: String,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `imageTagMutability`: MUTABLE or IMMUTABLE.
    pub tag_mutability: String,
    /// `imageScanningConfiguration.scanOnPush`.
    pub scan_on_push: bool,
    /// `encryptionConfiguration`.
    pub encryption: Value,
    /// `tags` as sent.
    pub tags: Value,
    /// Manifests by digest.
    pub images: BTreeMap<String, ImageRecord>,
    /// Tags: tag → manifest digest.
    pub image_tags: BTreeMap<String, String>,
    /// Blobs pushed to (or mounted into) this repository.
    pub blobs: BTreeSet<String>,
}

/// A registry password from GetAuthorizationToken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthToken {
    /// The password (user is always `AWS`).
    pub password: String,
    /// When it stops working.
    pub expires_at: SystemTime,
}

/// An Application Load Balancer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// `LoadBalancerArn`.
    pub arn: String,
    /// `LoadBalancerName`.
    pub name: String,
    /// The region it was created in.
    pub region: String,
    /// `Scheme`.
    pub scheme: String,
    /// `Type`.
    pub lb_type: String,
    /// `IpAddressType`.
    pub ip_address_type: String,
    /// `VpcId`.
    pub vpc_id: String,
    /// Subnets as sent.
    pub subnets: Vec<String>,
    /// `SecurityGroups`.
    pub security_groups: Vec<String>,
    /// `CreatedTime`.
    pub created_at: SystemTime,
    /// `Tags` as sent.
    pub tags: Value,
}

/// A target group's health check settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthCheck {
    /// `HealthCheckEnabled`.
    pub enabled: bool,
    /// `HealthCheckProtocol`.
    pub protocol: String,
    /// `HealthCheckPort`: `traffic-port` or a number.
    pub port: String,
    /// `HealthCheckPath`.
    pub path: String,
    /// `HealthCheckIntervalSeconds`.
    pub interval_seconds: i64,
    /// `HealthCheckTimeoutSeconds`.
    pub timeout_seconds: i64,
    /// `HealthyThresholdCount`.
    pub healthy_threshold: i64,
    /// `UnhealthyThresholdCount`.
    pub unhealthy_threshold: i64,
    /// `Matcher.HttpCode`.
    pub matcher: String,
}

/// `State` of a target, as DescribeTargetHealth reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Registration in progress or first checks.
    Initial,
    /// Passed the healthy threshold.
    Healthy,
    /// Failed the unhealthy threshold.
    Unhealthy,
    /// The target group gets no traffic from a load balancer.
    Unused,
    /// Being deregistered.
    Draining,
    /// Health checks are disabled.
    Unavailable,
}

impl TargetState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Initial => "initial",
            TargetState::Healthy => "healthy",
            TargetState::Unhealthy => "unhealthy",
            TargetState::Unused => "unused",
            TargetState::Draining => "draining",
            TargetState::Unavailable => "unavailable",
        }
    }
}

/// A registered target.
#[derive(Debug, Clone)]
pub struct Target {
    /// `Id` (always `127.0.0.1` here).
    pub id: String,
    /// `Port`: the task's host port.
    pub port: u16,
    /// The task it belongs to.
    pub task_id: Option<String>,
    /// Its state.
    pub state: TargetState,
    /// `Reason` (`Elb.InitialHealthChecking`, `Target.Timeout`, ...).
    pub reason: Option<&'static str>,
    /// `Description`.
    pub description: Option<String>,
    /// Consecutive passing checks.
    pub passes: i64,
    /// Consecutive failing checks.
    pub failures: i64,
    /// Whether any check ran yet.
    pub checked: bool,
    /// When draining ends and the target is removed.
    pub drain_until: Option<Instant>,
}

/// An ELBv2 target group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetGroup {
    /// `TargetGroupArn`.
    pub arn: String,
    /// `TargetGroupName`.
    pub name: String,
    /// `Protocol`.
    pub protocol: String,
    /// `Port`.
    pub port: i64,
    /// `VpcId`.
    pub vpc_id: String,
    /// `TargetType`.
    pub target_type: String,
    /// `ProtocolVersion`.
    pub protocol_version: String,
    /// `IpAddressType`.
    pub ip_address_type: String,
    /// Health check settings.
    pub health_check: HealthCheck,
    /// Attributes (`deregistration_delay.timeout_seconds`, ...).
    pub attributes: BTreeMap<String, String>,
    /// `Tags` as sent.
    pub tags: Value,
    /// Registered targets (runtime only: they belong to tasks).
    #[serde(skip)]
    pub targets: Vec<Target>,
    /// Round-robin position.
    #[serde(skip)]
    pub next_target: usize,
}

impl TargetGroup {
    /// `deregistration_delay.timeout_seconds`.
    pub fn deregistration_delay(&self) -> std::time::Duration {
        let secs = self
            .attributes
            .get("deregistration_delay.timeout_seconds")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300);
        std::time::Duration::from_secs(secs)
    }
}

/// An ELBv2 listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listener {
    /// `ListenerArn`.
    pub arn: String,
    /// `LoadBalancerArn`.
    pub load_balancer_arn: String,
    /// `Protocol`.
    pub protocol: String,
    /// The port asked for in CreateListener.
    pub requested_port: u16,
    /// The loopback port actually bound (reported as `Port`).
    pub bound_port: u16,
    /// `DefaultActions`, normalized to AWS's shape.
    pub default_actions: Value,
    /// `SslPolicy`, `Certificates`, `AlpnPolicy` as sent.
    pub echoed: Value,
    /// `Tags` as sent.
    pub tags: Value,
}

/// A listener rule (non-default).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    /// `RuleArn`.
    pub arn: String,
    /// The listener it belongs to.
    pub listener_arn: String,
    /// `Priority`.
    pub priority: i64,
    /// `Conditions`, normalized to AWS's shape.
    pub conditions: Value,
    /// `Actions`, normalized to AWS's shape.
    pub actions: Value,
    /// `Tags` as sent.
    pub tags: Value,
}

impl State {
    /// The service with `name` (or ARN) in the cluster named `cluster`.
    pub fn service_mut(&mut self, cluster: &str, name_or_arn: &str) -> Option<&mut Service> {
        let name = ids::arn_tail(name_or_arn);
        self.services
            .iter_mut()
            .rev()
            .find(|s| s.cluster_name == cluster && s.name == name)
    }

    /// The service with `arn`.
    pub fn service_by_arn_mut(&mut self, arn: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.arn == arn)
    }

    /// The task definition revision named by an ARN, `family:revision` or `family` (latest
    /// ACTIVE).
    pub fn task_definition(&self, reference: &str) -> Option<&TaskDefinition> {
        let reference = reference
            .strip_prefix("arn:")
            .and_then(|_| reference.split_once(":task-definition/").map(|(_, r)| r))
            .unwrap_or(reference);
        match reference.rsplit_once(':') {
            Some((family, revision)) => {
                let revision: usize = revision.parse().ok()?;
                self.task_definitions
                    .get(family)?
                    .get(revision.checked_sub(1)?)
            }
            None => self
                .task_definitions
                .get(reference)?
                .iter()
                .rev()
                .find(|td| td.status == "ACTIVE"),
        }
    }

    /// The target group with `arn`.
    pub fn target_group_mut(&mut self, arn: &str) -> Option<&mut TargetGroup> {
        self.target_groups.iter_mut().find(|tg| tg.arn == arn)
    }

    /// The target group with `arn`.
    pub fn target_group(&self, arn: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|tg| tg.arn == arn)
    }

    /// ARNs of the load balancers whose listeners forward to the target group.
    pub fn load_balancers_of_target_group(&self, tg_arn: &str) -> Vec<String> {
        let mut arns: Vec<String> = Vec::new();
        for listener in &self.listeners {
            let in_rules = self
                .rules
                .iter()
                .filter(|r| r.listener_arn == listener.arn)
                .any(|r| actions_forward_to(&r.actions, tg_arn));
            if (actions_forward_to(&listener.default_actions, tg_arn) || in_rules)
                && !arns.contains(&listener.load_balancer_arn)
            {
                arns.push(listener.load_balancer_arn.clone());
            }
        }
        arns
    }
}

/// Whether normalized actions forward to the target group.
pub fn actions_forward_to(actions: &Value, tg_arn: &str) -> bool {
    actions.as_array().is_some_and(|actions| {
        actions.iter().any(|a| {
            a.get("TargetGroupArn").and_then(Value::as_str) == Some(tg_arn)
                || a.pointer("/ForwardConfig/TargetGroups")
                    .and_then(Value::as_array)
                    .is_some_and(|tgs| {
                        tgs.iter().any(|t| {
                            t.get("TargetGroupArn").and_then(Value::as_str) == Some(tg_arn)
                        })
                    })
        })
    })
}
