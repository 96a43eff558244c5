//! Watching a rollout: the deployment table, service events, target health and stopped tasks,
//! as a stream of typed events ending in an outcome.

use std::fmt;
use std::time::SystemTime;

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
    pub stop_code: Option<String>,
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
    /// The last part of the task ARN.
    pub fn task_id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }
}

impl fmt::Display for StoppedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.task_id(), self.stopped_reason)?;
        if let Some(code) = &self.stop_code {
            write!(f, " [{code}]")?;
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
