//! Carrying a plan out on the state: the only place the scheduler changes anything. Task
//! processes are the runner's: a stopped task is only marked, a started one only recorded
//! (the caller launches it after the lock is released).

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use crate::events;
use crate::ids;
use crate::shared::Shared;
use crate::state::{
    CompletedDeployment, ContainerRun, ContainerStatus, Deployment, DeploymentStatus,
    DesiredStatus, HealthStatus, MonitorStatus, RollbackRecord, RolloutState, Service,
    ServiceDeploymentStatus, ServiceStatus, State, Task, TaskDefinition, TaskStatus,
};
use crate::targets;
use crate::taskdef;

use super::action::{Action, Failure, Plan};

#[path = "apply_stages.rs"]
mod stages;

/// What the caller does after the lock is released.
#[derive(Debug, Default)]
pub struct Applied {
    /// Tasks to launch.
    pub launches: Vec<String>,
    /// Forgotten tasks whose directories go.
    pub forgotten: Vec<String>,
}

/// Carries out every action of `plan`, in order.
pub fn apply(shared: &Arc<Shared>, state: &mut State, plan: Plan) -> Applied {
    let mut applied = Applied::default();
    if !plan.actions.is_empty() {
        state.dirty = true;
    }
    for action in plan.actions {
        apply_one(shared, state, action, &mut applied);
    }
    applied
}

fn apply_one(shared: &Arc<Shared>, state: &mut State, action: Action, applied: &mut Applied) {
    match action {
        Action::Event { service, message } => {
            if let Some(s) = state.service_by_arn_mut(&service) {
                s.push_event(message);
            }
        }
        Action::MarkHealthy { task } => with_task(state, &task, |t| t.was_healthy = true),
        Action::CompleteMonitoring {
            service,
            deployment,
        } => {
            with_deployment(state, &service, &deployment, |d| {
                d.monitoring_complete = true;
                d.failed_tasks = 0;
            });
            with_own_service_deployment(state, &service, &deployment, |sd| {
                if sd.breaker.status == MonitorStatus::Monitoring {
                    sd.breaker.status = MonitorStatus::MonitoringComplete;
                }
            });
        }
        Action::BreakerSaw { task } => with_task(state, &task, |t| t.breaker_counted = true),
        Action::CountFailure {
            service,
            deployment,
        } => {
            with_deployment(state, &service, &deployment, |d| {
                d.failed_tasks += 1;
                d.updated_at = SystemTime::now();
            });
            with_own_service_deployment(state, &service, &deployment, |sd| {
                sd.breaker.failure_count += 1;
                sd.updated_at = SystemTime::now();
            });
        }
        Action::Trip {
            service,
            deployment,
            cause,
            rollback_to,
            rollback_wanted,
        } => trip(
            state,
            &service,
            &deployment,
            cause,
            rollback_to,
            rollback_wanted,
        ),
        Action::Begin {
            service,
            deployment,
        } => begin(state, &service, &deployment),
        Action::Bake {
            service,
            deployment,
            since,
        } => with_deployment(state, &service, &deployment, |d| d.baking_since = since),
        Action::Start {
            service,
            deployment,
            task_definition,
            count,
        } => {
            let started = start(state, &service, &deployment, &task_definition, count);
            if let Some(s) = state.service_by_arn_mut(&service)
                && !started.is_empty()
            {
                let message = events::started_tasks(&s.name, &started);
                s.push_event(message);
            }
            applied.launches.extend(started);
        }
        Action::Stop {
            task,
            code,
            reason,
            health_check_failure,
        } => with_task(state, &task, |t| {
            t.health_check_failure |= health_check_failure;
            t.request_stop(code, reason);
        }),
        Action::Register { task, targets } => register(shared, state, &task, targets),
        Action::Drain {
            task: _,
            group,
            port,
            delay,
        } => targets::drain(shared, state, &group, port, delay),
        Action::Deregister { task, group, port } => {
            targets::remove(state, &group, port);
            with_task(state, &task, |t| {
                t.targets.retain(|(g, p)| !(*g == group && *p == port));
                // The runner waits for the drain to end before it signals the processes.
                t.stop_signal.notify_one();
            });
        }
        Action::Complete {
            service,
            deployment,
        } => complete(state, &service, &deployment),
        Action::Retire {
            service,
            deployment,
        } => {
            if let Some(s) = state.service_by_arn_mut(&service) {
                s.deployments.retain(|d| d.id != deployment);
            }
        }
        Action::Deactivate { service } => {
            if let Some(s) = state.service_by_arn_mut(&service) {
                s.status = ServiceStatus::Inactive;
                s.deployments
                    .retain(|d| d.status == DeploymentStatus::Primary);
                // ECS deletes a deleted service's service deployments.
                s.service_deployments.clear();
                s.revisions.clear();
                tracing::info!(service = %s.name, "service INACTIVE");
            }
        }
        Action::SteadyReported { service, at } => {
            if let Some(s) = state.service_by_arn_mut(&service) {
                s.runtime.steady_reported_at = at;
            }
        }
        Action::StallReported { service, at } => {
            if let Some(s) = state.service_by_arn_mut(&service) {
                s.runtime.stall_reported_at = at;
            }
        }
        Action::Forget { task } => {
            state.tasks.remove(&task);
            applied.forgotten.push(task);
        }
        Action::Stage {
            service,
            deployment,
            stage,
        } => stages::stage(state, &service, &deployment, stage),
        Action::OpenHooks {
            service,
            deployment,
            stage,
            step,
        } => {
            let at = (service.as_str(), deployment.as_str());
            stages::open_hooks(state, shared.timing.minute, at, stage, step)
        }
        Action::HookTimedOut {
            service,
            deployment,
            hook,
        } => stages::hook_timed_out(state, &service, &deployment, &hook),
        Action::Route { rule, groups } => {
            if !state.set_forward_weights(&rule, &groups) {
                tracing::warn!(rule, "the listener rule to shift traffic on is gone");
            }
        }
        Action::Shifted {
            service,
            deployment,
            percent,
        } => stages::shifted(state, &service, &deployment, percent),
    }
}

fn with_task(state: &mut State, id: &str, change: impl FnOnce(&mut Task)) {
    if let Some(task) = state.tasks.get_mut(id) {
        change(task);
    }
}

fn with_deployment(
    state: &mut State,
    service: &str,
    deployment: &str,
    change: impl FnOnce(&mut Deployment),
) {
    if let Some(d) = state
        .service_by_arn_mut(service)
        .and_then(|s| deployment_mut(s, deployment))
    {
        change(d);
    }
}

fn deployment_mut<'s>(service: &'s mut Service, id: &str) -> Option<&'s mut Deployment> {
    service.deployments.iter_mut().find(|d| d.id == id)
}

/// Changes the service deployment that deployment `row` of the table is the target of (not
/// one it rolls back for).
fn with_own_service_deployment(
    state: &mut State,
    service: &str,
    row: &str,
    change: impl FnOnce(&mut crate::state::ServiceDeployment),
) {
    if let Some(sd) = state
        .service_by_arn_mut(service)
        .and_then(|s| s.service_deployment_of_row_mut(row))
        .filter(|sd| sd.deployment_id == row && sd.status.is_ongoing())
    {
        change(sd);
    }
}

/// PENDING becomes IN_PROGRESS; a requested rollback, ROLLBACK_IN_PROGRESS.
fn begin(state: &mut State, service: &str, row: &str) {
    let status = state
        .services
        .iter()
        .find(|s| s.arn == service)
        .and_then(|s| s.service_deployment_of_row(row))
        .map(|sd| sd.status);
    let next = match status {
        Some(ServiceDeploymentStatus::Pending) => ServiceDeploymentStatus::InProgress,
        Some(ServiceDeploymentStatus::RollbackRequested) => {
            ServiceDeploymentStatus::RollbackInProgress
        }
        _ => return,
    };
    state.transition_service_deployment(service, row, next, None);
}

/// FAILED for `cause`; its service deployment records what set it off and, with a deployment
/// to roll back to, asks for the rollback, which a new PRIMARY deployment carries out. A
/// failed rollback is ROLLBACK_FAILED; a failure without one, STOPPED.
fn trip(
    state: &mut State,
    service_arn: &str,
    row: &str,
    cause: Failure,
    rollback_to: Option<CompletedDeployment>,
    rollback_wanted: bool,
) {
    if stages::roll_back_to_blue(state, service_arn, row, &cause) {
        return;
    }
    let reason = cause.reason();
    let Some(service) = state.service_by_arn_mut(service_arn) else {
        return;
    };
    let Some(deployment) = deployment_mut(service, row) else {
        return;
    };
    deployment.rollout_state = RolloutState::Failed;
    deployment.rollout_state_reason = reason.clone();
    deployment.updated_at = SystemTime::now();
    tracing::warn!(service = %service.name, deployment = row, "deployment failed: {reason}");
    let (status, why) = match service.service_deployment_of_row_mut(row) {
        Some(sd) if sd.is_rollback_row(row) => {
            let failure = sd.status_reason.clone().unwrap_or_else(|| reason.clone());
            let why = events::rollback_failed(&failure, row);
            (ServiceDeploymentStatus::RollbackFailed, why)
        }
        Some(sd) => {
            record_trigger(sd, &cause);
            match rollback_to {
                Some(target) => {
                    let started = roll_back(service, &cause, &reason, target);
                    if let Some(sd) = service.service_deployment_of_row_mut(row) {
                        sd.rollback = Some(started);
                    }
                    (ServiceDeploymentStatus::RollbackRequested, reason)
                }
                None if rollback_wanted => (
                    ServiceDeploymentStatus::RollbackFailed,
                    events::nothing_to_roll_back_to(&reason),
                ),
                None => (ServiceDeploymentStatus::Stopped, reason),
            }
        }
        None => {
            if let Some(target) = rollback_to {
                roll_back(service, &cause, &reason, target);
            }
            return;
        }
    };
    state.transition_service_deployment(service_arn, row, status, Some(why));
}

/// What set the failure off, in the service deployment's checks.
fn record_trigger(sd: &mut crate::state::ServiceDeployment, cause: &Failure) {
    if !sd.status.is_ongoing() {
        return;
    }
    match cause {
        Failure::Breaker => sd.breaker.status = MonitorStatus::Triggered,
        Failure::Alarms(names) => {
            sd.alarms.status = MonitorStatus::Triggered;
            sd.alarms.triggered = names.clone();
        }
        Failure::Stopped | Failure::Hook(_) => {}
    }
}

/// A new PRIMARY deployment of the last deployment that completed, running its revision.
fn roll_back(
    service: &mut Service,
    cause: &Failure,
    reason: &str,
    target: CompletedDeployment,
) -> RollbackRecord {
    let network = service
        .echoed
        .get("networkConfiguration")
        .cloned()
        .unwrap_or(Value::Null);
    let revision = (!target.revision_arn.is_empty()).then(|| target.revision_arn.clone());
    let mut rollback = Deployment::new(
        &service.arn,
        &target.task_definition,
        service.launch_type.clone(),
        network,
        revision,
    );
    rollback.rollout_state_reason = cause.rolling_back(&target.id);
    // It registers where the deployment it goes back to did.
    rollback.alternate = service
        .deployments
        .iter()
        .find(|d| d.id == target.id)
        .or(service.deployments.first())
        .is_some_and(|d| d.alternate);
    for d in &mut service.deployments {
        d.status = DeploymentStatus::Active;
    }
    let record = RollbackRecord {
        reason: reason.to_owned(),
        started_at: SystemTime::now(),
        revision_arn: target.revision_arn,
        deployment_id: rollback.id.clone(),
    };
    service.task_definition = target.task_definition;
    service.deployments.insert(0, rollback);
    service.runtime.stall_reported_at = None;
    record
}

/// COMPLETED, and remembered as what a rollback goes back to; its service deployment is
/// SUCCESSFUL, or ROLLBACK_SUCCESSFUL when it carried a rollback out.
fn complete(state: &mut State, service_arn: &str, row: &str) {
    let Some(service) = state.service_by_arn_mut(service_arn) else {
        return;
    };
    let Some(d) = deployment_mut(service, row) else {
        return;
    };
    d.rollout_state = RolloutState::Completed;
    d.rollout_state_reason = events::rollout_completed(&d.id);
    d.updated_at = SystemTime::now();
    d.baking_since = None;
    service.last_completed = Some(CompletedDeployment {
        id: d.id.clone(),
        task_definition: d.task_definition.clone(),
        revision_arn: d.revision_arn.clone(),
    });
    let status = match service.service_deployment_of_row(row) {
        Some(sd) if sd.is_rollback_row(row) => ServiceDeploymentStatus::RollbackSuccessful,
        Some(_) => ServiceDeploymentStatus::Successful,
        None => return,
    };
    state.transition_service_deployment(service_arn, row, status, None);
}

/// Records `count` new tasks of a deployment (PROVISIONING); returns their ids.
fn start(
    state: &mut State,
    service_arn: &str,
    deployment: &str,
    task_definition: &str,
    count: usize,
) -> Vec<String> {
    let (Some(td), Some(service)) = (
        state.task_definition(task_definition).cloned(),
        state.services.iter().find(|s| s.arn == service_arn),
    ) else {
        return Vec::new();
    };
    let revision = service
        .deployments
        .iter()
        .find(|d| d.id == deployment)
        .map(|d| d.revision_arn.clone())
        .filter(|r| !r.is_empty());
    let tags = (service.echoed.get("propagateTags").and_then(Value::as_str) == Some("SERVICE"))
        .then(|| service.echoed.get("tags").cloned())
        .flatten();
    let tasks: Vec<Task> = (0..count)
        .map(|_| {
            let mut task = new_task(service, deployment, &td);
            task.service_revision = revision.clone();
            if let Some(tags) = &tags {
                task.tags = tags.clone();
            }
            task
        })
        .collect();
    let ids = tasks.iter().map(|t| t.id.clone()).collect();
    for task in tasks {
        state.tasks.insert(task.id.clone(), task);
    }
    ids
}

/// A task record (PROVISIONING) of a service's deployment.
fn new_task(service: &Service, deployment: &str, td: &TaskDefinition) -> Task {
    let region = ids::arn_region(&service.arn).unwrap_or(ids::DEFAULT_REGION);
    let cluster = &service.cluster_name;
    let id = ids::task_id();
    let containers = taskdef::containers(td)
        .into_iter()
        .map(|c| ContainerRun {
            arn: ids::ecs_arn(region, &format!("container/{cluster}/{id}/{}", ids::uuid())),
            name: c.name,
            image: c.image,
            image_digest: None,
            last_status: ContainerStatus::Pending,
            exit_code: None,
            reason: None,
            pid: None,
            container_port: c.container_port,
            host_port: None,
            health_status: HealthStatus::Unknown,
            essential: c.essential,
            has_health_check: c.health_check.is_some(),
        })
        .collect();
    let text = |k: &str| td.body.get(k).and_then(Value::as_str).map(str::to_owned);
    let launch_type = service
        .launch_type
        .clone()
        .or_else(|| {
            td.body
                .get("requiresCompatibilities")
                .and_then(|c| c.get(0))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "EC2".to_owned());
    Task {
        arn: ids::ecs_arn(region, &format!("task/{cluster}/{id}")),
        id,
        cluster_name: cluster.clone(),
        cluster_arn: service.cluster_arn.clone(),
        task_definition_arn: td.arn.clone(),
        group: format!("service:{}", service.name),
        started_by: Some(deployment.to_owned()),
        service_arn: Some(service.arn.clone()),
        deployment_id: Some(deployment.to_owned()),
        service_revision: None,
        last_status: TaskStatus::Provisioning,
        desired_status: DesiredStatus::Running,
        created_at: SystemTime::now(),
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        stopping_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        containers,
        launch_type,
        cpu: text("cpu"),
        memory: text("memory"),
        version: 1,
        targets: Vec::new(),
        targets_registered: false,
        stop_signal: Arc::new(tokio::sync::Notify::new()),
        running_since: None,
        was_healthy: false,
        health_check_failure: false,
        breaker_counted: false,
        tags: Value::Array(Vec::new()),
    }
}

/// Registers a task's targets with their groups and starts health checking them.
fn register(shared: &Arc<Shared>, state: &mut State, task_id: &str, wanted: Vec<(String, u16)>) {
    let mut registered = Vec::new();
    for (group, port) in wanted {
        if targets::register(shared, state, &group, port, task_id) {
            registered.push((group, port));
        }
    }
    with_task(state, task_id, |t| {
        t.targets = registered;
        t.targets_registered = true;
    });
}
