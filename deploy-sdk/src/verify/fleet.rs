//! Which targets the load balancer may send a request to, and whether any of them is not the
//! deployment being verified. A streak of new answers is evidence; "no target of another
//! deployment is in service" is the fact it stands for, read from target health.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;

use aws_sdk_ecs::types::DesiredStatus;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;

use crate::Clients;
use crate::error::{Error, Result};
use crate::service::{DeploymentSnapshot, ServiceRef, describe_service};
use crate::targets::service_target_groups;
use crate::tasks::{describe_tasks, list_tasks};

/// A reading of the targets behind the load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetHealth {
    /// Where the figures come from.
    pub source: FleetSource,
    /// Targets the load balancer may send a request to: healthy, initial, unhealthy, or with
    /// health checks unavailable. Draining and unused targets get no new requests.
    pub in_service: u32,
    /// Of those, the targets that are not tasks of the deployment being verified (an older
    /// deployment's, or anyone else's, or a target no task of ours explains).
    pub others_in_service: u32,
}

/// Where a [`FleetHealth`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetSource {
    /// ELBv2 target health of the service's target groups, matched to its tasks.
    TargetHealth,
    /// The service's deployment table (running tasks per deployment): for a service without
    /// a target group (a Classic Load Balancer, or none).
    Deployments,
}

impl fmt::Display for FleetHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.source {
            FleetSource::TargetHealth => "targets in service",
            FleetSource::Deployments => "running tasks (deployment table)",
        };
        match self.others_in_service {
            0 => write!(f, "{} {what}, none of another deployment", self.in_service),
            n => write!(f, "{n} of {} {what} of another deployment", self.in_service),
        }
    }
}

/// What verification reads target health from.
pub trait Fleet {
    /// Reads the targets in service now.
    fn observe(&mut self) -> impl Future<Output = Result<FleetHealth>> + Send;
}

/// (target id, port): `None` port for an `awsvpc` address, which is the task's whole.
type TargetKey = (String, Option<i32>);

/// A service's targets, judged for one of its deployments.
#[derive(Debug)]
pub struct ServiceFleet {
    clients: Clients,
    service: ServiceRef,
    deployment_id: String,
    target_groups: Vec<String>,
    /// Target keys of the deployment's tasks.
    ours: HashSet<TargetKey>,
    /// Tasks whose keys are known, or which are not the deployment's.
    looked_at: HashSet<String>,
}

impl ServiceFleet {
    /// The fleet of `service`, for its deployment `deployment_id` (describes the service once,
    /// for its target groups).
    pub async fn new(
        clients: &Clients,
        service: &ServiceRef,
        deployment_id: &str,
    ) -> Result<ServiceFleet> {
        let described = describe_service(&clients.ecs, service).await?;
        Ok(ServiceFleet {
            clients: clients.clone(),
            service: service.clone(),
            deployment_id: deployment_id.to_owned(),
            target_groups: service_target_groups(&described),
            ours: HashSet::new(),
            looked_at: HashSet::new(),
        })
    }

    async fn by_target_health(&mut self) -> Result<FleetHealth> {
        let mut in_service: Vec<TargetKey> = Vec::new();
        for arn in &self.target_groups {
            let out = self
                .clients
                .elb
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeTargetHealth", e))?;
            for description in out.target_health_descriptions() {
                let state = description.target_health().and_then(|h| h.state());
                if gets_requests(state) {
                    let target = description.target();
                    let id = target.and_then(|t| t.id()).unwrap_or_default();
                    in_service.push((id.to_owned(), target.and_then(|t| t.port())));
                }
            }
        }
        if in_service.iter().any(|t| !self.is_ours(t)) {
            // Instance targets (EC2) are named by instance id, not address.
            let by_instance = in_service
                .iter()
                .any(|(id, _)| id.parse::<IpAddr>().is_err());
            self.learn_tasks(by_instance).await?;
        }
        let others = in_service.iter().filter(|t| !self.is_ours(t)).count();
        Ok(FleetHealth {
            source: FleetSource::TargetHealth,
            in_service: in_service.len() as u32,
            others_in_service: others as u32,
        })
    }

    fn is_ours(&self, (id, port): &TargetKey) -> bool {
        self.ours.contains(&(id.clone(), *port)) || self.ours.contains(&(id.clone(), None))
    }

    /// Describes the service's running tasks not looked at yet; keeps the target keys of the
    /// deployment's (with their EC2 instance ids when `by_instance`).
    async fn learn_tasks(&mut self, by_instance: bool) -> Result<()> {
        let ecs = &self.clients.ecs;
        let arns = list_tasks(ecs, &self.service, DesiredStatus::Running).await?;
        let new: Vec<String> = arns
            .into_iter()
            .filter(|a| !self.looked_at.contains(a))
            .collect();
        let mut on_instances: Vec<(String, i32)> = Vec::new();
        for task in describe_tasks(ecs, &self.service.cluster, &new).await? {
            let Some(arn) = task.task_arn() else { continue };
            if task.started_by() != Some(self.deployment_id.as_str()) {
                self.looked_at.insert(arn.to_owned());
                continue;
            }
            let keys = crate::targets::task_target_keys(&task);
            // A task still starting has no address yet: look again next time.
            if !keys.is_empty() {
                self.looked_at.insert(arn.to_owned());
            }
            if let Some(instance) = task.container_instance_arn().filter(|_| by_instance) {
                let ports = keys.iter().filter_map(|(_, port)| *port);
                on_instances.extend(ports.map(|port| (instance.to_owned(), port)));
            }
            self.ours.extend(keys);
        }
        self.learn_instances(on_instances).await
    }

    /// Instance targets (EC2, bridge or host mode) are `(EC2 instance id, host port)`.
    async fn learn_instances(&mut self, ports: Vec<(String, i32)>) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        let mut arns: Vec<String> = ports.iter().map(|(arn, _)| arn.clone()).collect();
        arns.sort();
        arns.dedup();
        let out = self
            .clients
            .ecs
            .describe_container_instances()
            .cluster(&self.service.cluster)
            .set_container_instances(Some(arns))
            .send()
            .await
            .map_err(|e| Error::from_sdk("ecs:DescribeContainerInstances", e))?;
        let instance_ids: HashMap<&str, &str> = out
            .container_instances()
            .iter()
            .filter_map(|c| Some((c.container_instance_arn()?, c.ec2_instance_id()?)))
            .collect();
        for (arn, port) in &ports {
            if let Some(id) = instance_ids.get(arn.as_str()) {
                self.ours.insert(((*id).to_owned(), Some(*port)));
            }
        }
        Ok(())
    }

    async fn by_deployments(&self) -> Result<FleetHealth> {
        let service = describe_service(&self.clients.ecs, &self.service).await?;
        let table = DeploymentSnapshot::table(&service);
        let running = |d: &DeploymentSnapshot| d.running.max(0) as u32;
        Ok(FleetHealth {
            source: FleetSource::Deployments,
            in_service: table.iter().map(running).sum(),
            others_in_service: table
                .iter()
                .filter(|d| d.id != self.deployment_id)
                .map(running)
                .sum(),
        })
    }
}

impl Fleet for ServiceFleet {
    async fn observe(&mut self) -> Result<FleetHealth> {
        if self.target_groups.is_empty() {
            self.by_deployments().await
        } else {
            self.by_target_health().await
        }
    }
}

/// Whether the load balancer sends new requests to a target in `state`. Unknown states count
/// as in service: better to wait than to prove too much.
fn gets_requests(state: Option<&TargetHealthStateEnum>) -> bool {
    use TargetHealthStateEnum as S;
    !matches!(state, Some(S::Draining | S::UnhealthyDraining | S::Unused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draining_and_unused_targets_get_no_requests() {
        use TargetHealthStateEnum as S;
        for state in [S::Draining, S::UnhealthyDraining, S::Unused] {
            assert!(!gets_requests(Some(&state)), "{state:?}");
        }
        for state in [
            S::Healthy,
            S::Initial,
            S::Unhealthy,
            S::Unavailable,
            S::from("a-state-elb-adds-later"),
        ] {
            assert!(gets_requests(Some(&state)), "{state:?}");
        }
        assert!(gets_requests(None));
    }

    #[test]
    fn readings_say_whose_targets_are_in_service() {
        let clean = FleetHealth {
            source: FleetSource::TargetHealth,
            in_service: 4,
            others_in_service: 0,
        };
        assert_eq!(
            clean.to_string(),
            "4 targets in service, none of another deployment"
        );
        let straggler = FleetHealth {
            others_in_service: 1,
            source: FleetSource::Deployments,
            ..clean
        };
        assert_eq!(
            straggler.to_string(),
            "1 of 4 running tasks (deployment table) of another deployment"
        );
    }
}
