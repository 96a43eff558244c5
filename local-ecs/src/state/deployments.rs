//! The ServiceDeployment API's resources: a service revision (what one deployment of the
//! deployments table runs, with the load balancers it routes to) and a service deployment
//! (one CreateService or UpdateService that started a deployment, with its status, checks
//! and rollback). How a service and the state find, count and move them is in
//! `service_deployments`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::{MonitorStatus, ServiceDeploymentStatus};
use super::strategy::{AdvancedConfig, BlueGreenRun};

/// `deploymentConfiguration.alarms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentAlarms {
    /// `alarmNames`.
    pub names: Vec<String>,
    /// `enable`.
    pub enable: bool,
    /// `rollback`.
    pub rollback: bool,
}

/// An entry of a revision's `containerImages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerImage {
    /// `containerName`.
    pub container_name: String,
    /// `image` as the task definition names it.
    pub image: String,
    /// `imageDigest`, when the image is in local-ecs's registry.
    pub image_digest: Option<String>,
}

/// An entry of a service's `loadBalancers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLoadBalancer {
    /// `targetGroupArn`.
    pub target_group_arn: String,
    /// `containerName`.
    pub container_name: String,
    /// `containerPort`.
    pub container_port: i64,
    /// `advancedConfiguration` (blue/green, linear and canary deployments).
    #[serde(default)]
    pub advanced: Option<AdvancedConfig>,
}

/// A service revision: the configuration one deployment of the table runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRevision {
    /// `serviceRevisionArn`.
    pub arn: String,
    /// `taskDefinition`.
    pub task_definition: String,
    /// `launchType`.
    pub launch_type: Option<String>,
    /// `platformVersion`, as sent.
    pub platform_version: Option<String>,
    /// `loadBalancers`.
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// `networkConfiguration` as sent.
    pub network_configuration: Value,
    /// `containerImages`.
    pub container_images: Vec<ContainerImage>,
    /// `createdAt`.
    pub created_at: SystemTime,
}

/// `deploymentCircuitBreaker` of a service deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerCheck {
    /// `status`.
    pub status: MonitorStatus,
    /// `failureCount`.
    pub failure_count: i64,
    /// `threshold`.
    pub threshold: i64,
}

/// `alarms` of a service deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmsCheck {
    /// `status`.
    pub status: MonitorStatus,
    /// `alarmNames`.
    pub names: Vec<String>,
    /// `triggeredAlarmNames`.
    pub triggered: Vec<String>,
}

/// `rollback` of a service deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRecord {
    /// `reason`.
    pub reason: String,
    /// `startedAt`.
    pub started_at: SystemTime,
    /// `serviceRevisionArn`: the revision of the last deployment that completed.
    pub revision_arn: String,
    /// The deployment (`ecs-svc/...`) of the table that carries the rollback out.
    pub deployment_id: String,
}

/// Task counts of one revision (`requestedTaskCount`, `runningTaskCount`,
/// `pendingTaskCount`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionCounts {
    /// `requestedTaskCount`.
    pub requested: i64,
    /// `runningTaskCount`.
    pub running: i64,
    /// `pendingTaskCount`.
    pub pending: i64,
}

/// A service deployment: what one CreateService or UpdateService started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceDeployment {
    /// `serviceDeploymentArn`.
    pub arn: String,
    /// The deployment (`ecs-svc/...`) of the table it started.
    pub deployment_id: String,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `startedAt`: when the scheduler began it.
    pub started_at: Option<SystemTime>,
    /// `finishedAt`.
    pub finished_at: Option<SystemTime>,
    /// `stoppedAt`: when it was stopped (superseded, failed without rollback, or stopped by
    /// StopServiceDeployment).
    pub stopped_at: Option<SystemTime>,
    /// `updatedAt`.
    pub updated_at: SystemTime,
    /// `sourceServiceRevisions`: the revisions running when it was created.
    pub source_revisions: Vec<String>,
    /// `targetServiceRevision.arn`.
    pub target_revision: String,
    /// `status`.
    pub status: ServiceDeploymentStatus,
    /// `statusReason`.
    pub status_reason: Option<String>,
    /// `deploymentConfiguration` as the service had it, in its wire shape.
    pub configuration: Value,
    /// `deploymentCircuitBreaker`.
    pub breaker: BreakerCheck,
    /// `alarms`.
    pub alarms: AlarmsCheck,
    /// `rollback`, once one began.
    pub rollback: Option<RollbackRecord>,
    /// Task counts by revision ARN, frozen when it finished (live counts before).
    pub final_counts: Option<BTreeMap<String, RevisionCounts>>,
    /// Its run through the lifecycle stages, when it replaces a blue revision with a
    /// BLUE_GREEN, LINEAR or CANARY strategy.
    #[serde(default)]
    pub blue_green: Option<BlueGreenRun>,
}

impl ServiceDeployment {
    /// Whether the deployment `row` of the table is the one carrying its rollback out.
    pub fn is_rollback_row(&self, row: &str) -> bool {
        self.rollback
            .as_ref()
            .is_some_and(|r| r.deployment_id == row)
    }

    /// Moves an ongoing deployment to `status` (a finished one is left alone).
    pub fn transition(&mut self, status: ServiceDeploymentStatus, reason: Option<String>) {
        if !self.status.is_ongoing() {
            return;
        }
        let now = SystemTime::now();
        self.status = status;
        if reason.is_some() {
            self.status_reason = reason;
        }
        self.updated_at = now;
        if status == ServiceDeploymentStatus::InProgress {
            self.started_at.get_or_insert(now);
        }
        if status == ServiceDeploymentStatus::Stopped {
            self.stopped_at.get_or_insert(now);
        }
        if !status.is_ongoing() {
            self.finished_at = Some(now);
            for check in [&mut self.breaker.status, &mut self.alarms.status] {
                if *check == MonitorStatus::Monitoring {
                    *check = MonitorStatus::MonitoringComplete;
                }
            }
        }
    }
}
