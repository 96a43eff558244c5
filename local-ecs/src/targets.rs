//! Registering and deregistering task targets in target groups: the ECS side of the
//! ECS–ELB handshake (ACTIVATING / DEACTIVATING), including connection draining.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::events;
use crate::shared::Shared;
use crate::state::{State, Target, TargetState};

/// Adds a task's target (`127.0.0.1:port`) to a target group and starts health checking it.
/// Returns false if the target group no longer exists.
pub fn register(
    shared: &Arc<Shared>,
    state: &mut State,
    tg_arn: &str,
    port: u16,
    task_id: &str,
) -> bool {
    let attached = !state.load_balancers_of_target_group(tg_arn).is_empty();
    let Some(tg) = state.target_group_mut(tg_arn) else {
        return false;
    };
    tg.targets.retain(|t| t.port != port);
    let (target_state, reason, description) = if !attached {
        (
            TargetState::Unused,
            "Target.NotInUse",
            "Target group is not configured to receive traffic from the load balancer",
        )
    } else if !tg.health_check.enabled {
        (
            TargetState::Unavailable,
            "Target.HealthCheckDisabled",
            "Health checks are disabled",
        )
    } else {
        (
            TargetState::Initial,
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        )
    };
    tg.targets.push(Target {
        id: "127.0.0.1".into(),
        port,
        task_id: Some(task_id.to_owned()),
        state: target_state,
        reason: Some(reason),
        description: Some(description.into()),
        passes: 0,
        failures: 0,
        checked: false,
        drain_until: None,
    });
    let checker = tokio::spawn(crate::health::check_target(
        shared.clone(),
        tg_arn.to_owned(),
        port,
    ));
    let previous = shared
        .checkers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((tg_arn.to_owned(), port), checker);
    if let Some(previous) = previous {
        previous.abort();
    }
    true
}

/// Starts draining a target: no new requests, removal after the target group's
/// deregistration delay (or at once with `immediately`). Returns the delay.
pub fn deregister(
    shared: &Arc<Shared>,
    state: &mut State,
    tg_arn: &str,
    port: u16,
    immediately: bool,
) -> Duration {
    if let Some(checker) = shared
        .checkers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(tg_arn.to_owned(), port))
    {
        checker.abort();
    }
    let Some(tg) = state.target_group_mut(tg_arn) else {
        return Duration::ZERO;
    };
    let delay = if immediately {
        Duration::ZERO
    } else {
        tg.deregistration_delay()
    };
    let Some(target) = tg.targets.iter_mut().find(|t| t.port == port) else {
        return Duration::ZERO;
    };
    if target.state == TargetState::Draining {
        return target
            .drain_until
            .map(|until| until.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::ZERO);
    }
    target.state = TargetState::Draining;
    target.reason = Some("Target.DeregistrationInProgress");
    target.description = Some("Target deregistration is in progress".into());
    target.drain_until = Some(Instant::now() + delay);
    let task_id = target.task_id.clone();
    let shared = shared.clone();
    let tg_arn = tg_arn.to_owned();
    let closed = shared.closed();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = closed => return,
        }
        let mut state = shared.lock();
        let removed = state.target_group_mut(&tg_arn).is_some_and(|tg| {
            let before = tg.targets.len();
            tg.targets
                .retain(|t| !(t.port == port && t.state == TargetState::Draining));
            tg.targets.len() < before
        });
        if removed && let Some(task_id) = task_id {
            let service_arn = state
                .tasks
                .get(&task_id)
                .and_then(|t| t.service_arn.clone());
            if let Some(service) = service_arn.and_then(|arn| state.service_by_arn_mut(&arn)) {
                let message = events::deregistered_targets(&service.name, 1, &tg_arn);
                service.push_event(message);
                state.dirty = true;
            }
        }
        drop(state);
        shared.wake.notify_one();
    });
    delay
}
