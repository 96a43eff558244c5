//! What the ServiceDeployment API says about our deployment, with its revisions resolved to
//! task definitions (once each); or, when the API cannot be used, the switch to the table
//! judge, said once in the stream.

use aws_sdk_ecs::types::{Service, ServiceDeploymentStatus};

use super::{Draft, Mode, Watcher};
use crate::Clients;
use crate::error::{Error, Result};
use crate::rollout::judge::{RollbackFacts, ServiceDeploymentFacts};
use crate::rollout::{JudgedBy, RolloutEvent, StageState};
use crate::service::{DeploymentSnapshot, describe_service_intercepted};
use crate::service_deployment;

impl Watcher {
    /// The service deployment's facts, or `None` when the table judges (and why, once).
    pub(super) async fn facts(
        &mut self,
        clients: &Clients,
        service: &Service,
        table: &[DeploymentSnapshot],
        draft: &mut Draft,
    ) -> Result<Option<ServiceDeploymentFacts>> {
        let arn = match (&self.mode, &self.started.service_deployment_arn) {
            (Mode::Table(_), _) => return Ok(None),
            (_, Some(arn)) => arn.clone(),
            (_, None) => {
                let why = "the service reported no currentServiceDeployment for it".to_owned();
                fall_back(why, draft);
                return Ok(None);
            }
        };
        match self.describe_facts(clients, &arn, service, table).await {
            Ok(mut facts) => {
                self.reread_current(clients, &mut facts).await;
                if self.mode == Mode::Undecided {
                    draft
                        .events
                        .push(RolloutEvent::JudgedBy(JudgedBy::ServiceDeployments));
                    draft.commit.mode = Some(Mode::Api(arn));
                }
                Ok(Some(facts))
            }
            Err(err) if err.is_transient() => Err(err),
            Err(err) => {
                let why = service_deployment::unavailable(&err).unwrap_or_else(|| err.to_string());
                fall_back(why, draft);
                Ok(None)
            }
        }
    }

    /// The service was described before our service deployment: an UpdateService in between
    /// stops ours (superseded) while the older answer still names ours current. A STOPPED
    /// deployment that is still current is read again, after its status, to tell a
    /// supersession from a failure without rollback. Best effort: on error the facts stand.
    async fn reread_current(&self, clients: &Clients, facts: &mut ServiceDeploymentFacts) {
        if facts.status != ServiceDeploymentStatus::Stopped
            || facts.current_service_deployment.as_deref() != Some(facts.arn.as_str())
        {
            return;
        }
        let Ok(fresh) = describe_service_intercepted(
            &clients.ecs,
            &self.started.service,
            self.options.budget.counter(),
        )
        .await
        else {
            return;
        };
        facts.current_service_deployment = fresh.current_service_deployment().map(str::to_owned);
        facts.primary = DeploymentSnapshot::table(&fresh)
            .into_iter()
            .find(|d| d.status == "PRIMARY")
            .map(|d| (d.id, d.task_definition));
    }

    async fn describe_facts(
        &mut self,
        clients: &Clients,
        arn: &str,
        service: &Service,
        table: &[DeploymentSnapshot],
    ) -> Result<ServiceDeploymentFacts> {
        const ACTION: &str = "ecs:DescribeServiceDeployments";
        let sd = service_deployment::describe(&clients.ecs, arn).await?;
        let status = sd
            .status()
            .cloned()
            .ok_or_else(|| unreadable(ACTION, "a service deployment without its status"))?;
        let target = sd
            .target_service_revision()
            .and_then(|r| r.arn())
            .ok_or_else(|| {
                unreadable(ACTION, "a service deployment without its target revision")
            })?;
        let target_task_definition = Some(self.task_definition_of(clients, target).await?);
        let rollback = match sd.rollback() {
            Some(r) => {
                let revision = r.service_revision_arn().map(str::to_owned);
                // Best effort: without it the PRIMARY's task definition names the target.
                let task_definition = match &revision {
                    Some(rev) => self.task_definition_of(clients, rev).await.ok(),
                    None => None,
                };
                Some(RollbackFacts {
                    reason: r.reason().map(str::to_owned),
                    service_revision_arn: revision,
                    task_definition,
                })
            }
            None => None,
        };
        Ok(ServiceDeploymentFacts {
            arn: arn.to_owned(),
            status,
            status_reason: sd.status_reason().map(str::to_owned),
            target_task_definition,
            rollback,
            triggered_alarms: sd
                .alarms()
                .map(|a| a.triggered_alarm_names().to_vec())
                .unwrap_or_default(),
            circuit_breaker: sd
                .deployment_circuit_breaker()
                .map(|cb| (cb.failure_count(), cb.threshold())),
            current_service_deployment: service.current_service_deployment().map(str::to_owned),
            primary: table
                .iter()
                .find(|d| d.status == "PRIMARY")
                .map(|d| (d.id.clone(), d.task_definition.clone())),
            stage: StageState::of(&sd),
        })
    }

    async fn task_definition_of(&mut self, clients: &Clients, revision: &str) -> Result<String> {
        if let Some(td) = self.revisions.get(revision) {
            return Ok(td.clone());
        }
        let found =
            service_deployment::task_definitions(&clients.ecs, &[revision.to_owned()]).await?;
        let td = found.get(revision).cloned().unwrap_or_default();
        self.revisions.insert(revision.to_owned(), td.clone());
        Ok(td)
    }
}

/// The table judges from now on, and the stream says why.
fn fall_back(why: String, draft: &mut Draft) {
    draft
        .events
        .push(RolloutEvent::JudgedBy(JudgedBy::DeploymentTable {
            why: why.clone(),
        }));
    draft.commit.mode = Some(Mode::Table(why));
}

/// An answer the judge cannot read: the table judges instead (retrying would not help).
fn unreadable(action: &str, message: &str) -> Error {
    Error::Aws {
        action: action.to_owned(),
        code: None,
        kind: None,
        message: message.to_owned(),
    }
}
