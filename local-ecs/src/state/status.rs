//! Every status the control plane keeps, as an enum. AWS spells them on the wire
//! (`api::wire`); the state file spells the persisted ones the same way, so a state
//! directory written before these enums existed still loads.

use serde::{Deserialize, Serialize};

/// A service's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceStatus {
    /// Serving: the scheduler keeps its desired count.
    Active,
    /// Deleted: its tasks are being stopped.
    Draining,
    /// Deleted and every task stopped.
    Inactive,
}

/// A deployment's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    /// The newest deployment: the one the scheduler fills to the desired count.
    Primary,
    /// An older deployment whose tasks are being replaced.
    Active,
    /// Every task replaced (such a deployment leaves the list).
    Inactive,
}

/// A deployment's `rolloutState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    /// Tasks are being started or replaced.
    InProgress,
    /// Every task of the deployment is healthy and the older ones are gone.
    Completed,
    /// The circuit breaker tripped.
    Failed,
}

/// A task definition revision's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskDefinitionStatus {
    /// Usable for new services and deployments.
    Active,
    /// Deregistered: running tasks keep it, nothing new may use it.
    Inactive,
}

/// The lifecycle states of an ECS task (`lastStatus`), in order.
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

/// A task's `desiredStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesiredStatus {
    /// Keep it running.
    Running,
    /// Stop it (drain, SIGTERM, SIGKILL).
    Stopped,
}

/// A container's `lastStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStatus {
    /// Not started yet.
    Pending,
    /// Its process runs.
    Running,
    /// Its process exited (or never started).
    Stopped,
}

/// `healthStatus` of a container (from its `healthCheck`) or of a task (from its essential
/// containers that have one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// The check passes.
    Healthy,
    /// The check failed `retries` times in a row.
    Unhealthy,
    /// No check, or no verdict yet.
    Unknown,
}

/// A stopped task's `stopCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCode {
    /// An image could not be pulled or a process could not be started.
    TaskFailedToStart,
    /// An essential container exited.
    EssentialContainerExited,
    /// StopTask.
    UserInitiated,
    /// The service scheduler replaced or scaled it in.
    ServiceSchedulerInitiated,
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

/// A target's `Reason`: why it is in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetReason {
    /// Just registered, no check yet.
    RegistrationInProgress,
    /// Checks run, the healthy threshold is not reached yet.
    InitialHealthChecking,
    /// The check answered with a status the matcher refuses.
    ResponseCodeMismatch,
    /// The check got no answer within the timeout.
    Timeout,
    /// The check failed (connection refused, no HTTP answer).
    FailedHealthChecks,
    /// Not in the target group.
    NotRegistered,
    /// The target group gets no traffic from a load balancer.
    NotInUse,
    /// Draining.
    DeregistrationInProgress,
    /// Health checks are disabled.
    HealthCheckDisabled,
}

impl TargetReason {
    /// The `Description` ELB gives with this reason when it has nothing more specific.
    pub fn description(self) -> &'static str {
        match self {
            TargetReason::RegistrationInProgress => "Target registration is in progress",
            TargetReason::InitialHealthChecking => "Initial health checks in progress",
            TargetReason::ResponseCodeMismatch => "Health checks failed",
            TargetReason::Timeout => "Request timed out",
            TargetReason::FailedHealthChecks => "Health checks failed",
            TargetReason::NotRegistered => "Target is not registered to the target group",
            TargetReason::NotInUse => {
                "Target group is not configured to receive traffic from the load balancer"
            }
            TargetReason::DeregistrationInProgress => "Target deregistration is in progress",
            TargetReason::HealthCheckDisabled => "Health checks are disabled",
        }
    }
}

/// A ServiceDeployment's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceDeploymentStatus {
    /// Created; the scheduler has not acted on it yet.
    Pending,
    /// Tasks of the target revision are being started and the old ones replaced.
    InProgress,
    /// A stop was asked for (not used by the ROLLBACK stop type).
    StopRequested,
    /// A rollback was asked for (by the circuit breaker, an alarm or StopServiceDeployment).
    RollbackRequested,
    /// The scheduler is rolling back to the last deployment that completed.
    RollbackInProgress,
    /// The target revision runs, alone and healthy (and the alarms' bake time is over).
    Successful,
    /// Stopped: failed without rollback, superseded by a newer deployment, or the service
    /// was deleted.
    Stopped,
    /// Rolled back to the last deployment that completed.
    RollbackSuccessful,
    /// The rollback failed, or there was nothing to roll back to.
    RollbackFailed,
}

impl ServiceDeploymentStatus {
    /// Still running: PENDING, IN_PROGRESS or one of the requested/in-progress states.
    pub fn is_ongoing(self) -> bool {
        matches!(
            self,
            ServiceDeploymentStatus::Pending
                | ServiceDeploymentStatus::InProgress
                | ServiceDeploymentStatus::StopRequested
                | ServiceDeploymentStatus::RollbackRequested
                | ServiceDeploymentStatus::RollbackInProgress
        )
    }
}

/// `status` of a ServiceDeployment's circuit breaker or alarms check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MonitorStatus {
    /// It failed the deployment.
    Triggered,
    /// It is watching the deployment.
    Monitoring,
    /// It stopped watching without failing the deployment.
    MonitoringComplete,
    /// It is not configured.
    Disabled,
}

/// A CloudWatch alarm's `StateValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// The metric is within the threshold.
    Ok,
    /// The metric breached the threshold.
    Alarm,
    /// Not enough data (every new alarm starts here).
    InsufficientData,
}

/// A service's `deploymentController.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControllerType {
    /// Rolling updates by the ECS scheduler.
    #[default]
    Ecs,
    /// Blue/green deployments through AWS CodeDeploy.
    CodeDeploy,
    /// Task sets managed by a third-party controller.
    External,
}
