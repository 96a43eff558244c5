//! The service scheduler: for every service, keep `desiredCount` tasks of the PRIMARY
//! deployment healthy and replace older deployments' tasks within the bounds ECS uses —
//! at least ceil(desired × minimumHealthyPercent / 100) healthy, at most
//! floor(desired × maximumPercent / 100) tasks RUNNING or PENDING — plus the health
//! grace period, task replacement, the deployment circuit breaker (with rollback),
//! rollout states and service events.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::events;
use crate::runner::{self, Owner};
use crate::shared::Shared;
use crate::state::{Deployment, Service, State, TargetState, Task, TaskStatus};

/// How often a continuing stall is reported again.
const STALL_REPEAT: Duration = Duration::from_secs(300);

/// Runs the scheduler until shutdown.
pub async fn run(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(shared.timing.scheduler_tick) => {}
        }
        if shared.is_shutting_down() {
            return;
        }
        let launches = {
            let mut state = shared.lock();
            let launches = reconcile_all(&shared, &mut state);
            prune_stopped(&shared, &mut state);
            launches
        };
        for task_id in launches {
            runner::launch(shared.clone(), task_id);
        }
        shared.save_if_dirty();
    }
}

/// A new deployment of `task_definition`, IN_PROGRESS.
pub fn new_deployment(
    task_definition: &str,
    launch_type: Option<String>,
    network_configuration: serde_json::Value,
) -> Deployment {
    let id = crate::ids::deployment_id();
    let now = SystemTime::now();
    Deployment {
        rollout_state_reason: events::rollout_in_progress(&id),
        id,
        status: "PRIMARY".into(),
        task_definition: task_definition.to_owned(),
        created_at: now,
        updated_at: now,
        rollout_state: "IN_PROGRESS".into(),
        failed_tasks: 0,
        monitoring_complete: false,
        launch_type,
        network_configuration,
    }
}

/// The circuit breaker's threshold: ceil(0.5 × desired), clamped to 3..=200.
pub fn failure_threshold(desired: i64) -> i64 {
    ((desired + 1) / 2).clamp(3, 200)
}

/// ceil(desired × minimumHealthyPercent / 100).
pub fn minimum_healthy(desired: i64, percent: i64) -> i64 {
    (desired * percent + 99) / 100
}

/// floor(desired × maximumPercent / 100).
pub fn maximum_total(desired: i64, percent: i64) -> i64 {
    desired * percent / 100
}

/// Called when a task reaches STOPPED: counts circuit-breaker failures.
pub fn task_stopped(state: &mut State, task_id: &str) {
    let Some(task) = state.tasks.get(task_id) else {
        return;
    };
    let failure = matches!(
        task.stop_code,
        Some("TaskFailedToStart") | Some("EssentialContainerExited")
    ) || task.health_check_failure;
    let (Some(service_arn), Some(deployment_id)) =
        (task.service_arn.clone(), task.deployment_id.clone())
    else {
        return;
    };
    if !failure {
        return;
    }
    let Some(service) = state.service_by_arn_mut(&service_arn) else {
        return;
    };
    let threshold = failure_threshold(service.desired_count);
    let Some(deployment) = service
        .deployments
        .iter_mut()
        .find(|d| d.id == deployment_id)
    else {
        return;
    };
    if deployment.monitoring_complete || deployment.rollout_state != "IN_PROGRESS" {
        return;
    }
    deployment.failed_tasks += 1;
    deployment.updated_at = SystemTime::now();
    let failed = deployment.failed_tasks;
    if service.circuit_breaker.enable && failed >= threshold {
        trip(service, &deployment_id);
    }
    state.dirty = true;
}

/// The circuit breaker trips: FAILED, and with rollback a new PRIMARY deployment back to the
/// last COMPLETED one.
fn trip(service: &mut Service, deployment_id: &str) {
    let name = service.name.clone();
    let Some(deployment) = service
        .deployments
        .iter_mut()
        .find(|d| d.id == deployment_id)
    else {
        return;
    };
    deployment.rollout_state = "FAILED".into();
    deployment.rollout_state_reason = events::ROLLOUT_FAILED.into();
    deployment.updated_at = SystemTime::now();
    let was_primary = deployment.status == "PRIMARY";
    tracing::warn!(service = %name, deployment = deployment_id, "deployment circuit breaker tripped");
    service.push_event(events::deployment_failed(&name, deployment_id));
    if !(was_primary && service.circuit_breaker.rollback) {
        return;
    }
    let Some(target) = service
        .last_completed
        .clone()
        .filter(|c| c.id != deployment_id)
    else {
        return;
    };
    let launch_type = service.launch_type.clone();
    let network = service
        .echoed
        .get("networkConfiguration")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let mut rollback = new_deployment(&target.task_definition, launch_type, network);
    rollback.rollout_state_reason = events::rollout_rolling_back(&target.id);
    for d in &mut service.deployments {
        d.status = "ACTIVE".into();
    }
    service.task_definition = target.task_definition.clone();
    service.deployments.insert(0, rollback);
    service.runtime.stall_reported_at = None;
    service.push_event(events::rolling_back(&name, &target.id));
}

/// Whether a task counts as healthy: RUNNING, its targets healthy (or unchecked), and its
/// container health checks (if any) HEALTHY.
pub fn task_healthy(state: &State, task: &Task) -> bool {
    task_healthy_in(&state.target_groups, task)
}

fn unhealthy_target(state: &State, task: &Task) -> Option<String> {
    task.targets.iter().find_map(|(tg, port)| {
        state
            .target_group(tg)
            .and_then(|g| g.targets.iter().find(|t| t.port == *port))
            .filter(|t| t.state == TargetState::Unhealthy)
            .map(|_| tg.clone())
    })
}

fn in_transition(state: &State, task: &Task) -> bool {
    task.last_status != TaskStatus::Running
        || task.desired_status != "RUNNING"
        || task.targets.iter().any(|(tg, port)| {
            state
                .target_group(tg)
                .and_then(|g| g.targets.iter().find(|t| t.port == *port))
                .is_some_and(|t| t.state == TargetState::Initial)
        })
}

fn reconcile_all(shared: &Arc<Shared>, state: &mut State) -> Vec<String> {
    let mut launches = Vec::new();
    for index in 0..state.services.len() {
        if matches!(state.services[index].status.as_str(), "ACTIVE" | "DRAINING") {
            launches.extend(reconcile(shared, state, index));
        }
    }
    launches
}

fn stop_task(state: &mut State, task_id: &str, code: &'static str, reason: String) {
    if let Some(task) = state.tasks.get_mut(task_id) {
        task.request_stop(code, reason);
    }
}

fn reconcile(shared: &Arc<Shared>, state: &mut State, index: usize) -> Vec<String> {
    let now = Instant::now();
    let service_arn = state.services[index].arn.clone();
    let alive: Vec<String> = state
        .tasks
        .values()
        .filter(|t| {
            t.service_arn.as_deref() == Some(service_arn.as_str())
                && t.last_status != TaskStatus::Stopped
        })
        .map(|t| t.id.clone())
        .collect();
    let grace = Duration::from_secs(state.services[index].health_check_grace_period.max(0) as u64);
    let service_name = state.services[index].name.clone();
    let mut stopped_ids: Vec<String> = Vec::new();

    // Health: mark first health, replace tasks that fail their checks after the grace period.
    for id in &alive {
        let Some(task) = state.tasks.get(id) else {
            continue;
        };
        let healthy = task_healthy(state, task);
        let elb_failure = unhealthy_target(state, task);
        let container_failure = task.health_status() == "UNHEALTHY";
        let past_grace = task
            .running_since
            .is_some_and(|t| now.duration_since(t) >= grace);
        let running = task.desired_status == "RUNNING" && task.last_status == TaskStatus::Running;
        let deployment_id = task.deployment_id.clone();
        if healthy && !task.was_healthy {
            if let Some(task) = state.tasks.get_mut(id) {
                task.was_healthy = true;
            }
            if let Some(d) = state.services[index]
                .deployments
                .iter_mut()
                .find(|d| Some(&d.id) == deployment_id.as_ref())
                && !d.monitoring_complete
            {
                d.monitoring_complete = true;
                d.failed_tasks = 0;
                state.dirty = true;
            }
        }
        if running && past_grace {
            let reason = match (elb_failure, container_failure) {
                (Some(tg), _) => Some(events::failed_elb_health_checks(&tg)),
                (None, true) => {
                    let message = events::failed_container_health_checks(&service_name, id);
                    state.services[index].push_event(message);
                    Some("Task failed container health checks".to_owned())
                }
                _ => None,
            };
            if let Some(reason) = reason {
                if let Some(task) = state.tasks.get_mut(id) {
                    task.health_check_failure = true;
                    task.request_stop("ServiceSchedulerInitiated", reason);
                }
                stopped_ids.push(id.clone());
            }
        }
    }

    let service = &state.services[index];
    if service.status == "DRAINING" {
        let primary_id = service.primary().map(|d| d.id.clone()).unwrap_or_default();
        let mut any_alive = false;
        for id in &alive {
            any_alive = true;
            if state
                .tasks
                .get(id)
                .is_some_and(|t| t.desired_status == "RUNNING")
            {
                stop_task(
                    state,
                    id,
                    "ServiceSchedulerInitiated",
                    events::scaling_activity(&primary_id),
                );
                stopped_ids.push(id.clone());
            }
        }
        let service = &mut state.services[index];
        if !stopped_ids.is_empty() {
            service.push_event(events::stopped_tasks(&service_name, &stopped_ids));
        }
        if !any_alive {
            service.status = "INACTIVE".into();
            service.deployments.retain(|d| d.status == "PRIMARY");
            tracing::info!(service = %service_name, "service INACTIVE");
        }
        state.dirty = true;
        return Vec::new();
    }

    let Some(primary) = service.primary().cloned() else {
        return Vec::new();
    };
    let desired = service.desired_count.max(0);
    let min_healthy = minimum_healthy(desired, service.minimum_healthy_percent);
    let max_total = maximum_total(desired, service.maximum_percent);
    let live = |t: &&Task| t.desired_status == "RUNNING";
    let alive_tasks: Vec<&Task> = alive.iter().filter_map(|id| state.tasks.get(id)).collect();
    let alive_count = alive_tasks.len() as i64;
    let primary_live: Vec<&Task> = alive_tasks
        .iter()
        .copied()
        .filter(live)
        .filter(|t| t.deployment_id.as_deref() == Some(primary.id.as_str()))
        .collect();
    let mut old: Vec<&Task> = alive_tasks
        .iter()
        .copied()
        .filter(live)
        .filter(|t| t.deployment_id.as_deref() != Some(primary.id.as_str()))
        .collect();
    let healthy_count = alive_tasks
        .iter()
        .filter(|t| task_healthy(state, t))
        .count() as i64;
    let primary_failed = primary.rollout_state == "FAILED";

    // Start: up to desired, within the maximum (stopping tasks still count: they run).
    let want = desired - primary_live.len() as i64;
    let room = max_total - alive_count;
    let start = if primary_failed {
        0
    } else {
        want.min(room).max(0)
    };

    // Stop old deployments' tasks: unhealthy ones freely, healthy ones down to the minimum.
    let mut to_stop: Vec<String> = Vec::new();
    if !primary_failed {
        old.sort_by_key(|t| (task_healthy(state, t), std::cmp::Reverse(t.created_at)));
        let mut allowed = healthy_count - min_healthy;
        for t in &old {
            if !task_healthy(state, t) {
                to_stop.push(t.id.clone());
            } else if allowed > 0 {
                allowed -= 1;
                to_stop.push(t.id.clone());
            }
        }
    }
    // Scale in: the primary has more than desired.
    let extra = primary_live.len() as i64 - desired;
    if extra > 0 {
        let mut candidates = primary_live.clone();
        candidates.sort_by_key(|t| (task_healthy(state, t), std::cmp::Reverse(t.created_at)));
        to_stop.extend(candidates.iter().take(extra as usize).map(|t| t.id.clone()));
    }
    let transitioning = alive_tasks.iter().any(|t| in_transition(state, t));
    let work_left = want > 0 || !old.is_empty();

    for id in &to_stop {
        stop_task(
            state,
            id,
            "ServiceSchedulerInitiated",
            events::scaling_activity(&primary.id),
        );
    }
    stopped_ids.extend(to_stop.iter().cloned());

    // Launch.
    let mut launched = Vec::new();
    if start > 0
        && let Some(td) = state.task_definition(&primary.task_definition).cloned()
    {
        let service = &state.services[index];
        let region = crate::ids::arn_region(&service.arn)
            .unwrap_or(crate::ids::DEFAULT_REGION)
            .to_owned();
        let owner = Owner {
            service_arn: Some(service.arn.clone()),
            service_name: Some(service.name.clone()),
            deployment_id: Some(primary.id.clone()),
        };
        let (cluster_name, cluster_arn, launch_type) = (
            service.cluster_name.clone(),
            service.cluster_arn.clone(),
            service.launch_type.clone(),
        );
        let tags =
            if service.echoed.get("propagateTags").and_then(|v| v.as_str()) == Some("SERVICE") {
                service.echoed.get("tags").cloned()
            } else {
                None
            };
        for _ in 0..start {
            let mut task = runner::new_task(
                &region,
                &cluster_name,
                &cluster_arn,
                &td,
                owner.clone(),
                launch_type.as_deref(),
            );
            if let Some(tags) = &tags {
                task.tags = tags.clone();
            }
            launched.push(task.id.clone());
            state.tasks.insert(task.id.clone(), task);
        }
    }

    let service = &mut state.services[index];
    if !launched.is_empty() {
        service.push_event(events::started_tasks(&service_name, &launched));
    }
    if !stopped_ids.is_empty() {
        let running_stopped: Vec<String> = stopped_ids.clone();
        service.push_event(events::stopped_tasks(&service_name, &running_stopped));
    }

    let deployment_alive = |d: &Deployment, tasks: &std::collections::BTreeMap<String, Task>| {
        tasks.values().any(|t| {
            t.deployment_id.as_deref() == Some(d.id.as_str())
                && t.service_arn.as_deref() == Some(service_arn.as_str())
                && t.last_status != TaskStatus::Stopped
        })
    };
    let tasks = &state.tasks;
    let others_alive = service
        .deployments
        .iter()
        .any(|d| d.status != "PRIMARY" && deployment_alive(d, tasks));
    let mut changed = !launched.is_empty() || !stopped_ids.is_empty();

    // Completion and steady state.
    let primary_healthy = tasks
        .values()
        .filter(|t| {
            t.deployment_id.as_deref() == Some(primary.id.as_str())
                && t.service_arn.as_deref() == Some(service_arn.as_str())
        })
        .filter(|t| task_healthy_in(&state.target_groups, t))
        .count() as i64;
    let settled = !others_alive
        && primary_healthy == desired
        && alive_count == desired
        && launched.is_empty();
    if let Some(p) = service.deployments.first_mut()
        && p.rollout_state == "IN_PROGRESS"
        && settled
    {
        p.rollout_state = "COMPLETED".into();
        p.rollout_state_reason = events::rollout_completed(&p.id);
        p.updated_at = SystemTime::now();
        let (id, td) = (p.id.clone(), p.task_definition.clone());
        service.last_completed = Some(crate::state::CompletedDeployment {
            id: id.clone(),
            task_definition: td,
        });
        service.push_event(events::deployment_completed(&service_name, &id));
        changed = true;
    }
    // Deployments whose tasks are all gone become INACTIVE and leave the list; a FAILED one
    // stays visible until the deployment replacing it completes.
    let primary_done = service
        .deployments
        .first()
        .is_some_and(|p| p.rollout_state != "IN_PROGRESS");
    let before = service.deployments.len();
    service.deployments.retain(|d| {
        d.status == "PRIMARY"
            || deployment_alive(d, tasks)
            || (d.rollout_state == "FAILED" && !primary_done)
    });
    changed |= before != service.deployments.len();
    let steady = settled
        && service.deployments.len() == 1
        && service
            .deployments
            .first()
            .is_some_and(|p| p.rollout_state == "COMPLETED");
    if steady {
        let due = service
            .runtime
            .steady_reported_at
            .is_none_or(|at| now.duration_since(at) >= shared.timing.steady_state_event_interval);
        if due {
            service.push_event(events::steady_state(&service_name));
            service.runtime.steady_reported_at = Some(now);
            changed = true;
        }
    } else {
        service.runtime.steady_reported_at = None;
    }

    // A stall: work left, nothing moving, and the bounds allow neither a start nor a stop.
    let stalled = work_left
        && !primary_failed
        && start == 0
        && stopped_ids.is_empty()
        && !transitioning
        && primary.rollout_state == "IN_PROGRESS";
    if stalled {
        let due = service
            .runtime
            .stall_reported_at
            .is_none_or(|at| now.duration_since(at) >= STALL_REPEAT);
        if due {
            service.push_event(events::unable_to_stop_or_start(&service_name));
            service.runtime.stall_reported_at = Some(now);
            changed = true;
        }
    } else if !transitioning {
        service.runtime.stall_reported_at = None;
    }
    if changed {
        state.dirty = true;
    }
    launched
}

/// [`task_healthy`] over the target groups alone (usable while a service is borrowed).
fn task_healthy_in(groups: &[crate::state::TargetGroup], task: &Task) -> bool {
    if task.last_status != TaskStatus::Running || task.desired_status != "RUNNING" {
        return false;
    }
    let targets_ok = task.targets.iter().all(|(tg, port)| {
        groups
            .iter()
            .find(|g| &g.arn == tg)
            .and_then(|g| g.targets.iter().find(|t| t.port == *port))
            .is_some_and(|t| matches!(t.state, TargetState::Healthy | TargetState::Unavailable))
    });
    let checked = task
        .containers
        .iter()
        .any(|c| c.essential && c.has_health_check);
    targets_ok && (!checked || task.health_status() == "HEALTHY")
}

/// Forgets stopped tasks older than the retention (and the oldest beyond the cap), with
/// their log directories.
fn prune_stopped(shared: &Shared, state: &mut State) {
    let now = SystemTime::now();
    let retention = shared.timing.stopped_task_retention;
    let mut stopped: Vec<(SystemTime, String)> = state
        .tasks
        .values()
        .filter(|t| t.last_status == TaskStatus::Stopped)
        .map(|t| (t.stopped_at.unwrap_or(now), t.id.clone()))
        .collect();
    stopped.sort();
    let excess = stopped
        .len()
        .saturating_sub(shared.timing.max_stopped_tasks);
    for (i, (at, id)) in stopped.iter().enumerate() {
        let expired = now.duration_since(*at).unwrap_or_default() > retention;
        if i < excess || expired {
            state.tasks.remove(id);
            let _ = std::fs::remove_dir_all(shared.store.task_dir(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_arithmetic() {
        assert_eq!(minimum_healthy(4, 50), 2);
        assert_eq!(minimum_healthy(2, 75), 2);
        assert_eq!(minimum_healthy(3, 100), 3);
        assert_eq!(maximum_total(4, 200), 8);
        assert_eq!(maximum_total(3, 125), 3);
        assert_eq!(maximum_total(2, 200), 4);
        assert_eq!(failure_threshold(1), 3);
        assert_eq!(failure_threshold(2), 3);
        assert_eq!(failure_threshold(9), 5);
        assert_eq!(failure_threshold(1000), 200);
    }
}
