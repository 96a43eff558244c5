//! Lookups and errors shared by the ECS operations (`ecs` and `services`): the cluster and
//! the ACTIVE task definition a request names, its `include` list, and ECS's error shapes.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::ids::arn_tail;
use crate::protocol::json::Input;
use crate::state::{State, TaskDefinition, TaskDefinitionStatus};

pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameterException", message)
}

pub(super) fn cluster_not_found() -> ApiError {
    ApiError::new("ClusterNotFoundException", "Cluster not found.")
}

pub(super) fn service_not_found() -> ApiError {
    ApiError::new("ServiceNotFoundException", "Service not found.")
}

/// The cluster named by `cluster` (name or ARN; `default` when absent).
pub(super) fn cluster_name(state: &State, input: &Value) -> ApiResult<String> {
    let reference = input.opt_str("cluster")?.unwrap_or("default");
    let name = arn_tail(reference);
    if state.clusters.contains_key(name) {
        Ok(name.to_owned())
    } else {
        Err(cluster_not_found())
    }
}

pub(super) fn include(input: &Value, what: &str) -> ApiResult<bool> {
    Ok(input.str_list("include")?.contains(&what))
}

/// The ACTIVE task definition `reference` names.
pub(super) fn active_task_definition<'s>(
    state: &'s State,
    reference: &str,
) -> ApiResult<&'s TaskDefinition> {
    let td = state
        .task_definition(reference)
        .ok_or_else(|| invalid("TaskDefinition not found."))?;
    if td.status != TaskDefinitionStatus::Active {
        return Err(invalid(format!("TaskDefinition {} is inactive.", td.arn)));
    }
    Ok(td)
}
