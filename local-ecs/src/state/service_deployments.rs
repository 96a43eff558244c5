//! How a service and the state read and move its service deployments: the one that owns a
//! row of the deployments table, the live task counts of a revision, and the transitions the
//! API and the scheduler make (with the counts a finished deployment keeps).

use std::collections::BTreeMap;

use super::State;
use super::deployments::{RevisionCounts, ServiceDeployment, ServiceRevision};
use super::ecs::Service;
use super::status::{DeploymentStatus, DesiredStatus, ServiceDeploymentStatus, TaskStatus};

impl Service {
    /// The service deployment that owns deployment `row` of the table (it started it, or it
    /// rolls back with it).
    pub fn service_deployment_of_row(&self, row: &str) -> Option<&ServiceDeployment> {
        self.service_deployments
            .iter()
            .rev()
            .find(|sd| sd.deployment_id == row || sd.is_rollback_row(row))
    }

    /// See [`Service::service_deployment_of_row`].
    pub fn service_deployment_of_row_mut(&mut self, row: &str) -> Option<&mut ServiceDeployment> {
        self.service_deployments
            .iter_mut()
            .rev()
            .find(|sd| sd.deployment_id == row || sd.is_rollback_row(row))
    }

    /// The revision with `arn`.
    pub fn revision(&self, arn: &str) -> Option<&ServiceRevision> {
        self.revisions.iter().find(|r| r.arn == arn)
    }

    /// `currentServiceDeployment`: the newest service deployment (a rollback belongs to the
    /// deployment that failed).
    pub fn current_service_deployment(&self) -> Option<&ServiceDeployment> {
        self.service_deployments.last()
    }
}

impl State {
    /// Live task counts of one revision of a service.
    pub fn revision_counts(&self, service: &Service, revision_arn: &str) -> RevisionCounts {
        let mut counts = RevisionCounts::default();
        let tasks = self.tasks.values().filter(|t| {
            t.service_arn.as_deref() == Some(service.arn.as_str())
                && t.service_revision.as_deref() == Some(revision_arn)
        });
        let mut wanted = 0;
        for task in tasks {
            match task.last_status {
                TaskStatus::Running => counts.running += 1,
                TaskStatus::Provisioning | TaskStatus::Pending => counts.pending += 1,
                _ => {}
            }
            if task.desired_status == DesiredStatus::Running {
                wanted += 1;
            }
        }
        let primary = service
            .deployments
            .iter()
            .any(|d| d.status == DeploymentStatus::Primary && d.revision_arn == revision_arn);
        counts.requested = if primary {
            service.desired_count
        } else {
            wanted
        };
        counts
    }

    /// STOPPED for every ongoing service deployment of a service, each with the reason `why`
    /// gives for its deployment row (superseded by a newer one, or the service deleted).
    pub fn stop_ongoing_service_deployments(
        &mut self,
        service_arn: &str,
        why: impl Fn(&str) -> String,
    ) {
        let ongoing: Vec<String> = self
            .services
            .iter()
            .filter(|s| s.arn == service_arn)
            .flat_map(|s| s.service_deployments.iter())
            .filter(|sd| sd.status.is_ongoing())
            .map(|sd| sd.deployment_id.clone())
            .collect();
        for row in ongoing {
            let reason = why(&row);
            self.transition_service_deployment(
                service_arn,
                &row,
                ServiceDeploymentStatus::Stopped,
                Some(reason),
            );
        }
    }

    /// Moves the service deployment that owns `row` to `status`; a deployment that finishes
    /// keeps the task counts it finished with.
    pub fn transition_service_deployment(
        &mut self,
        service_arn: &str,
        row: &str,
        status: ServiceDeploymentStatus,
        reason: Option<String>,
    ) {
        let Some(service) = self.services.iter().find(|s| s.arn == service_arn) else {
            return;
        };
        let Some(sd) = service.service_deployment_of_row(row) else {
            return;
        };
        let counts = (!status.is_ongoing() && sd.status.is_ongoing())
            .then(|| self.frozen_counts(service, sd));
        if let Some(sd) = self
            .service_by_arn_mut(service_arn)
            .and_then(|s| s.service_deployment_of_row_mut(row))
        {
            sd.transition(status, reason);
            if counts.is_some() {
                sd.final_counts = counts;
            }
        }
    }

    /// The counts of every revision a service deployment names, as they are now.
    pub fn frozen_counts(
        &self,
        service: &Service,
        sd: &ServiceDeployment,
    ) -> BTreeMap<String, RevisionCounts> {
        sd.source_revisions
            .iter()
            .chain(std::iter::once(&sd.target_revision))
            .map(|arn| (arn.clone(), self.revision_counts(service, arn)))
            .collect()
    }
}
