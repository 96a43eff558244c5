//! `ListTasks` and `DescribeTasks` for a service, and which deployment a task belongs to.

use aws_sdk_ecs::types::{DesiredStatus, Task};

use crate::error::{Error, Result};
use crate::service::{DeploymentSnapshot, ServiceRef};

/// The deployment a task belongs to: `startedBy` for service tasks, else the one deployment
/// running its task definition.
pub fn task_deployment(task: &Task, deployments: &[DeploymentSnapshot]) -> Option<String> {
    if let Some(started_by) = task.started_by().filter(|s| s.starts_with("ecs-svc/")) {
        return Some(started_by.to_owned());
    }
    let td = task.task_definition_arn()?;
    let mut matching = deployments.iter().filter(|d| d.task_definition == td);
    match (matching.next(), matching.next()) {
        (Some(only), None) => Some(only.id.clone()),
        _ => None,
    }
}

/// Every task ARN of the service with the desired status (all pages).
pub async fn list_tasks(
    ecs: &aws_sdk_ecs::Client,
    target: &ServiceRef,
    status: DesiredStatus,
) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let out = ecs
            .list_tasks()
            .cluster(&target.cluster)
            .service_name(&target.service)
            .desired_status(status.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Error::from_sdk("ecs:ListTasks", e))?;
        arns.extend(out.task_arns().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(arns);
        }
    }
}

/// `DescribeTasks` in batches of 100 (the API's limit).
pub async fn describe_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<Task>> {
    let mut tasks = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(100) {
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| Error::from_sdk("ecs:DescribeTasks", e))?;
        tasks.extend(out.tasks.unwrap_or_default());
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_map_to_deployments_by_started_by_then_task_definition() {
        let deployments = [
            DeploymentSnapshot::running_one("ecs-svc/1", "td:1"),
            DeploymentSnapshot::running_one("ecs-svc/2", "td:2"),
        ];
        let by_started = Task::builder()
            .started_by("ecs-svc/2")
            .task_definition_arn("td:1")
            .build();
        assert_eq!(
            task_deployment(&by_started, &deployments).as_deref(),
            Some("ecs-svc/2")
        );
        let by_td = Task::builder().task_definition_arn("td:1").build();
        assert_eq!(
            task_deployment(&by_td, &deployments).as_deref(),
            Some("ecs-svc/1")
        );
        assert_eq!(
            task_deployment(
                &Task::builder().task_definition_arn("td:9").build(),
                &deployments
            ),
            None
        );
    }
}
