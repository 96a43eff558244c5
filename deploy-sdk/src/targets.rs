//! Target health of a service's target groups, counted per deployment: the AWS waiters never
//! look at it, yet it is what the load balancer acts on.
//!
//! ELBv2 knows targets as (id, port): an IP for `awsvpc` tasks, an instance id (EC2) or an
//! address for bridge-mode host ports. Tasks are mapped to those keys from DescribeTasks
//! (network interfaces, network bindings) and to deployments through `startedBy`, which ECS
//! sets to the deployment id for service tasks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use aws_sdk_ecs::types::{DesiredStatus, Task};
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;

use crate::error::{Error, Result};
use crate::service::{DeploymentSnapshot, ServiceRef};
// Their home is `tasks`; kept here, where they were first published.
pub use crate::tasks::{describe_tasks, list_tasks, task_deployment};

/// Targets of one deployment in one target group, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TargetCounts {
    /// Registering or first checks running.
    pub initial: u32,
    /// Passing health checks: the load balancer sends them traffic.
    pub healthy: u32,
    /// Failing health checks.
    pub unhealthy: u32,
    /// Deregistering: finishing in-flight requests, no new ones.
    pub draining: u32,
    /// Registered but not in use (e.g. no listener, AZ not enabled).
    pub unused: u32,
    /// Health checks disabled or unavailable.
    pub unavailable: u32,
}

impl TargetCounts {
    fn add(&mut self, state: Option<&TargetHealthStateEnum>) {
        use TargetHealthStateEnum as S;
        match state {
            Some(S::Initial) => self.initial += 1,
            Some(S::Healthy) => self.healthy += 1,
            Some(state) if is_unhealthy(state) => self.unhealthy += 1,
            Some(S::Draining) => self.draining += 1,
            Some(S::Unused) => self.unused += 1,
            _ => self.unavailable += 1,
        }
    }

    /// Targets in any state.
    pub fn total(&self) -> u32 {
        self.initial
            + self.healthy
            + self.unhealthy
            + self.draining
            + self.unused
            + self.unavailable
    }
}

impl fmt::Display for TargetCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            ("healthy", self.healthy),
            ("initial", self.initial),
            ("unhealthy", self.unhealthy),
            ("draining", self.draining),
            ("unused", self.unused),
            ("unavailable", self.unavailable),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        if shown.is_empty() {
            f.write_str("no targets")
        } else {
            f.write_str(&shown.join(", "))
        }
    }
}

/// Failing health checks, whether or not the target is also deregistering.
fn is_unhealthy(state: &TargetHealthStateEnum) -> bool {
    matches!(
        state,
        TargetHealthStateEnum::Unhealthy | TargetHealthStateEnum::UnhealthyDraining
    )
}

/// One target group's targets, grouped by the deployment their task belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupHealth {
    /// The target group.
    pub target_group_arn: String,
    /// Deployment id (`None`: the task could not be matched) → counts.
    pub by_deployment: BTreeMap<Option<String>, TargetCounts>,
    /// Why targets are unhealthy, as ELBv2 describes it (deduplicated).
    pub unhealthy_reasons: Vec<String>,
}

impl TargetGroupHealth {
    /// The counts of `deployment_id`'s targets (zero when it has none).
    pub fn of(&self, deployment_id: &str) -> TargetCounts {
        self.by_deployment
            .get(&Some(deployment_id.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

/// How a target is found: `(id or address, port)`; `None` port matches by address alone
/// (`awsvpc`, one address per task).
type TargetKey = (String, Option<i32>);

/// Keeps the map from targets to deployments between polls, so tasks are described once.
#[derive(Debug, Default)]
pub struct TargetHealthTracker {
    by_key: HashMap<TargetKey, String>,
    by_port: HashMap<i32, Vec<String>>,
    described: HashSet<String>,
}

impl TargetHealthTracker {
    /// A tracker that knows no task yet.
    pub fn new() -> TargetHealthTracker {
        TargetHealthTracker::default()
    }

    /// Describes the target health of `target_groups` and counts it per deployment.
    /// Describes tasks only when a target is not matched yet.
    pub async fn poll(
        &mut self,
        clients: &crate::Clients,
        target: &ServiceRef,
        target_groups: &[String],
        deployments: &[DeploymentSnapshot],
    ) -> Result<Vec<TargetGroupHealth>> {
        let mut groups = Vec::with_capacity(target_groups.len());
        for arn in target_groups {
            let out = clients
                .elb
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeTargetHealth", e))?;
            let targets: Vec<Observed> = out
                .target_health_descriptions()
                .iter()
                .map(|d| Observed {
                    id: d
                        .target()
                        .and_then(|t| t.id())
                        .unwrap_or_default()
                        .to_owned(),
                    port: d.target().and_then(|t| t.port()),
                    state: d.target_health().and_then(|h| h.state()).cloned(),
                    reason: d
                        .target_health()
                        .and_then(|h| h.description())
                        .map(str::to_owned),
                })
                .collect();
            groups.push((arn.clone(), targets));
        }
        if groups
            .iter()
            .flat_map(|(_, t)| t)
            .any(|t| self.deployment_of(t).is_none())
        {
            self.refresh(clients, target, deployments, DesiredStatus::Running)
                .await?;
            if groups
                .iter()
                .flat_map(|(_, t)| t)
                .any(|t| self.deployment_of(t).is_none())
            {
                // Draining targets belong to tasks being stopped (desiredStatus STOPPED).
                self.refresh(clients, target, deployments, DesiredStatus::Stopped)
                    .await?;
            }
        }
        Ok(groups
            .into_iter()
            .map(|(arn, targets)| {
                let mut by_deployment: BTreeMap<Option<String>, TargetCounts> = BTreeMap::new();
                let mut unhealthy_reasons = Vec::new();
                for t in &targets {
                    by_deployment
                        .entry(self.deployment_of(t))
                        .or_default()
                        .add(t.state.as_ref());
                    if t.state.as_ref().is_some_and(is_unhealthy)
                        && let Some(reason) = &t.reason
                        && !unhealthy_reasons.contains(reason)
                    {
                        unhealthy_reasons.push(reason.clone());
                    }
                }
                TargetGroupHealth {
                    target_group_arn: arn,
                    by_deployment,
                    unhealthy_reasons,
                }
            })
            .collect())
    }

    fn deployment_of(&self, t: &Observed) -> Option<String> {
        if let Some(d) = self
            .by_key
            .get(&(t.id.clone(), t.port))
            .or_else(|| self.by_key.get(&(t.id.clone(), None)))
        {
            return Some(d.clone());
        }
        // EC2 bridge mode: the target id is an instance id; a host port used by one task only
        // identifies it.
        match t.port.and_then(|p| self.by_port.get(&p)) {
            Some(owners) if owners.len() == 1 => Some(owners[0].clone()),
            _ => None,
        }
    }

    async fn refresh(
        &mut self,
        clients: &crate::Clients,
        target: &ServiceRef,
        deployments: &[DeploymentSnapshot],
        status: DesiredStatus,
    ) -> Result<()> {
        let arns = list_tasks(&clients.ecs, target, status).await?;
        let new: Vec<String> = arns
            .into_iter()
            .filter(|a| !self.described.contains(a))
            .collect();
        for task in describe_tasks(&clients.ecs, &target.cluster, &new).await? {
            // A task still provisioning has no address or port yet: describe it again later.
            if self.index(&task, deployments) {
                self.described.extend(task.task_arn().map(str::to_owned));
            }
        }
        Ok(())
    }

    /// Adds a task's target keys to the map; false when it has none (yet).
    pub fn index(&mut self, task: &Task, deployments: &[DeploymentSnapshot]) -> bool {
        let Some(deployment) = task_deployment(task, deployments) else {
            return false;
        };
        let keys = task_target_keys(task);
        for port in keys.iter().filter_map(|(_, port)| *port) {
            self.by_port
                .entry(port)
                .or_default()
                .push(deployment.clone());
        }
        let found = !keys.is_empty();
        for key in keys {
            self.by_key.insert(key, deployment.clone());
        }
        found
    }
}

/// The keys a task's targets are registered under: its `awsvpc` addresses (any port), and
/// its host ports with their bind address (bridge and host networking).
pub fn task_target_keys(task: &Task) -> Vec<(String, Option<i32>)> {
    let mut keys = Vec::new();
    for container in task.containers() {
        for binding in container.network_bindings() {
            if let Some(port) = binding.host_port() {
                let ip = binding.bind_ip().unwrap_or("0.0.0.0");
                keys.push((ip.to_owned(), Some(port)));
            }
        }
        for interface in container.network_interfaces() {
            if let Some(ip) = interface.private_ipv4_address() {
                keys.push((ip.to_owned(), None));
            }
        }
    }
    for attachment in task.attachments() {
        for detail in attachment.details() {
            if detail.name() == Some("privateIPv4Address")
                && let Some(ip) = detail.value()
            {
                keys.push((ip.to_owned(), None));
            }
        }
    }
    keys
}

struct Observed {
    id: String,
    port: Option<i32>,
    state: Option<TargetHealthStateEnum>,
    reason: Option<String>,
}

/// The target groups a service sends traffic through, the alternate (green) groups of a
/// blue/green, linear or canary service included.
pub fn service_target_groups(service: &aws_sdk_ecs::types::Service) -> Vec<String> {
    let mut arns: Vec<String> = Vec::new();
    // Blue/green, linear and canary register the green tasks in the alternate target group.
    let alternates = service.load_balancers().iter().filter_map(|lb| {
        lb.advanced_configuration()
            .and_then(|a| a.alternate_target_group_arn())
    });
    for arn in service
        .load_balancers()
        .iter()
        .filter_map(|lb| lb.target_group_arn())
        .chain(alternates)
    {
        if !arns.iter().any(|a| a == arn) {
            arns.push(arn.to_owned());
        }
    }
    arns
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Container, NetworkBinding, NetworkInterface};

    #[test]
    fn targets_match_by_address_and_port() {
        let deployments = [
            DeploymentSnapshot::running_one("ecs-svc/1", "td:1"),
            DeploymentSnapshot::running_one("ecs-svc/2", "td:2"),
        ];
        let mut tracker = TargetHealthTracker::new();
        let bridge = Task::builder()
            .started_by("ecs-svc/1")
            .containers(
                Container::builder()
                    .network_bindings(
                        NetworkBinding::builder()
                            .bind_ip("127.0.0.1")
                            .host_port(40001)
                            .container_port(8080)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let awsvpc = Task::builder()
            .started_by("ecs-svc/2")
            .containers(
                Container::builder()
                    .network_interfaces(
                        NetworkInterface::builder()
                            .private_ipv4_address("10.0.1.7")
                            .build(),
                    )
                    .build(),
            )
            .build();
        tracker.index(&bridge, &deployments);
        tracker.index(&awsvpc, &deployments);
        let observed = |id: &str, port| Observed {
            id: id.into(),
            port: Some(port),
            state: Some(TargetHealthStateEnum::Healthy),
            reason: None,
        };
        assert_eq!(
            tracker
                .deployment_of(&observed("127.0.0.1", 40001))
                .as_deref(),
            Some("ecs-svc/1")
        );
        assert_eq!(
            tracker
                .deployment_of(&observed("10.0.1.7", 8080))
                .as_deref(),
            Some("ecs-svc/2")
        );
        assert_eq!(
            tracker.deployment_of(&observed("i-0abc", 40001)).as_deref(),
            Some("ecs-svc/1"),
            "instance id, unique port"
        );
        assert_eq!(tracker.deployment_of(&observed("10.9.9.9", 8080)), None);
    }

    #[test]
    fn counts_read_like_a_sentence() {
        let mut counts = TargetCounts::default();
        use TargetHealthStateEnum as S;
        for state in [S::Healthy, S::Healthy, S::Draining, S::Initial] {
            counts.add(Some(&state));
        }
        assert_eq!(counts.to_string(), "2 healthy, 1 initial, 1 draining");
        assert_eq!(counts.total(), 4);
        assert_eq!(TargetCounts::default().to_string(), "no targets");
    }

    #[test]
    fn every_elb_state_is_counted_once() {
        use TargetHealthStateEnum as S;
        let mut counts = TargetCounts::default();
        for state in [
            Some(S::UnhealthyDraining),
            Some(S::Unhealthy),
            Some(S::Unused),
            Some(S::Unavailable),
            Some(S::from("a-state-elb-adds-later")),
            None,
        ] {
            counts.add(state.as_ref());
        }
        assert_eq!(
            counts,
            TargetCounts {
                unhealthy: 2,
                unused: 1,
                unavailable: 3,
                ..TargetCounts::default()
            }
        );
    }
}
