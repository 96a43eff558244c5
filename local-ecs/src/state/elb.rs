//! ELBv2 resources: load balancers, target groups with their targets, listeners and rules.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::{TargetReason, TargetState};

/// An Application Load Balancer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// `LoadBalancerArn`.
    pub arn: String,
    /// `LoadBalancerName`.
    pub name: String,
    /// The region it was created in.
    pub region: String,
    /// `Scheme`.
    pub scheme: String,
    /// `Type`.
    pub lb_type: String,
    /// `IpAddressType`.
    pub ip_address_type: String,
    /// `VpcId`.
    pub vpc_id: String,
    /// Subnets as sent.
    pub subnets: Vec<String>,
    /// `SecurityGroups`.
    pub security_groups: Vec<String>,
    /// `CreatedTime`.
    pub created_at: SystemTime,
    /// `Tags` as sent.
    pub tags: Value,
}

/// A target group's health check settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthCheck {
    /// `HealthCheckEnabled`.
    pub enabled: bool,
    /// `HealthCheckProtocol`.
    pub protocol: String,
    /// `HealthCheckPort`: `traffic-port` or a number.
    pub port: String,
    /// `HealthCheckPath`.
    pub path: String,
    /// `HealthCheckIntervalSeconds`.
    pub interval_seconds: i64,
    /// `HealthCheckTimeoutSeconds`.
    pub timeout_seconds: i64,
    /// `HealthyThresholdCount`.
    pub healthy_threshold: i64,
    /// `UnhealthyThresholdCount`.
    pub unhealthy_threshold: i64,
    /// `Matcher.HttpCode`.
    pub matcher: String,
}

/// A registered target.
#[derive(Debug, Clone)]
pub struct Target {
    /// `Id` (always `127.0.0.1` here).
    pub id: String,
    /// `Port`: the task's host port.
    pub port: u16,
    /// The task it belongs to.
    pub task_id: Option<String>,
    /// Its state.
    pub state: TargetState,
    /// `Reason`.
    pub reason: Option<TargetReason>,
    /// `Description`.
    pub description: Option<String>,
    /// Consecutive passing checks.
    pub passes: i64,
    /// Consecutive failing checks.
    pub failures: i64,
    /// Whether any check ran yet.
    pub checked: bool,
    /// When draining ends and the target is removed.
    pub drain_until: Option<Instant>,
}

/// An ELBv2 target group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetGroup {
    /// `TargetGroupArn`.
    pub arn: String,
    /// `TargetGroupName`.
    pub name: String,
    /// `Protocol`.
    pub protocol: String,
    /// `Port`.
    pub port: i64,
    /// `VpcId`.
    pub vpc_id: String,
    /// `TargetType`.
    pub target_type: String,
    /// `ProtocolVersion`.
    pub protocol_version: String,
    /// `IpAddressType`.
    pub ip_address_type: String,
    /// Health check settings.
    pub health_check: HealthCheck,
    /// Attributes (`deregistration_delay.timeout_seconds`, ...).
    pub attributes: BTreeMap<String, String>,
    /// `Tags` as sent.
    pub tags: Value,
    /// Registered targets (runtime only: they belong to tasks).
    #[serde(skip)]
    pub targets: Vec<Target>,
    /// Round-robin position.
    #[serde(skip)]
    pub next_target: usize,
}

impl TargetGroup {
    /// `deregistration_delay.timeout_seconds`.
    pub fn deregistration_delay(&self) -> Duration {
        let secs = self
            .attributes
            .get("deregistration_delay.timeout_seconds")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300);
        Duration::from_secs(secs)
    }
}

/// An ELBv2 listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listener {
    /// `ListenerArn`.
    pub arn: String,
    /// `LoadBalancerArn`.
    pub load_balancer_arn: String,
    /// `Protocol`.
    pub protocol: String,
    /// The port asked for in CreateListener.
    pub requested_port: u16,
    /// The loopback port actually bound (reported as `Port`).
    pub bound_port: u16,
    /// `DefaultActions`, normalized to AWS's shape.
    pub default_actions: Value,
    /// `SslPolicy`, `Certificates`, `AlpnPolicy` as sent.
    pub echoed: Value,
    /// `Tags` as sent.
    pub tags: Value,
}

/// A listener rule (non-default).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    /// `RuleArn`.
    pub arn: String,
    /// The listener it belongs to.
    pub listener_arn: String,
    /// `Priority`.
    pub priority: i64,
    /// `Conditions`, normalized to AWS's shape.
    pub conditions: Value,
    /// `Actions`, normalized to AWS's shape.
    pub actions: Value,
    /// `Tags` as sent.
    pub tags: Value,
}

/// A listener's default rule's ARN, derived from the listener so it is stable across
/// restarts.
pub fn default_rule_arn(listener_arn: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(listener_arn.as_bytes());
    let id: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}/{id}",
        listener_arn.replacen(":listener/", ":listener-rule/", 1)
    )
}

impl super::State {
    /// The actions of rule `arn` (a listener's default rule included).
    pub fn rule_actions_mut(&mut self, arn: &str) -> Option<&mut Value> {
        if let Some(i) = self.rules.iter().position(|r| r.arn == arn) {
            return Some(&mut self.rules[i].actions);
        }
        self.listeners
            .iter_mut()
            .find(|l| default_rule_arn(&l.arn) == arn)
            .map(|l| &mut l.default_actions)
    }

    /// The actions of rule `arn` (a listener's default rule included).
    pub fn rule_actions(&self, arn: &str) -> Option<&Value> {
        if let Some(rule) = self.rules.iter().find(|r| r.arn == arn) {
            return Some(&rule.actions);
        }
        self.listeners
            .iter()
            .find(|l| default_rule_arn(&l.arn) == arn)
            .map(|l| &l.default_actions)
    }

    /// Rewrites the first forward action of rule `arn` to send to `groups` with these
    /// weights, in AWS's shape (`TargetGroupArn` too when there is one group). False when the
    /// rule or its forward action is gone.
    pub fn set_forward_weights(&mut self, arn: &str, groups: &[(String, i64)]) -> bool {
        let Some(Value::Array(actions)) = self.rule_actions_mut(arn) else {
            return false;
        };
        let Some(forward) = actions
            .iter_mut()
            .filter(|a| a.get("Type").and_then(Value::as_str) == Some("forward"))
            .min_by_key(|a| a.get("Order").and_then(Value::as_i64).unwrap_or(i64::MAX))
        else {
            return false;
        };
        let Value::Object(forward) = forward else {
            return false;
        };
        let stickiness = forward
            .get("ForwardConfig")
            .and_then(|c| c.get("TargetGroupStickinessConfig"))
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"Enabled": false}));
        let tuples: Vec<Value> = groups
            .iter()
            .map(|(g, w)| serde_json::json!({"TargetGroupArn": g, "Weight": w}))
            .collect();
        forward.remove("TargetGroupArn");
        if let [(only, _)] = groups {
            forward.insert("TargetGroupArn".into(), Value::String(only.clone()));
        }
        forward.insert(
            "ForwardConfig".into(),
            serde_json::json!({"TargetGroups": tuples, "TargetGroupStickinessConfig": stickiness}),
        );
        self.dirty = true;
        true
    }

    /// The weight rule `arn`'s first forward action gives target group `group`.
    pub fn forward_weight(&self, arn: &str, group: &str) -> Option<i64> {
        let Some(Value::Array(actions)) = self.rule_actions(arn) else {
            return None;
        };
        let forward = actions
            .iter()
            .filter(|a| a.get("Type").and_then(Value::as_str) == Some("forward"))
            .min_by_key(|a| a.get("Order").and_then(Value::as_i64).unwrap_or(i64::MAX))?;
        forward
            .pointer("/ForwardConfig/TargetGroups")
            .and_then(Value::as_array)?
            .iter()
            .find(|t| t.get("TargetGroupArn").and_then(Value::as_str) == Some(group))
            .map(|t| t.get("Weight").and_then(Value::as_i64).unwrap_or(1))
    }
}
