//! ECS resources: clusters, task definitions, services with their deployments and events,
//! and tasks with their containers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use super::deployments::{
    DeploymentAlarms, ServiceDeployment, ServiceLoadBalancer, ServiceRevision,
};
use super::status::{
    ContainerStatus, ControllerType, DeploymentStatus, DesiredStatus, HealthStatus, RolloutState,
    ServiceStatus, StopCode, TaskDefinitionStatus, TaskStatus,
};
use super::strategy::StrategySettings;
use crate::{events, ids};

/// How many events a service keeps, as ECS does.
pub const MAX_SERVICE_EVENTS: usize = 100;

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
    /// `status`.
    pub status: TaskDefinitionStatus,
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
    /// `status` (INACTIVE deployments are dropped from the list).
    pub status: DeploymentStatus,
    /// `taskDefinition` (ARN).
    pub task_definition: String,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `updatedAt`.
    pub updated_at: SystemTime,
    /// `rolloutState`.
    pub rollout_state: RolloutState,
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
    /// The service revision it runs (`service-revision/...`; empty in state written before
    /// revisions existed). A rollback runs the revision it goes back to.
    #[serde(default)]
    pub revision_arn: String,
    /// Since when it is settled while the deployment alarms' bake time runs.
    #[serde(skip)]
    pub baking_since: Option<Instant>,
    /// Its tasks register in the load balancers' alternate target groups
    /// (`advancedConfiguration.alternateTargetGroupArn`) rather than `targetGroupArn`.
    #[serde(default)]
    pub alternate: bool,
}

impl Deployment {
    /// A new PRIMARY deployment of `task_definition`, IN_PROGRESS, running its own revision
    /// (named after its id, as ECS names them) unless `revision_arn` is given.
    pub fn new(
        service_arn: &str,
        task_definition: &str,
        launch_type: Option<String>,
        network_configuration: Value,
        revision_arn: Option<String>,
    ) -> Deployment {
        let id = ids::deployment_id();
        let revision_arn =
            revision_arn.unwrap_or_else(|| ids::revision_arn(service_arn, ids::revision_id(&id)));
        let now = SystemTime::now();
        Deployment {
            rollout_state_reason: events::rollout_in_progress(&id),
            id,
            status: DeploymentStatus::Primary,
            task_definition: task_definition.to_owned(),
            created_at: now,
            updated_at: now,
            rollout_state: RolloutState::InProgress,
            failed_tasks: 0,
            monitoring_complete: false,
            launch_type,
            network_configuration,
            revision_arn,
            baking_since: None,
            alternate: false,
        }
    }
}

/// The deployment a circuit breaker rolls back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedDeployment {
    /// Its id.
    pub id: String,
    /// Its task definition ARN.
    pub task_definition: String,
    /// Its service revision (empty in state written before revisions existed).
    #[serde(default)]
    pub revision_arn: String,
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
    /// `status`.
    pub status: ServiceStatus,
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
    /// `deploymentController.type`.
    #[serde(default)]
    pub controller: ControllerType,
    /// `deploymentConfiguration.alarms`.
    #[serde(default)]
    pub alarms: DeploymentAlarms,
    /// Every service revision its deployments ran.
    #[serde(default)]
    pub revisions: Vec<ServiceRevision>,
    /// Its service deployments, oldest first.
    #[serde(default)]
    pub service_deployments: Vec<ServiceDeployment>,
    /// `deploymentConfiguration.strategy` and what goes with it.
    #[serde(default)]
    pub strategy: StrategySettings,
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
    /// `lastStatus`.
    pub last_status: ContainerStatus,
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
    /// `healthStatus`.
    pub health_status: HealthStatus,
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
    /// The service revision that deployment runs.
    pub service_revision: Option<String>,
    /// `lastStatus`.
    pub last_status: TaskStatus,
    /// `desiredStatus`.
    pub desired_status: DesiredStatus,
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
    pub stop_code: Option<StopCode>,
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
    /// Its targets, (target group ARN, port), from registration until the drain is over.
    pub targets: Vec<(String, u16)>,
    /// Whether the scheduler registered its targets (it does so once, when it is RUNNING).
    pub targets_registered: bool,
    /// Wakes the task's lifecycle when its desired status becomes STOPPED.
    pub stop_signal: Arc<Notify>,
    /// When the task reached RUNNING (for the health check grace period).
    pub running_since: Option<Instant>,
    /// Whether the task ever counted as healthy.
    pub was_healthy: bool,
    /// Stopped for failing health checks (counts toward the circuit breaker).
    pub health_check_failure: bool,
    /// The circuit breaker has seen this task stop.
    pub breaker_counted: bool,
    /// `tags` propagated to the task.
    pub tags: Value,
}

impl Task {
    /// Marks the task to be stopped; its lifecycle picks this up. The first reason given
    /// is the one reported.
    pub fn request_stop(&mut self, code: StopCode, reason: String) {
        if self.desired_status == DesiredStatus::Stopped {
            return;
        }
        self.desired_status = DesiredStatus::Stopped;
        self.stop_code.get_or_insert(code);
        self.stopped_reason.get_or_insert(reason);
        self.version += 1;
        self.stop_signal.notify_one();
    }

    /// `healthStatus` of the task: from its essential containers that have health checks.
    pub fn health_status(&self) -> HealthStatus {
        let checked: Vec<&ContainerRun> = self
            .containers
            .iter()
            .filter(|c| c.essential && c.has_health_check)
            .collect();
        if checked
            .iter()
            .any(|c| c.health_status == HealthStatus::Unhealthy)
        {
            HealthStatus::Unhealthy
        } else if !checked.is_empty()
            && checked
                .iter()
                .all(|c| c.health_status == HealthStatus::Healthy)
        {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unknown
        }
    }

    /// Whether any essential container has a health check.
    pub fn has_container_health_check(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.essential && c.has_health_check)
    }
}
