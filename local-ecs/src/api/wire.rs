//! AWS's spelling of every status the state keeps: the one place where they become strings.

use crate::state::{
    AlarmState, ContainerStatus, ControllerType, DeploymentStatus, DesiredStatus, HealthStatus,
    HookAction, HookStage, HookStatus, HookTarget, LifecycleStage, MonitorStatus, RolloutState,
    ServiceDeploymentStatus, ServiceStatus, StopCode, Strategy, TargetReason, TargetState,
    TaskDefinitionStatus, TaskStatus,
};

/// A status as AWS writes it on the wire.
pub trait Wire: Copy {
    /// The wire name (`PRIMARY`, `IN_PROGRESS`, `healthy`, `Target.Timeout`, ...).
    fn wire(self) -> &'static str;
}

impl Wire for ServiceStatus {
    fn wire(self) -> &'static str {
        match self {
            ServiceStatus::Active => "ACTIVE",
            ServiceStatus::Draining => "DRAINING",
            ServiceStatus::Inactive => "INACTIVE",
        }
    }
}

impl Wire for DeploymentStatus {
    fn wire(self) -> &'static str {
        match self {
            DeploymentStatus::Primary => "PRIMARY",
            DeploymentStatus::Active => "ACTIVE",
            DeploymentStatus::Inactive => "INACTIVE",
        }
    }
}

impl Wire for RolloutState {
    fn wire(self) -> &'static str {
        match self {
            RolloutState::InProgress => "IN_PROGRESS",
            RolloutState::Completed => "COMPLETED",
            RolloutState::Failed => "FAILED",
        }
    }
}

impl Wire for TaskDefinitionStatus {
    fn wire(self) -> &'static str {
        match self {
            TaskDefinitionStatus::Active => "ACTIVE",
            TaskDefinitionStatus::Inactive => "INACTIVE",
        }
    }
}

impl Wire for TaskStatus {
    fn wire(self) -> &'static str {
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

impl Wire for DesiredStatus {
    fn wire(self) -> &'static str {
        match self {
            DesiredStatus::Running => "RUNNING",
            DesiredStatus::Stopped => "STOPPED",
        }
    }
}

impl Wire for ContainerStatus {
    fn wire(self) -> &'static str {
        match self {
            ContainerStatus::Pending => "PENDING",
            ContainerStatus::Running => "RUNNING",
            ContainerStatus::Stopped => "STOPPED",
        }
    }
}

impl Wire for HealthStatus {
    fn wire(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "HEALTHY",
            HealthStatus::Unhealthy => "UNHEALTHY",
            HealthStatus::Unknown => "UNKNOWN",
        }
    }
}

impl Wire for StopCode {
    fn wire(self) -> &'static str {
        match self {
            StopCode::TaskFailedToStart => "TaskFailedToStart",
            StopCode::EssentialContainerExited => "EssentialContainerExited",
            StopCode::UserInitiated => "UserInitiated",
            StopCode::ServiceSchedulerInitiated => "ServiceSchedulerInitiated",
        }
    }
}

impl Wire for TargetState {
    fn wire(self) -> &'static str {
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

impl Wire for TargetReason {
    fn wire(self) -> &'static str {
        match self {
            TargetReason::RegistrationInProgress => "Elb.RegistrationInProgress",
            TargetReason::InitialHealthChecking => "Elb.InitialHealthChecking",
            TargetReason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            TargetReason::Timeout => "Target.Timeout",
            TargetReason::FailedHealthChecks => "Target.FailedHealthChecks",
            TargetReason::NotRegistered => "Target.NotRegistered",
            TargetReason::NotInUse => "Target.NotInUse",
            TargetReason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            TargetReason::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }
}

impl Wire for ServiceDeploymentStatus {
    fn wire(self) -> &'static str {
        match self {
            ServiceDeploymentStatus::Pending => "PENDING",
            ServiceDeploymentStatus::InProgress => "IN_PROGRESS",
            ServiceDeploymentStatus::StopRequested => "STOP_REQUESTED",
            ServiceDeploymentStatus::RollbackRequested => "ROLLBACK_REQUESTED",
            ServiceDeploymentStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            ServiceDeploymentStatus::Successful => "SUCCESSFUL",
            ServiceDeploymentStatus::Stopped => "STOPPED",
            ServiceDeploymentStatus::RollbackSuccessful => "ROLLBACK_SUCCESSFUL",
            ServiceDeploymentStatus::RollbackFailed => "ROLLBACK_FAILED",
        }
    }
}

/// Every ServiceDeployment status, for parsing filters.
pub const SERVICE_DEPLOYMENT_STATUSES: [ServiceDeploymentStatus; 9] = [
    ServiceDeploymentStatus::Pending,
    ServiceDeploymentStatus::InProgress,
    ServiceDeploymentStatus::StopRequested,
    ServiceDeploymentStatus::RollbackRequested,
    ServiceDeploymentStatus::RollbackInProgress,
    ServiceDeploymentStatus::Successful,
    ServiceDeploymentStatus::Stopped,
    ServiceDeploymentStatus::RollbackSuccessful,
    ServiceDeploymentStatus::RollbackFailed,
];

impl Wire for MonitorStatus {
    fn wire(self) -> &'static str {
        match self {
            MonitorStatus::Triggered => "TRIGGERED",
            MonitorStatus::Monitoring => "MONITORING",
            MonitorStatus::MonitoringComplete => "MONITORING_COMPLETE",
            MonitorStatus::Disabled => "DISABLED",
        }
    }
}

impl Wire for AlarmState {
    fn wire(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// Every alarm state, for parsing.
pub const ALARM_STATES: [AlarmState; 3] = [
    AlarmState::Ok,
    AlarmState::Alarm,
    AlarmState::InsufficientData,
];

impl Wire for ControllerType {
    fn wire(self) -> &'static str {
        match self {
            ControllerType::Ecs => "ECS",
            ControllerType::CodeDeploy => "CODE_DEPLOY",
            ControllerType::External => "EXTERNAL",
        }
    }
}

/// Every deployment controller type, for parsing.
pub const CONTROLLER_TYPES: [ControllerType; 3] = [
    ControllerType::Ecs,
    ControllerType::CodeDeploy,
    ControllerType::External,
];

impl Wire for Strategy {
    fn wire(self) -> &'static str {
        match self {
            Strategy::Rolling => "ROLLING",
            Strategy::BlueGreen => "BLUE_GREEN",
            Strategy::Linear => "LINEAR",
            Strategy::Canary => "CANARY",
        }
    }
}

/// Every deployment strategy, for parsing.
pub const STRATEGIES: [Strategy; 4] = [
    Strategy::Rolling,
    Strategy::BlueGreen,
    Strategy::Linear,
    Strategy::Canary,
];

impl Wire for HookStage {
    fn wire(self) -> &'static str {
        match self {
            HookStage::ReconcileService => "RECONCILE_SERVICE",
            HookStage::PreScaleUp => "PRE_SCALE_UP",
            HookStage::PostScaleUp => "POST_SCALE_UP",
            HookStage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            HookStage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            HookStage::PreProductionTrafficShift => "PRE_PRODUCTION_TRAFFIC_SHIFT",
            HookStage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            HookStage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }
}

/// Every stage a hook can run at, for parsing.
pub const HOOK_STAGES: [HookStage; 8] = [
    HookStage::ReconcileService,
    HookStage::PreScaleUp,
    HookStage::PostScaleUp,
    HookStage::TestTrafficShift,
    HookStage::PostTestTrafficShift,
    HookStage::PreProductionTrafficShift,
    HookStage::ProductionTrafficShift,
    HookStage::PostProductionTrafficShift,
];

impl Wire for HookAction {
    fn wire(self) -> &'static str {
        match self {
            HookAction::Continue => "CONTINUE",
            HookAction::Rollback => "ROLLBACK",
        }
    }
}

/// Every hook action, for parsing.
pub const HOOK_ACTIONS: [HookAction; 2] = [HookAction::Continue, HookAction::Rollback];

impl Wire for HookTarget {
    fn wire(self) -> &'static str {
        match self {
            HookTarget::AwsLambda => "AWS_LAMBDA",
            HookTarget::Pause => "PAUSE",
        }
    }
}

/// Every hook target type, for parsing.
pub const HOOK_TARGETS: [HookTarget; 2] = [HookTarget::AwsLambda, HookTarget::Pause];

impl Wire for HookStatus {
    fn wire(self) -> &'static str {
        match self {
            HookStatus::AwaitingAction => "AWAITING_ACTION",
            HookStatus::InProgress => "IN_PROGRESS",
            HookStatus::Succeeded => "SUCCEEDED",
            HookStatus::Failed => "FAILED",
            HookStatus::TimedOut => "TIMED_OUT",
        }
    }
}

impl Wire for LifecycleStage {
    fn wire(self) -> &'static str {
        match self {
            LifecycleStage::ReconcileService => "RECONCILE_SERVICE",
            LifecycleStage::PreScaleUp => "PRE_SCALE_UP",
            LifecycleStage::ScaleUp => "SCALE_UP",
            LifecycleStage::PostScaleUp => "POST_SCALE_UP",
            LifecycleStage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            LifecycleStage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            LifecycleStage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            LifecycleStage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
            LifecycleStage::BakeTime => "BAKE_TIME",
            LifecycleStage::CleanUp => "CLEAN_UP",
        }
    }
}

/// The value among `all` whose wire name is `text`.
pub fn parse_wire<T: Wire>(all: &[T], text: &str) -> Option<T> {
    all.iter().copied().find(|v| v.wire() == text)
}

/// `desiredStatus` of ListTasks: a filter, with PENDING meaning "to run, not running yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFilter {
    /// RUNNING.
    Running,
    /// PENDING.
    Pending,
    /// STOPPED.
    Stopped,
}

impl TaskFilter {
    /// Reads the wire name.
    pub fn parse(text: &str) -> Option<TaskFilter> {
        match text {
            "RUNNING" => Some(TaskFilter::Running),
            "PENDING" => Some(TaskFilter::Pending),
            "STOPPED" => Some(TaskFilter::Stopped),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The persisted statuses are stored with their wire spelling, so state files written
    /// before the enums existed still load.
    #[test]
    fn persisted_spelling_is_the_wire_spelling() {
        fn stored<T: serde::Serialize>(value: T) -> String {
            serde_json::to_value(value)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        }
        for s in [
            ServiceStatus::Active,
            ServiceStatus::Draining,
            ServiceStatus::Inactive,
        ] {
            assert_eq!(stored(s), s.wire());
        }
        for s in [
            DeploymentStatus::Primary,
            DeploymentStatus::Active,
            DeploymentStatus::Inactive,
        ] {
            assert_eq!(stored(s), s.wire());
        }
        for s in [
            RolloutState::InProgress,
            RolloutState::Completed,
            RolloutState::Failed,
        ] {
            assert_eq!(stored(s), s.wire());
        }
        for s in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive] {
            assert_eq!(stored(s), s.wire());
        }
        for s in SERVICE_DEPLOYMENT_STATUSES {
            assert_eq!(stored(s), s.wire());
        }
        for s in [
            MonitorStatus::Triggered,
            MonitorStatus::Monitoring,
            MonitorStatus::MonitoringComplete,
            MonitorStatus::Disabled,
        ] {
            assert_eq!(stored(s), s.wire());
        }
        for s in ALARM_STATES {
            assert_eq!(stored(s), s.wire());
        }
        for s in CONTROLLER_TYPES {
            assert_eq!(stored(s), s.wire());
            assert_eq!(parse_wire(&CONTROLLER_TYPES, s.wire()), Some(s));
        }
    }
}
