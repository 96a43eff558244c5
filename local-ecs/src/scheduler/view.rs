//! What the scheduler looks at: a plain copy of the facts it decides from, taken under the
//! state lock. `plan` reads nothing else, so its rules can be tested on views written by hand.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use crate::state::{
    AlarmState, BlueGreenRun, CircuitBreaker, CompletedDeployment, DeploymentAlarms,
    DeploymentStatus, DesiredStatus, HealthStatus, RolloutState, ServiceDeploymentStatus,
    ServiceLoadBalancer, ServiceStatus, State, StopCode, TargetState, Task, TaskStatus,
};

/// Everything one scheduler pass decides from.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// local-ecs is shutting down: only drain and deregister, start nothing.
    pub shutting_down: bool,
    /// Every service, in creation order.
    pub services: Vec<ServiceView>,
    /// Every task still known, stopped ones included.
    pub tasks: Vec<TaskView>,
    /// Target groups by ARN, with their deregistration delay.
    pub target_groups: BTreeMap<String, Duration>,
    /// How often "has reached a steady state." is repeated.
    pub steady_state_event_interval: Duration,
    /// How long a stopped task stays visible.
    pub stopped_task_retention: Duration,
    /// At most this many stopped tasks are kept.
    pub max_stopped_tasks: usize,
    /// At most this many stopped tasks of each service are kept.
    pub stopped_tasks_per_service: usize,
    /// CloudWatch alarms by name.
    pub alarms: BTreeMap<String, AlarmView>,
    /// How long a minute of a blue/green deployment's bake and hook times lasts.
    pub minute: Duration,
}

/// A CloudWatch alarm, as the deployment alarms rule needs it.
#[derive(Debug, Clone, Copy)]
pub struct AlarmView {
    /// `StateValue`.
    pub state: AlarmState,
    /// When `StateValue` last changed.
    pub transitioned_at: SystemTime,
}

/// A service, as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct ServiceView {
    /// `serviceArn`: how actions name it.
    pub arn: String,
    /// `serviceName`, for event messages.
    pub name: String,
    /// `status`.
    pub status: ServiceStatus,
    /// `desiredCount`.
    pub desired: i64,
    /// `minimumHealthyPercent`.
    pub minimum_healthy_percent: i64,
    /// `maximumPercent`.
    pub maximum_percent: i64,
    /// `healthCheckGracePeriodSeconds`.
    pub grace: Duration,
    /// `deploymentCircuitBreaker`.
    pub breaker: CircuitBreaker,
    /// `deploymentConfiguration.alarms`.
    pub alarms: DeploymentAlarms,
    /// How long a settled deployment stays IN_PROGRESS while the alarms are watched.
    pub bake: Duration,
    /// `loadBalancers`: where new tasks' targets are registered.
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// `deployments`, PRIMARY first.
    pub deployments: Vec<DeploymentView>,
    /// What a rollback goes back to.
    pub last_completed: Option<CompletedDeployment>,
    /// When "has reached a steady state." was last sent.
    pub steady_reported_at: Option<Instant>,
    /// When the stall event was last sent for the current stall.
    pub stall_reported_at: Option<Instant>,
    /// The PRIMARY deployment's run through the lifecycle stages, while its service
    /// deployment (blue/green, linear or canary) is PENDING or IN_PROGRESS.
    pub blue_green: Option<BlueGreenRun>,
}

/// A deployment, as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct DeploymentView {
    /// `id`.
    pub id: String,
    /// `status`.
    pub status: DeploymentStatus,
    /// `taskDefinition` (ARN).
    pub task_definition: String,
    /// `rolloutState`.
    pub rollout_state: RolloutState,
    /// `failedTasks`.
    pub failed_tasks: i64,
    /// The circuit breaker stopped evaluating it.
    pub monitoring_complete: bool,
    /// The service deployment it belongs to, if any.
    pub owner: Option<OwnerView>,
    /// Since when it is settled while the alarms' bake time runs.
    pub baking_since: Option<Instant>,
    /// Its tasks register in the alternate target groups.
    pub alternate: bool,
}

/// The service deployment a deployment of the table belongs to.
#[derive(Debug, Clone, Copy)]
pub struct OwnerView {
    /// Its `status`.
    pub status: ServiceDeploymentStatus,
    /// The deployment carries its rollback out (rather than being the one it started).
    pub rollback_row: bool,
    /// Its `createdAt`: alarms that went into ALARM since then fail it.
    pub created_at: SystemTime,
}

impl DeploymentView {
    /// It carries a rollback out.
    pub fn is_rollback(&self) -> bool {
        self.owner.is_some_and(|o| o.rollback_row)
    }
}

/// A task, as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct TaskView {
    /// The task id.
    pub id: String,
    /// The service that owns it.
    pub service_arn: Option<String>,
    /// The deployment that started it.
    pub deployment_id: Option<String>,
    /// `lastStatus`.
    pub last_status: TaskStatus,
    /// `desiredStatus`.
    pub desired: DesiredStatus,
    /// `createdAt`: newer tasks are stopped first.
    pub created_at: SystemTime,
    /// `stoppedAt`.
    pub stopped_at: Option<SystemTime>,
    /// When it reached RUNNING (the grace period runs from there).
    pub running_since: Option<Instant>,
    /// Whether it ever counted as healthy.
    pub was_healthy: bool,
    /// Its container health (`healthStatus`).
    pub health: HealthStatus,
    /// Whether an essential container has a health check.
    pub container_health_checked: bool,
    /// `stopCode`.
    pub stop_code: Option<StopCode>,
    /// Stopped for failing health checks.
    pub health_check_failure: bool,
    /// The circuit breaker has seen it stop.
    pub breaker_counted: bool,
    /// Its targets were registered (or there was nothing to register).
    pub targets_registered: bool,
    /// Its targets, until their drain is over.
    pub targets: Vec<TargetView>,
    /// Its containers' port mappings: (container name, containerPort, host port).
    pub ports: Vec<(String, u16, u16)>,
}

/// One of a task's targets.
#[derive(Debug, Clone)]
pub struct TargetView {
    /// The target group's ARN.
    pub group: String,
    /// The task's host port.
    pub port: u16,
    /// Its state; `None` when the target group no longer holds it.
    pub state: Option<TargetState>,
    /// When its drain ends, once draining.
    pub drain_until: Option<Instant>,
}

impl TaskView {
    /// It runs and should keep running.
    pub fn is_running(&self) -> bool {
        self.last_status == TaskStatus::Running && self.desired == DesiredStatus::Running
    }

    /// Not yet STOPPED.
    pub fn is_alive(&self) -> bool {
        self.last_status != TaskStatus::Stopped
    }

    /// Owned by `service` and started by `deployment`.
    pub fn of_deployment(&self, deployment: &str) -> bool {
        self.deployment_id.as_deref() == Some(deployment)
    }
}

impl ServiceView {
    /// The PRIMARY deployment.
    pub fn primary(&self) -> Option<&DeploymentView> {
        self.deployments
            .iter()
            .find(|d| d.status == DeploymentStatus::Primary)
    }
}

impl View {
    /// Copies what the scheduler needs out of the state.
    pub fn of(state: &State, shutting_down: bool, timing: &crate::shared::Timing) -> View {
        View {
            shutting_down,
            services: state
                .services
                .iter()
                .map(|s| service_view(state, s, timing))
                .collect(),
            tasks: state.tasks.values().map(|t| task_view(state, t)).collect(),
            target_groups: state
                .target_groups
                .iter()
                .map(|tg| (tg.arn.clone(), tg.deregistration_delay()))
                .collect(),
            steady_state_event_interval: timing.steady_state_event_interval,
            stopped_task_retention: timing.stopped_task_retention,
            max_stopped_tasks: timing.max_stopped_tasks,
            stopped_tasks_per_service: timing.stopped_tasks_per_service,
            minute: timing.minute,
            alarms: state
                .alarms
                .values()
                .map(|a| {
                    let view = AlarmView {
                        state: a.state,
                        transitioned_at: a.state_transitioned_at,
                    };
                    (a.name.clone(), view)
                })
                .collect(),
        }
    }

    /// The tasks of a service.
    pub fn tasks_of<'v>(&'v self, service: &'v str) -> impl Iterator<Item = &'v TaskView> + 'v {
        self.tasks
            .iter()
            .filter(move |t| t.service_arn.as_deref() == Some(service))
    }

    /// The service with `arn`.
    pub fn service(&self, arn: Option<&str>) -> Option<&ServiceView> {
        let arn = arn?;
        self.services.iter().find(|s| s.arn == arn)
    }
}

/// The bake time of a service's deployment alarms: the longest evaluation time of the ones
/// that exist, divided by the timing's divisor.
fn bake_time(state: &State, alarms: &DeploymentAlarms, timing: &crate::shared::Timing) -> Duration {
    if !alarms.enable {
        return Duration::ZERO;
    }
    let longest = alarms
        .names
        .iter()
        .filter_map(|name| state.alarms.get(name))
        .map(|a| a.evaluation_time())
        .max()
        .unwrap_or_default();
    longest / timing.alarm_bake_divisor.max(1)
}

fn deployment_view(
    service: &crate::state::Service,
    d: &crate::state::Deployment,
) -> DeploymentView {
    let owner = service
        .service_deployment_of_row(&d.id)
        .map(|sd| OwnerView {
            status: sd.status,
            rollback_row: sd.is_rollback_row(&d.id),
            created_at: sd.created_at,
        });
    DeploymentView {
        id: d.id.clone(),
        status: d.status,
        task_definition: d.task_definition.clone(),
        rollout_state: d.rollout_state,
        failed_tasks: d.failed_tasks,
        monitoring_complete: d.monitoring_complete,
        owner,
        baking_since: d.baking_since,
        alternate: d.alternate,
    }
}

fn service_view(
    state: &State,
    service: &crate::state::Service,
    timing: &crate::shared::Timing,
) -> ServiceView {
    ServiceView {
        arn: service.arn.clone(),
        name: service.name.clone(),
        status: service.status,
        desired: service.desired_count.max(0),
        minimum_healthy_percent: service.minimum_healthy_percent,
        maximum_percent: service.maximum_percent,
        grace: Duration::from_secs(service.health_check_grace_period.max(0) as u64),
        breaker: service.circuit_breaker,
        alarms: service.alarms.clone(),
        bake: bake_time(state, &service.alarms, timing),
        load_balancers: service.load_balancers.clone(),
        deployments: service
            .deployments
            .iter()
            .map(|d| deployment_view(service, d))
            .collect(),
        last_completed: service.last_completed.clone(),
        steady_reported_at: service.runtime.steady_reported_at,
        stall_reported_at: service.runtime.stall_reported_at,
        blue_green: blue_green_of(service),
    }
}

/// The blue/green run of the PRIMARY deployment's own service deployment, while it goes on.
fn blue_green_of(service: &crate::state::Service) -> Option<BlueGreenRun> {
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary)?;
    service
        .service_deployment_of_row(&primary.id)
        .filter(|sd| sd.deployment_id == primary.id)
        .filter(|sd| {
            matches!(
                sd.status,
                ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress
            )
        })
        .and_then(|sd| sd.blue_green.clone())
}

fn task_view(state: &State, task: &Task) -> TaskView {
    let targets = task
        .targets
        .iter()
        .map(|(group, port)| {
            let target = state.target_group(group).and_then(|tg| {
                tg.targets
                    .iter()
                    .find(|t| t.port == *port && t.task_id.as_deref() == Some(&task.id))
            });
            TargetView {
                group: group.clone(),
                port: *port,
                state: target.map(|t| t.state),
                drain_until: target.and_then(|t| t.drain_until),
            }
        })
        .collect();
    TaskView {
        id: task.id.clone(),
        service_arn: task.service_arn.clone(),
        deployment_id: task.deployment_id.clone(),
        last_status: task.last_status,
        desired: task.desired_status,
        created_at: task.created_at,
        stopped_at: task.stopped_at,
        running_since: task.running_since,
        was_healthy: task.was_healthy,
        health: task.health_status(),
        container_health_checked: task.has_container_health_check(),
        stop_code: task.stop_code,
        health_check_failure: task.health_check_failure,
        breaker_counted: task.breaker_counted,
        targets_registered: task.targets_registered,
        targets,
        ports: task
            .containers
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.container_port?, c.host_port?)))
            .collect(),
    }
}
