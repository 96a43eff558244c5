//! The deployment alarms: which of a deployment's CloudWatch alarms fail it. ECS watches the
//! alarms of a rolling deployment from its start through its bake time, and fails it when one
//! goes into ALARM (an alarm already in ALARM when the deployment was created does not count
//! until it leaves ALARM and comes back). A rollback is not watched.

use std::collections::BTreeMap;

use crate::state::{AlarmState, RolloutState, ServiceDeploymentStatus};

use super::view::{AlarmView, DeploymentView, ServiceView};

/// The names of the service's deployment alarms that fail `deployment` now, sorted; empty
/// when none does or the alarms are not watched.
pub fn triggered(
    service: &ServiceView,
    deployment: &DeploymentView,
    alarms: &BTreeMap<String, AlarmView>,
) -> Vec<String> {
    let Some(owner) = deployment.owner else {
        return Vec::new();
    };
    let watched = service.alarms.enable
        && deployment.rollout_state == RolloutState::InProgress
        && !owner.rollback_row
        && matches!(
            owner.status,
            ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress
        );
    if !watched {
        return Vec::new();
    }
    let mut names: Vec<String> = service
        .alarms
        .names
        .iter()
        .filter(|name| {
            alarms.get(name.as_str()).is_some_and(|a| {
                a.state == AlarmState::Alarm && a.transitioned_at >= owner.created_at
            })
        })
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}
