//! Carrying out the blue/green plan actions (a child of `apply`): stage changes, hook runs,
//! rule weights, production shift steps, and the rollback to blue, which moves production and
//! test traffic back at once and makes blue's deployment PRIMARY again (its tasks never
//! stopped), so the green tasks are stopped as an older deployment's.

use std::time::{Duration, SystemTime};

use crate::events;
use crate::ids;
use crate::state::{
    BlueGreenRun, DeploymentStatus, HookRun, HookStage, HookStatus, LifecycleStage, RollbackRecord,
    RolloutState, ServiceDeploymentStatus, State,
};

use super::super::action::Failure;

/// Changes the blue/green run of the service deployment that deployment `row` started.
pub(super) fn with_run(
    state: &mut State,
    service: &str,
    row: &str,
    change: impl FnOnce(&mut BlueGreenRun),
) {
    if let Some(sd) = state
        .service_by_arn_mut(service)
        .and_then(|s| s.service_deployment_of_row_mut(row))
        .filter(|sd| sd.deployment_id == row && sd.status.is_ongoing())
    {
        if let Some(run) = sd.blue_green.as_mut() {
            change(run);
        }
        sd.updated_at = SystemTime::now();
    }
}

/// Enters `stage`.
pub(super) fn stage(state: &mut State, service: &str, row: &str, stage: LifecycleStage) {
    with_run(state, service, row, |run| {
        run.stage = Some(stage);
        run.stage_since = SystemTime::now();
    });
}

/// Starts the hooks configured at `point`: PAUSE hooks await action until their timeout.
pub(super) fn open_hooks(
    state: &mut State,
    minute: Duration,
    (service, row): (&str, &str),
    point: HookStage,
    step: u32,
) {
    let now = SystemTime::now();
    with_run(state, service, row, |run| {
        let opened: Vec<HookRun> = run
            .settings
            .hooks
            .iter()
            .filter(|h| h.stages.contains(&point))
            .map(|h| HookRun {
                hook_id: ids::uuid(),
                stage: point,
                step,
                target_type: h.target_type,
                status: HookStatus::AwaitingAction,
                expires_at: now + minute * u32::try_from(h.timeout_minutes()).unwrap_or(1440),
                timeout_action: h.timeout_action(),
            })
            .collect();
        run.hooks.extend(opened);
    });
}

/// A hook's time is up.
pub(super) fn hook_timed_out(state: &mut State, service: &str, row: &str, hook: &str) {
    with_run(state, service, row, |run| {
        if let Some(h) = run
            .hooks
            .iter_mut()
            .find(|h| h.hook_id == hook && h.status == HookStatus::AwaitingAction)
        {
            h.status = HookStatus::TimedOut;
        }
    });
}

/// A production shift step was made.
pub(super) fn shifted(state: &mut State, service: &str, row: &str, percent: f64) {
    with_run(state, service, row, |run| {
        run.steps_done += 1;
        run.production_percent = percent;
        run.shifted_at = Some(SystemTime::now());
    });
}

/// When deployment `row` runs a blue/green deployment whose blue deployment is still listed:
/// production and test traffic go back to blue at once, blue is PRIMARY again (rolling
/// back), `row` FAILED, and its service deployment ROLLBACK_REQUESTED. False (nothing done)
/// otherwise.
pub(super) fn roll_back_to_blue(
    state: &mut State,
    service_arn: &str,
    row: &str,
    cause: &Failure,
) -> bool {
    let Some(service) = state.services.iter().find(|s| s.arn == service_arn) else {
        return false;
    };
    let Some(run) = service
        .service_deployment_of_row(row)
        .filter(|sd| sd.deployment_id == row && sd.status.is_ongoing())
        .and_then(|sd| sd.blue_green.clone())
    else {
        return false;
    };
    let Some(blue) = service.deployments.iter().find(|d| d.id == run.blue_row) else {
        return false;
    };
    let (blue_td, blue_revision) = (blue.task_definition.clone(), blue.revision_arn.clone());
    for route in &run.routes {
        let back = [
            (route.blue_group.clone(), 100),
            (route.green_group.clone(), 0),
        ];
        state.set_forward_weights(&route.production_rule, &back);
        if let Some(test) = &route.test_rule {
            state.set_forward_weights(test, &back);
        }
    }
    let reason = cause.reason();
    let Some(service) = state.service_by_arn_mut(service_arn) else {
        return false;
    };
    let now = SystemTime::now();
    for d in &mut service.deployments {
        if d.id == run.blue_row {
            d.status = DeploymentStatus::Primary;
            d.rollout_state = RolloutState::InProgress;
            d.rollout_state_reason = cause.rolling_back(&run.blue_row);
        } else {
            d.status = DeploymentStatus::Active;
            if d.id == row {
                d.rollout_state = RolloutState::Failed;
                d.rollout_state_reason = reason.clone();
            }
        }
        d.updated_at = now;
    }
    // The blue deployment goes first, as a PRIMARY deployment does.
    service
        .deployments
        .sort_by_key(|d| d.status != DeploymentStatus::Primary);
    service.task_definition = blue_td;
    service.runtime.stall_reported_at = None;
    tracing::warn!(service = %service.name, deployment = row, "deployment failed, traffic back on blue: {reason}");
    if let Some(sd) = service.service_deployment_of_row_mut(row) {
        super::record_trigger(sd, cause);
        if let Some(run) = sd.blue_green.as_mut() {
            run.production_percent = 0.0;
        }
        sd.rollback = Some(RollbackRecord {
            reason: reason.clone(),
            started_at: now,
            revision_arn: blue_revision,
            deployment_id: run.blue_row.clone(),
        });
    }
    let message = events::rolling_back(&service.name, &run.blue_row);
    service.push_event(message);
    state.transition_service_deployment(
        service_arn,
        &run.blue_row,
        ServiceDeploymentStatus::RollbackRequested,
        Some(reason),
    );
    true
}
