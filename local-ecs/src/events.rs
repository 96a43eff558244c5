//! Service event messages, worded as ECS words them (see the reference doc), so tools that
//! read ECS events read these too.

/// `(service NAME) has started N tasks: (task ID) (task ID).`
pub fn started_tasks(service: &str, task_ids: &[impl AsRef<str>]) -> String {
    format!(
        "(service {service}) has started {} tasks: {}.",
        task_ids.len(),
        task_list(task_ids)
    )
}

/// `(service NAME) has stopped N running tasks: (task ID).`
pub fn stopped_tasks(service: &str, task_ids: &[impl AsRef<str>]) -> String {
    format!(
        "(service {service}) has stopped {} running tasks: {}.",
        task_ids.len(),
        task_list(task_ids)
    )
}

/// `(service NAME) registered N targets in (target-group ARN)`
pub fn registered_targets(service: &str, count: usize, target_group: &str) -> String {
    format!("(service {service}) registered {count} targets in (target-group {target_group})")
}

/// `(service NAME) has begun draining connections on N tasks.`
pub fn draining(service: &str, count: usize) -> String {
    format!("(service {service}) has begun draining connections on {count} tasks.")
}

/// `(service NAME) deregistered N targets in (target-group ARN)`
pub fn deregistered_targets(service: &str, count: usize, target_group: &str) -> String {
    format!("(service {service}) deregistered {count} targets in (target-group {target_group})")
}

/// `(service NAME) (task ID) (port P) is unhealthy in (target-group ARN) due to (reason ...).`
pub fn unhealthy_target(
    service: &str,
    task_id: &str,
    port: u16,
    target_group: &str,
    why: &str,
) -> String {
    format!(
        "(service {service}) (task {task_id}) (port {port}) is unhealthy in (target-group {target_group}) due to (reason {why})."
    )
}

/// `(service NAME) (task ID) failed container health checks.`
pub fn failed_container_health_checks(service: &str, task_id: &str) -> String {
    format!("(service {service}) (task {task_id}) failed container health checks.")
}

/// `(service NAME) has reached a steady state.`
pub fn steady_state(service: &str) -> String {
    format!("(service {service}) has reached a steady state.")
}

/// `(service NAME) (deployment ID) deployment completed.`
pub fn deployment_completed(service: &str, deployment: &str) -> String {
    format!("(service {service}) (deployment {deployment}) deployment completed.")
}

/// `(service NAME) (deployment ID) deployment failed: tasks failed to start.`
pub fn deployment_failed(service: &str, deployment: &str) -> String {
    format!(
        "(service {service}) (deployment {deployment}) deployment failed: tasks failed to start."
    )
}

/// `(service NAME) rolling back to deployment ID`
pub fn rolling_back(service: &str, deployment: &str) -> String {
    format!("(service {service}) rolling back to deployment {deployment}")
}

/// The stall: the bounds allow neither starting nor stopping a task.
pub fn unable_to_stop_or_start(service: &str) -> String {
    format!(
        "(service {service}) was unable to stop or start tasks during a deployment because of \
         the service deployment configuration. Update the minimumHealthyPercent or \
         maximumPercent value and try again."
    )
}

/// `rolloutStateReason` of a deployment in progress.
pub fn rollout_in_progress(deployment: &str) -> String {
    format!("ECS deployment {deployment} in progress.")
}

/// `rolloutStateReason` of a completed deployment.
pub fn rollout_completed(deployment: &str) -> String {
    format!("ECS deployment {deployment} completed.")
}

/// `rolloutStateReason` of a deployment the circuit breaker failed.
pub const ROLLOUT_FAILED: &str = "ECS deployment circuit breaker: tasks failed to start.";

/// `rolloutStateReason` of the deployment a circuit breaker rolls back with.
pub fn rollout_rolling_back(to: &str) -> String {
    format!("ECS deployment circuit breaker: rolling back to deploymentId {to}.")
}

/// `(service NAME) (deployment ID) deployment failed: alarm detected: NAME, NAME.`
pub fn deployment_failed_alarms(service: &str, deployment: &str, alarms: &[String]) -> String {
    format!(
        "(service {service}) (deployment {deployment}) deployment failed: alarm detected: {}.",
        alarms.join(", ")
    )
}

/// `rolloutStateReason` (and ServiceDeployment `statusReason`) of a deployment failed by
/// alarms in ALARM.
pub fn rollout_failed_alarms(alarms: &[String]) -> String {
    format!(
        "ECS deployment alarms: alarm detected: {} in ALARM.",
        alarms.join(", ")
    )
}

/// `rolloutStateReason` of the deployment an alarm failure rolls back with.
pub fn rollout_alarms_rolling_back(to: &str) -> String {
    format!("ECS deployment alarms: rolling back to deploymentId {to}.")
}

/// `(service NAME) (deployment ID) deployment stopped: rollback requested.`
pub fn deployment_stopped(service: &str, deployment: &str) -> String {
    format!("(service {service}) (deployment {deployment}) deployment stopped: rollback requested.")
}

/// `rolloutStateReason` (and `statusReason`) of a deployment rolled back by
/// StopServiceDeployment.
pub const ROLLOUT_STOPPED: &str =
    "ECS deployment stopped: a rollback was requested with StopServiceDeployment.";

/// `rolloutStateReason` of the deployment a StopServiceDeployment rolls back with.
pub fn rollout_stop_rolling_back(to: &str) -> String {
    format!("ECS deployment stopped: rolling back to deploymentId {to}.")
}

/// `statusReason` of a service deployment that a newer one replaced.
pub fn superseded(deployment: &str, by: &str) -> String {
    format!("ECS deployment {deployment} stopped: superseded by service deployment {by}.")
}

/// `statusReason` of a service deployment whose service was deleted.
pub const SERVICE_DELETED: &str = "ECS deployment stopped: the service was deleted.";

/// `statusReason` of a failure that wanted a rollback with nothing to roll back to.
pub fn nothing_to_roll_back_to(reason: &str) -> String {
    format!("{reason} No deployment completed before it: there is nothing to roll back to.")
}

/// `statusReason` of a service deployment whose rollback failed too.
pub fn rollback_failed(reason: &str, rollback: &str) -> String {
    format!("{reason} The rollback deployment {rollback} failed.")
}

/// `stoppedReason` of a task the scheduler stops to replace or scale.
pub fn scaling_activity(deployment: &str) -> String {
    format!("Scaling activity initiated by (deployment {deployment})")
}

/// `stoppedReason` of a task whose target failed ELB health checks.
pub fn failed_elb_health_checks(target_group: &str) -> String {
    format!("Task failed ELB health checks in (target-group {target_group})")
}

fn task_list(task_ids: &[impl AsRef<str>]) -> String {
    task_ids
        .iter()
        .map(|id| format!("(task {})", id.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A blue/green (linear, canary) deployment entered a lifecycle stage (local-ecs's wording:
/// the stage is also `lifecycleStage` of the service deployment).
pub fn lifecycle_stage(service: &str, deployment: &str, stage: &str) -> String {
    format!("(service {service}) (deployment {deployment}) entered lifecycle stage {stage}.")
}

/// A production traffic shift step (local-ecs's wording).
pub fn production_shifted(service: &str, deployment: &str, percent: f64) -> String {
    format!(
        "(service {service}) (deployment {deployment}) shifted {percent}% of production traffic to the new service revision."
    )
}

/// `statusReason` of a deployment a lifecycle hook rolled back (`why`: answered ROLLBACK, or
/// timed out).
pub fn hook_rolled_back(hook: &str, stage: &str, why: &str) -> String {
    format!("ECS deployment rolled back: lifecycle hook {hook} at {stage} {why}.")
}

/// The event of a deployment a lifecycle hook rolled back.
pub fn deployment_hook_failed(service: &str, deployment: &str) -> String {
    format!(
        "(service {service}) (deployment {deployment}) deployment failed: lifecycle hook rolled back."
    )
}

/// `rolloutStateReason` of the deployment a lifecycle hook rolls back to.
pub fn rollout_hook_rolling_back(to: &str) -> String {
    format!("ECS deployment failed: lifecycle hook; rolling back to deploymentId {to}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording_matches_ecs() {
        assert_eq!(
            started_tasks("web", &["a", "b"]),
            "(service web) has started 2 tasks: (task a) (task b)."
        );
        assert_eq!(
            stopped_tasks("web", &["a"]),
            "(service web) has stopped 1 running tasks: (task a)."
        );
        assert!(unable_to_stop_or_start("web").contains(
            "was unable to stop or start tasks during a deployment because of the service deployment configuration"
        ));
    }
}
