//! Task targets in target groups: registration (with its health checker), draining and
//! removal. The scheduler decides when; these carry it out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::shared::Shared;
use crate::state::{State, Target, TargetReason, TargetState};

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
    let (target_state, reason) = if !attached {
        (TargetState::Unused, TargetReason::NotInUse)
    } else if !tg.health_check.enabled {
        (TargetState::Unavailable, TargetReason::HealthCheckDisabled)
    } else {
        (TargetState::Initial, TargetReason::RegistrationInProgress)
    };
    tg.targets.push(Target {
        id: "127.0.0.1".into(),
        port,
        task_id: Some(task_id.to_owned()),
        state: target_state,
        reason: Some(reason),
        description: Some(reason.description().into()),
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

/// Starts draining a target: no new requests; the scheduler removes it once `delay` (the
/// deregistration delay, or zero) is over.
pub fn drain(shared: &Shared, state: &mut State, tg_arn: &str, port: u16, delay: Duration) {
    if let Some(checker) = shared
        .checkers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(tg_arn.to_owned(), port))
    {
        checker.abort();
    }
    let Some(target) = state
        .target_group_mut(tg_arn)
        .and_then(|tg| tg.targets.iter_mut().find(|t| t.port == port))
    else {
        return;
    };
    if target.state == TargetState::Draining {
        return;
    }
    target.state = TargetState::Draining;
    target.reason = Some(TargetReason::DeregistrationInProgress);
    target.description = Some(TargetReason::DeregistrationInProgress.description().into());
    target.drain_until = Some(Instant::now() + delay);
}

/// Removes a draining target from its group (its drain is over). A target registered since
/// on the same port is another task's and stays.
pub fn remove(state: &mut State, tg_arn: &str, port: u16) {
    if let Some(tg) = state.target_group_mut(tg_arn) {
        tg.targets
            .retain(|t| !(t.port == port && t.state == TargetState::Draining));
    }
}
