//! The control plane's model: every resource the three APIs manage, in one structure behind
//! one lock. What survives a restart is serialized by `store`; runtime-only parts (tasks,
//! targets, health counters) are marked `serde(skip)`.

mod alarms;
mod deployments;
mod ecr;
mod ecs;
mod elb;
mod service_deployments;
mod status;
mod strategy;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use alarms::MetricAlarm;
pub use deployments::{
    AlarmsCheck, BreakerCheck, ContainerImage, DeploymentAlarms, RevisionCounts, RollbackRecord,
    ServiceDeployment, ServiceLoadBalancer, ServiceRevision,
};
pub use ecr::{AuthToken, ImageRecord, Repository};
pub use ecs::{
    CircuitBreaker, Cluster, CompletedDeployment, ContainerRun, Deployment, Service, Task,
    TaskDefinition,
};
pub use elb::{HealthCheck, Listener, LoadBalancer, Rule, Target, TargetGroup, default_rule_arn};
pub use status::{
    AlarmState, ContainerStatus, ControllerType, DeploymentStatus, DesiredStatus, HealthStatus,
    MonitorStatus, RolloutState, ServiceDeploymentStatus, ServiceStatus, StopCode, TargetReason,
    TargetState, TaskDefinitionStatus, TaskStatus,
};

pub use strategy::{
    AdvancedConfig, BlueGreenRun, CanaryConfig, HookAction, HookRun, HookStage, HookStatus,
    HookTarget, HookTimeout, LifecycleHook, LifecycleStage, LinearConfig, Route, Strategy,
    StrategySettings, weights,
};

use crate::ids;

/// Every resource, keyed the way the APIs look them up.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// ECS clusters by name.
    pub clusters: BTreeMap<String, Cluster>,
    /// Task definition revisions by family; index `i` holds revision `i + 1`.
    pub task_definitions: BTreeMap<String, Vec<TaskDefinition>>,
    /// ECS services, in creation order.
    pub services: Vec<Service>,
    /// ECS tasks by task id (not persisted: a restart starts services' tasks afresh).
    #[serde(skip)]
    pub tasks: BTreeMap<String, Task>,
    /// ECR repositories by name.
    pub repositories: BTreeMap<String, Repository>,
    /// Registry passwords handed out by GetAuthorizationToken.
    pub auth_tokens: Vec<AuthToken>,
    /// ELBv2 load balancers.
    pub load_balancers: Vec<LoadBalancer>,
    /// ELBv2 target groups.
    pub target_groups: Vec<TargetGroup>,
    /// ELBv2 listeners.
    pub listeners: Vec<Listener>,
    /// ELBv2 listener rules (the default rule of each listener is implied, not stored).
    pub rules: Vec<Rule>,
    /// Every API/registry port this state directory has been served on. Task definitions
    /// name images as `127.0.0.1:PORT/...`; a restart on another port must still pull them.
    #[serde(default)]
    pub served_ports: BTreeSet<u16>,
    /// CloudWatch metric alarms by name.
    #[serde(default)]
    pub alarms: BTreeMap<String, MetricAlarm>,
    /// Smooth weighted round robin of weighted forward actions, by listener and rule
    /// (runtime only).
    #[serde(skip)]
    pub forward_rounds: BTreeMap<String, Vec<i64>>,
    /// Set by every change that must reach the state file.
    #[serde(skip)]
    pub dirty: bool,
}

impl State {
    /// The service with `name` (or ARN) in the cluster named `cluster`.
    pub fn service_mut(&mut self, cluster: &str, name_or_arn: &str) -> Option<&mut Service> {
        let name = ids::arn_tail(name_or_arn);
        self.services
            .iter_mut()
            .rev()
            .find(|s| s.cluster_name == cluster && s.name == name)
    }

    /// The service with `arn`.
    pub fn service_by_arn_mut(&mut self, arn: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.arn == arn)
    }

    /// The task definition revision named by an ARN, `family:revision` or `family` (latest
    /// ACTIVE).
    pub fn task_definition(&self, reference: &str) -> Option<&TaskDefinition> {
        let reference = reference
            .strip_prefix("arn:")
            .and_then(|_| reference.split_once(":task-definition/").map(|(_, r)| r))
            .unwrap_or(reference);
        match reference.rsplit_once(':') {
            Some((family, revision)) => {
                let revision: usize = revision.parse().ok()?;
                self.task_definitions
                    .get(family)?
                    .get(revision.checked_sub(1)?)
            }
            None => self
                .task_definitions
                .get(reference)?
                .iter()
                .rev()
                .find(|td| td.status == TaskDefinitionStatus::Active),
        }
    }

    /// The target group with `arn`.
    pub fn target_group_mut(&mut self, arn: &str) -> Option<&mut TargetGroup> {
        self.target_groups.iter_mut().find(|tg| tg.arn == arn)
    }

    /// The target group with `arn`.
    pub fn target_group(&self, arn: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|tg| tg.arn == arn)
    }

    /// ARNs of the load balancers whose listeners forward to the target group.
    pub fn load_balancers_of_target_group(&self, tg_arn: &str) -> Vec<String> {
        let mut arns: Vec<String> = Vec::new();
        for listener in &self.listeners {
            let in_rules = self
                .rules
                .iter()
                .filter(|r| r.listener_arn == listener.arn)
                .any(|r| actions_forward_to(&r.actions, tg_arn));
            if (actions_forward_to(&listener.default_actions, tg_arn) || in_rules)
                && !arns.contains(&listener.load_balancer_arn)
            {
                arns.push(listener.load_balancer_arn.clone());
            }
        }
        arns
    }
}

/// Whether normalized actions forward to the target group.
pub fn actions_forward_to(actions: &Value, tg_arn: &str) -> bool {
    actions.as_array().is_some_and(|actions| {
        actions.iter().any(|a| {
            a.get("TargetGroupArn").and_then(Value::as_str) == Some(tg_arn)
                || a.pointer("/ForwardConfig/TargetGroups")
                    .and_then(Value::as_array)
                    .is_some_and(|tgs| {
                        tgs.iter().any(|t| {
                            t.get("TargetGroupArn").and_then(Value::as_str) == Some(tg_arn)
                        })
                    })
        })
    })
}
