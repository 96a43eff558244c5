//! A stopped task as a failed deploy reports it.

use std::fmt;
use std::time::SystemTime;

use aws_sdk_ecs::types::{Task, TaskStopCode};

/// A task that stopped, with the reasons ECS gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedTask {
    /// Task ARN.
    pub task_arn: String,
    /// The deployment that started it (`startedBy`), when ECS says.
    pub deployment_id: Option<String>,
    /// Its task definition ARN.
    pub task_definition: String,
    /// `stopCode`, e.g. `EssentialContainerExited`, `TaskFailedToStart`.
    pub stop_code: Option<TaskStopCode>,
    /// `stoppedReason`, e.g. "Essential container in task exited".
    pub stopped_reason: String,
    /// Per container: name, exit code and reason.
    pub containers: Vec<StoppedContainer>,
    /// When it stopped.
    pub stopped_at: Option<SystemTime>,
}

/// A container of a stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedContainer {
    /// Container name.
    pub name: String,
    /// Exit code, when the process ran.
    pub exit_code: Option<i32>,
    /// Why it stopped (e.g. "CannotPullContainerError: …").
    pub reason: Option<String>,
}

impl StoppedTask {
    /// The stopped-task view of a described task.
    pub fn from_task(task: &Task, deployment_id: Option<String>) -> StoppedTask {
        StoppedTask {
            task_arn: task.task_arn().unwrap_or_default().to_owned(),
            deployment_id,
            task_definition: task.task_definition_arn().unwrap_or_default().to_owned(),
            stop_code: task.stop_code().cloned(),
            stopped_reason: task.stopped_reason().unwrap_or("stopped").to_owned(),
            containers: task
                .containers()
                .iter()
                .map(|c| StoppedContainer {
                    name: c.name().unwrap_or_default().to_owned(),
                    exit_code: c.exit_code(),
                    reason: c.reason().map(str::to_owned),
                })
                .collect(),
            stopped_at: task
                .stopped_at()
                .and_then(|t| SystemTime::try_from(*t).ok()),
        }
    }

    /// The last part of the task ARN.
    pub fn task_id(&self) -> &str {
        crate::arn::tail(&self.task_arn)
    }
}

impl fmt::Display for StoppedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.task_id(), self.stopped_reason)?;
        if let Some(code) = &self.stop_code {
            write!(f, " [{}]", code.as_str())?;
        }
        for c in &self.containers {
            match (c.exit_code, &c.reason) {
                (Some(exit), Some(reason)) => {
                    write!(f, "; container {} exited {exit}: {reason}", c.name)?
                }
                (Some(exit), None) => write!(f, "; container {} exited {exit}", c.name)?,
                (None, Some(reason)) => write!(f, "; container {}: {reason}", c.name)?,
                (None, None) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::Container;

    #[test]
    fn a_stopped_task_reads_as_one_line_with_its_containers() {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:us-east-1:1:task/dev-cluster/0abc")
            .task_definition_arn("arn:aws:ecs:us-east-1:1:task-definition/hello:2")
            .stop_code(TaskStopCode::EssentialContainerExited)
            .stopped_reason("Essential container in task exited")
            .containers(Container::builder().name("hello").exit_code(1).build())
            .containers(
                Container::builder()
                    .name("sidecar")
                    .reason("CannotPullContainerError: not found")
                    .build(),
            )
            .build();
        let stopped = StoppedTask::from_task(&task, Some("ecs-svc/2".into()));
        assert_eq!(stopped.task_id(), "0abc");
        assert_eq!(
            stopped.to_string(),
            "0abc: Essential container in task exited [EssentialContainerExited]; container \
             hello exited 1; container sidecar: CannotPullContainerError: not found"
        );
    }
}
