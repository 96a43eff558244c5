//! ELBv2 (awsQuery, version 2015-12-01): Application Load Balancers, target groups,
//! listeners and listener rules. Listeners really listen (see `lb`), target health is really
//! checked (see `health`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::Ctx;
use super::wire::Wire;
use crate::clock::iso8601;
use crate::error::{ApiError, ApiResult};
use crate::ids::{elb_arn, elb_id};
use crate::protocol::query::Params;
use crate::state::{
    HealthCheck, Listener, LoadBalancer, Rule, State, TargetGroup, TargetReason, TargetState,
    default_rule_arn,
};

/// Serves one ELBv2 action.
pub fn handle(ctx: &Ctx, action: &str, params: &Value) -> ApiResult<Value> {
    match action {
        "CreateLoadBalancer" => create_load_balancer(ctx, params),
        "DescribeLoadBalancers" => describe_load_balancers(ctx, params),
        "CreateTargetGroup" => create_target_group(ctx, params),
        "DescribeTargetGroups" => describe_target_groups(ctx, params),
        "ModifyTargetGroup" => modify_target_group(ctx, params),
        "ModifyTargetGroupAttributes" => modify_target_group_attributes(ctx, params),
        "DescribeTargetGroupAttributes" => describe_target_group_attributes(ctx, params),
        "DescribeTargetHealth" => describe_target_health(ctx, params),
        "CreateListener" => create_listener(ctx, params),
        "DescribeListeners" => describe_listeners(ctx, params),
        "CreateRule" => create_rule(ctx, params),
        "DescribeRules" => describe_rules(ctx, params),
        "ModifyRule" => modify_rule(ctx, params),
        "ModifyListener" => modify_listener(ctx, params),
        other => Err(ApiError::new(
            "InvalidAction",
            format!(
                "local-ecs does not implement the ELBv2 action {other}; it serves \
                 CreateLoadBalancer, DescribeLoadBalancers, CreateTargetGroup, \
                 DescribeTargetGroups, ModifyTargetGroup, ModifyTargetGroupAttributes, \
                 DescribeTargetGroupAttributes, DescribeTargetHealth, CreateListener, \
                 DescribeListeners, ModifyListener, CreateRule, ModifyRule and DescribeRules"
            ),
        )),
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new("ValidationError", message)
}

fn tg_not_found() -> ApiError {
    ApiError::new("TargetGroupNotFound", "One or more target groups not found")
}

fn lb_not_found() -> ApiError {
    ApiError::new(
        "LoadBalancerNotFound",
        "One or more load balancers not found",
    )
}

fn listener_not_found() -> ApiError {
    ApiError::new("ListenerNotFound", "One or more listeners not found")
}

/// ELB names: 1–32 alphanumerics and hyphens, not starting or ending with a hyphen.
fn valid_elb_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn tags(params: &Value) -> Value {
    Value::Array(params.items("Tags").to_vec())
}

// ---------------------------------------------------------------------------------------
// Load balancers

fn render_load_balancer(lb: &LoadBalancer) -> Value {
    let zones: Vec<Value> = lb
        .subnets
        .iter()
        .enumerate()
        .map(|(i, subnet)| {
            let letter = (b'a' + (i % 6) as u8) as char;
            json!({"ZoneName": format!("{}{letter}", lb.region), "SubnetId": subnet, "LoadBalancerAddresses": []})
        })
        .collect();
    json!({
        "LoadBalancerArn": lb.arn,
        "DNSName": "127.0.0.1",
        "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
        "CreatedTime": iso8601(lb.created_at),
        "LoadBalancerName": lb.name,
        "Scheme": lb.scheme,
        "VpcId": lb.vpc_id,
        "State": {"Code": "active"},
        "Type": lb.lb_type,
        "AvailabilityZones": zones,
        "SecurityGroups": lb.security_groups,
        "IpAddressType": lb.ip_address_type,
    })
}

fn create_load_balancer(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let name = params.required("Name")?;
    if !valid_elb_name(name) || name.starts_with("internal-") {
        return Err(validation(format!(
            "LoadBalancer name {name:?} must be 1-32 alphanumeric characters or hyphens, must \
             not begin or end with a hyphen, and must not begin with \"internal-\""
        )));
    }
    let lb_type = params.param("Type").unwrap_or("application");
    if lb_type != "application" {
        return Err(validation(format!(
            "local-ecs provides Application Load Balancers only (Type=application), not {lb_type:?}"
        )));
    }
    let scheme = params.param("Scheme").unwrap_or("internet-facing");
    if !["internet-facing", "internal"].contains(&scheme) {
        return Err(validation(format!(
            "Scheme must be internet-facing or internal, got {scheme:?}"
        )));
    }
    let ip_address_type = params.param("IpAddressType").unwrap_or("ipv4");
    let mut subnets: Vec<String> = params
        .strings("Subnets")
        .iter()
        .map(|s| s.to_string())
        .collect();
    subnets.extend(
        params
            .items("SubnetMappings")
            .iter()
            .filter_map(|m| m.param("SubnetId").map(str::to_owned)),
    );
    let security_groups: Vec<String> = params
        .strings("SecurityGroups")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut state = ctx.shared.lock();
    if let Some(existing) = state.load_balancers.iter().find(|lb| lb.name == name) {
        // Same settings: AWS answers with the existing load balancer.
        if existing.scheme == scheme && existing.subnets == subnets {
            return Ok(json!({"LoadBalancers": [render_load_balancer(existing)]}));
        }
        return Err(ApiError::new(
            "DuplicateLoadBalancerName",
            "A load balancer with the same name exists, but with different settings",
        ));
    }
    let id = elb_id();
    let lb = LoadBalancer {
        arn: elb_arn(&ctx.region, &format!("loadbalancer/app/{name}/{id}")),
        name: name.to_owned(),
        region: ctx.region.clone(),
        scheme: scheme.to_owned(),
        lb_type: lb_type.to_owned(),
        ip_address_type: ip_address_type.to_owned(),
        vpc_id: "vpc-00000000000000000".to_owned(),
        subnets,
        security_groups,
        created_at: SystemTime::now(),
        tags: tags(params),
    };
    let rendered = render_load_balancer(&lb);
    state.load_balancers.push(lb);
    state.dirty = true;
    Ok(json!({"LoadBalancers": [rendered]}))
}

fn describe_load_balancers(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let arns = params.strings("LoadBalancerArns");
    let names = params.strings("Names");
    let state = ctx.shared.lock();
    let mut out = Vec::new();
    if arns.is_empty() && names.is_empty() {
        out.extend(state.load_balancers.iter().map(render_load_balancer));
    }
    for arn in arns {
        let lb = state
            .load_balancers
            .iter()
            .find(|lb| lb.arn == arn)
            .ok_or_else(lb_not_found)?;
        out.push(render_load_balancer(lb));
    }
    for name in names {
        let lb = state
            .load_balancers
            .iter()
            .find(|lb| lb.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    "LoadBalancerNotFound",
                    format!("Load balancers '[{name}]' not found"),
                )
            })?;
        out.push(render_load_balancer(lb));
    }
    Ok(json!({"LoadBalancers": out}))
}

// ---------------------------------------------------------------------------------------
// Target groups

fn default_attributes() -> BTreeMap<String, String> {
    [
        ("deregistration_delay.timeout_seconds", "300"),
        ("stickiness.enabled", "false"),
        ("stickiness.type", "lb_cookie"),
        ("stickiness.lb_cookie.duration_seconds", "86400"),
        ("stickiness.app_cookie.cookie_name", ""),
        ("stickiness.app_cookie.duration_seconds", "86400"),
        ("load_balancing.algorithm.type", "round_robin"),
        ("load_balancing.algorithm.anomaly_mitigation", "off"),
        (
            "load_balancing.cross_zone.enabled",
            "use_load_balancer_configuration",
        ),
        ("slow_start.duration_seconds", "0"),
        (
            "target_group_health.dns_failover.minimum_healthy_targets.count",
            "1",
        ),
        (
            "target_group_health.dns_failover.minimum_healthy_targets.percentage",
            "off",
        ),
        (
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
            "1",
        ),
        (
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
            "off",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn render_target_group(state: &State, tg: &TargetGroup) -> Value {
    json!({
        "TargetGroupArn": tg.arn,
        "TargetGroupName": tg.name,
        "Protocol": tg.protocol,
        "Port": tg.port,
        "VpcId": tg.vpc_id,
        "HealthCheckProtocol": tg.health_check.protocol,
        "HealthCheckPort": tg.health_check.port,
        "HealthCheckEnabled": tg.health_check.enabled,
        "HealthCheckIntervalSeconds": tg.health_check.interval_seconds,
        "HealthCheckTimeoutSeconds": tg.health_check.timeout_seconds,
        "HealthyThresholdCount": tg.health_check.healthy_threshold,
        "UnhealthyThresholdCount": tg.health_check.unhealthy_threshold,
        "HealthCheckPath": tg.health_check.path,
        "Matcher": {"HttpCode": tg.health_check.matcher},
        "LoadBalancerArns": state.load_balancers_of_target_group(&tg.arn),
        "TargetType": tg.target_type,
        "ProtocolVersion": tg.protocol_version,
        "IpAddressType": tg.ip_address_type,
    })
}

/// Checks a matcher: `200`, `200,202`, `200-299` (codes 200–499).
fn valid_matcher(matcher: &str) -> bool {
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .is_ok_and(|c| (200..=499).contains(&c))
    };
    !matcher.is_empty()
        && matcher.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => code(a) && code(b),
            None => code(part),
        })
}

/// Reads the health check parameters present in `params` over `base`.
fn health_check_from(params: &Value, mut hc: HealthCheck) -> ApiResult<HealthCheck> {
    if let Some(enabled) = params.boolean("HealthCheckEnabled")? {
        hc.enabled = enabled;
    }
    if let Some(protocol) = params.param("HealthCheckProtocol") {
        if !["HTTP", "HTTPS"].contains(&protocol) {
            return Err(validation(format!(
                "HealthCheckProtocol must be HTTP or HTTPS, got {protocol:?}"
            )));
        }
        hc.protocol = protocol.to_owned();
    }
    if let Some(port) = params.param("HealthCheckPort") {
        if port != "traffic-port" && !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(validation(format!(
                "HealthCheckPort must be traffic-port or 1-65535, got {port:?}"
            )));
        }
        hc.port = port.to_owned();
    }
    if let Some(path) = params.param("HealthCheckPath") {
        if !path.starts_with('/') || path.len() > 1024 {
            return Err(validation(format!(
                "HealthCheckPath must start with / (at most 1024 characters), got {path:?}"
            )));
        }
        hc.path = path.to_owned();
    }
    // AWS's minimums are 5 s (interval) and 2 s (timeout); local-ecs accepts 1 s so tests
    // finish in seconds.
    let ranged = |name: &str, lo: i64, hi: i64| -> ApiResult<Option<i64>> {
        match params.int(name)? {
            Some(v) if !(lo..=hi).contains(&v) => Err(validation(format!(
                "{name} must be from {lo} to {hi}, got {v}"
            ))),
            other => Ok(other),
        }
    };
    if let Some(v) = ranged("HealthCheckIntervalSeconds", 1, 300)? {
        hc.interval_seconds = v;
    }
    if let Some(v) = ranged("HealthCheckTimeoutSeconds", 1, 120)? {
        hc.timeout_seconds = v;
    }
    if let Some(v) = ranged("HealthyThresholdCount", 2, 10)? {
        hc.healthy_threshold = v;
    }
    if let Some(v) = ranged("UnhealthyThresholdCount", 2, 10)? {
        hc.unhealthy_threshold = v;
    }
    if let Some(code) = params.get("Matcher").and_then(|m| m.param("HttpCode")) {
        if !valid_matcher(code) {
            return Err(validation(format!(
                "Matcher HttpCode {code:?} must be codes from 200 to 499: 200, 200,202 or 200-299"
            )));
        }
        hc.matcher = code.to_owned();
    }
    if hc.timeout_seconds > hc.interval_seconds {
        return Err(validation(format!(
            "Health check timeout ({} s) must not exceed the interval ({} s)",
            hc.timeout_seconds, hc.interval_seconds
        )));
    }
    Ok(hc)
}

fn create_target_group(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let name = params.required("Name")?;
    if !valid_elb_name(name) {
        return Err(validation(format!(
            "Target group name {name:?} must be 1-32 alphanumeric characters or hyphens and \
             must not begin or end with a hyphen"
        )));
    }
    let target_type = params.param("TargetType").unwrap_or("instance");
    if !["instance", "ip"].contains(&target_type) {
        return Err(validation(format!(
            "local-ecs supports TargetType instance or ip, not {target_type:?}"
        )));
    }
    let protocol = params.required("Protocol")?;
    if !["HTTP", "HTTPS"].contains(&protocol) {
        return Err(validation(format!(
            "An Application Load Balancer target group uses HTTP or HTTPS, not {protocol:?}"
        )));
    }
    let port = params
        .int("Port")?
        .ok_or_else(|| validation("A port must be specified"))?;
    if !(1..=65535).contains(&port) {
        return Err(validation(format!(
            "Port must be from 1 to 65535, got {port}"
        )));
    }
    let vpc_id = params
        .param("VpcId")
        .ok_or_else(|| validation("A VPC ID must be specified"))?;
    let health_check = health_check_from(
        params,
        HealthCheck {
            enabled: true,
            protocol: "HTTP".into(),
            port: "traffic-port".into(),
            path: "/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: "200".into(),
        },
    )?;
    let mut state = ctx.shared.lock();
    if let Some(existing) = state.target_groups.iter().find(|tg| tg.name == name) {
        if existing.protocol == protocol && existing.port == port && existing.vpc_id == vpc_id {
            return Ok(json!({"TargetGroups": [render_target_group(&state, existing)]}));
        }
        return Err(ApiError::new(
            "DuplicateTargetGroupName",
            "A target group with the same name exists, but with different settings",
        ));
    }
    let tg = TargetGroup {
        arn: elb_arn(&ctx.region, &format!("targetgroup/{name}/{}", elb_id())),
        name: name.to_owned(),
        protocol: protocol.to_owned(),
        port,
        vpc_id: vpc_id.to_owned(),
        target_type: target_type.to_owned(),
        protocol_version: params
            .param("ProtocolVersion")
            .unwrap_or("HTTP1")
            .to_owned(),
        ip_address_type: params.param("IpAddressType").unwrap_or("ipv4").to_owned(),
        health_check,
        attributes: default_attributes(),
        tags: tags(params),
        targets: Vec::new(),
        next_target: 0,
    };
    let rendered = render_target_group(&state, &tg);
    state.target_groups.push(tg);
    state.dirty = true;
    Ok(json!({"TargetGroups": [rendered]}))
}

fn describe_target_groups(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let state = ctx.shared.lock();
    let arns = params.strings("TargetGroupArns");
    let names = params.strings("Names");
    let mut out = Vec::new();
    if let Some(lb_arn) = params.param("LoadBalancerArn") {
        if !state.load_balancers.iter().any(|lb| lb.arn == lb_arn) {
            return Err(lb_not_found());
        }
        for tg in &state.target_groups {
            if state
                .load_balancers_of_target_group(&tg.arn)
                .iter()
                .any(|a| a == lb_arn)
            {
                out.push(render_target_group(&state, tg));
            }
        }
    } else if arns.is_empty() && names.is_empty() {
        out.extend(
            state
                .target_groups
                .iter()
                .map(|tg| render_target_group(&state, tg)),
        );
    }
    for arn in arns {
        let tg = state.target_group(arn).ok_or_else(tg_not_found)?;
        out.push(render_target_group(&state, tg));
    }
    for name in names {
        let tg = state
            .target_groups
            .iter()
            .find(|tg| tg.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    "TargetGroupNotFound",
                    format!("Target groups '[{name}]' not found"),
                )
            })?;
        out.push(render_target_group(&state, tg));
    }
    Ok(json!({"TargetGroups": out}))
}

fn modify_target_group(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let arn = params.required("TargetGroupArn")?;
    let mut state = ctx.shared.lock();
    let tg = state.target_group(arn).ok_or_else(tg_not_found)?;
    let hc = health_check_from(params, tg.health_check.clone())?;
    let tg = state.target_group_mut(arn).ok_or_else(tg_not_found)?;
    tg.health_check = hc;
    state.dirty = true;
    let tg = state.target_group(arn).ok_or_else(tg_not_found)?;
    Ok(json!({"TargetGroups": [render_target_group(&state, tg)]}))
}

fn render_attributes(attributes: &BTreeMap<String, String>) -> Value {
    Value::Array(
        attributes
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn check_attribute(key: &str, value: &str) -> ApiResult<()> {
    let int_in = |lo: i64, hi: i64| -> ApiResult<()> {
        match value.parse::<i64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(()),
            _ => Err(validation(format!(
                "'{value}' must be an integer from {lo} to {hi} for {key}"
            ))),
        }
    };
    match key {
        "deregistration_delay.timeout_seconds" => int_in(0, 3600),
        "stickiness.enabled" => match value {
            "false" => Ok(()),
            "true" => Err(validation(
                "local-ecs does not implement sticky sessions; keep stickiness.enabled false",
            )),
            _ => Err(validation(format!("{key} must be true or false"))),
        },
        "stickiness.lb_cookie.duration_seconds" | "stickiness.app_cookie.duration_seconds" => {
            int_in(1, 604_800)
        }
        "slow_start.duration_seconds" => match value {
            "0" => Ok(()),
            _ => Err(validation(
                "local-ecs does not implement slow start; keep slow_start.duration_seconds at 0",
            )),
        },
        "load_balancing.algorithm.type" => match value {
            "round_robin" => Ok(()),
            _ => Err(validation(format!(
                "local-ecs balances round_robin only; load_balancing.algorithm.type {value:?} is not implemented"
            ))),
        },
        "stickiness.type"
        | "stickiness.app_cookie.cookie_name"
        | "load_balancing.algorithm.anomaly_mitigation"
        | "load_balancing.cross_zone.enabled"
        | "target_group_health.dns_failover.minimum_healthy_targets.count"
        | "target_group_health.dns_failover.minimum_healthy_targets.percentage"
        | "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count"
        | "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage" => {
            Ok(())
        }
        other => Err(validation(format!(
            "Attribute key '{other}' is not recognized"
        ))),
    }
}

fn modify_target_group_attributes(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let arn = params.required("TargetGroupArn")?;
    let changes: Vec<(String, String)> = params
        .items("Attributes")
        .iter()
        .map(|a| {
            let key = a.required("Key")?;
            let value = a.param("Value").unwrap_or("");
            check_attribute(key, value)?;
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect::<ApiResult<_>>()?;
    if changes.is_empty() {
        return Err(validation("Attributes must contain at least one attribute"));
    }
    let mut state = ctx.shared.lock();
    let tg = state.target_group_mut(arn).ok_or_else(tg_not_found)?;
    tg.attributes.extend(changes);
    let rendered = render_attributes(&tg.attributes);
    state.dirty = true;
    Ok(json!({"Attributes": rendered}))
}

fn describe_target_group_attributes(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let arn = params.required("TargetGroupArn")?;
    let state = ctx.shared.lock();
    let tg = state.target_group(arn).ok_or_else(tg_not_found)?;
    Ok(json!({"Attributes": render_attributes(&tg.attributes)}))
}

fn describe_target_health(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let arn = params.required("TargetGroupArn")?;
    let state = ctx.shared.lock();
    let tg = state.target_group(arn).ok_or_else(tg_not_found)?;
    let render = |id: &str,
                  port: u16,
                  st: TargetState,
                  reason: Option<TargetReason>,
                  description: Option<&str>| {
        json!({
            "Target": {"Id": id, "Port": port},
            "HealthCheckPort": if tg.health_check.port == "traffic-port" { port.to_string() } else { tg.health_check.port.clone() },
            // A healthy target has neither; absent members are omitted where answers are written.
            "TargetHealth": {"State": st.wire(), "Reason": reason.map(Wire::wire), "Description": description},
        })
    };
    let wanted = params.items("Targets");
    let mut out = Vec::new();
    if wanted.is_empty() {
        for t in &tg.targets {
            out.push(render(
                &t.id,
                t.port,
                t.state,
                t.reason,
                t.description.as_deref(),
            ));
        }
    } else {
        for w in wanted {
            let id = w.required("Id")?;
            let port = w.int("Port")?;
            let found = tg
                .targets
                .iter()
                .find(|t| t.id == id && port.is_none_or(|p| p == i64::from(t.port)));
            match found {
                Some(t) => out.push(render(
                    &t.id,
                    t.port,
                    t.state,
                    t.reason,
                    t.description.as_deref(),
                )),
                None => out.push(render(
                    id,
                    port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                    TargetState::Unused,
                    Some(TargetReason::NotRegistered),
                    Some(TargetReason::NotRegistered.description()),
                )),
            }
        }
    }
    Ok(json!({"TargetHealthDescriptions": out}))
}

// ---------------------------------------------------------------------------------------
// Listeners and rules

/// Validates actions and writes them in AWS's normalized shape (forward actions carry both
/// `TargetGroupArn` and `ForwardConfig`).
fn normalize_actions(state: &State, lb_arn: &str, actions: &[Value]) -> ApiResult<Value> {
    if actions.is_empty() {
        return Err(validation("At least one action must be specified"));
    }
    let mut out = Vec::new();
    for action in actions {
        let kind = action.required("Type")?;
        let mut normalized = Map::new();
        normalized.insert("Type".into(), json!(kind));
        if let Some(order) = action.int("Order")? {
            normalized.insert("Order".into(), json!(order));
        }
        match kind {
            "forward" => {
                let (groups, stickiness) = forward_groups(action)?;
                for (arn, _) in &groups {
                    state.target_group(arn).ok_or_else(tg_not_found)?;
                    // A target group serves one load balancer, as on AWS.
                    if let Some(other) = state
                        .load_balancers_of_target_group(arn)
                        .into_iter()
                        .find(|other| other != lb_arn)
                    {
                        return Err(ApiError::new(
                            "TargetGroupAssociationLimit",
                            format!(
                                "The following target groups cannot be associated with more than one load balancer: {arn} (already used by {other})"
                            ),
                        ));
                    }
                }
                if groups.len() == 1 {
                    normalized.insert("TargetGroupArn".into(), json!(groups[0].0));
                }
                normalized.insert(
                    "ForwardConfig".into(),
                    json!({
                        "TargetGroups": groups.iter().map(|(a, w)| json!({"TargetGroupArn": a, "Weight": w})).collect::<Vec<_>>(),
                        "TargetGroupStickinessConfig": stickiness,
                    }),
                );
            }
            "fixed-response" => {
                let config = action.get("FixedResponseConfig").ok_or_else(|| {
                    validation("A fixed-response action needs FixedResponseConfig")
                })?;
                let status = config.required("StatusCode")?;
                let valid = status.len() == 3
                    && status
                        .parse::<u16>()
                        .is_ok_and(|c| (200..=599).contains(&c) && !(300..400).contains(&c));
                if !valid {
                    return Err(validation(format!(
                        "FixedResponseConfig.StatusCode must be 2XX, 4XX or 5XX, got {status:?}"
                    )));
                }
                let mut fixed = Map::new();
                fixed.insert("StatusCode".into(), json!(status));
                for key in ["ContentType", "MessageBody"] {
                    if let Some(v) = config.param(key) {
                        fixed.insert(key.into(), json!(v));
                    }
                }
                normalized.insert("FixedResponseConfig".into(), Value::Object(fixed));
            }
            "redirect" => {
                let config = action
                    .get("RedirectConfig")
                    .ok_or_else(|| validation("A redirect action needs RedirectConfig"))?;
                let status = config.required("StatusCode")?;
                if !["HTTP_301", "HTTP_302"].contains(&status) {
                    return Err(validation(
                        "RedirectConfig.StatusCode must be HTTP_301 or HTTP_302",
                    ));
                }
                let mut redirect = Map::new();
                for (key, default) in [
                    ("Protocol", "#{protocol}"),
                    ("Port", "#{port}"),
                    ("Host", "#{host}"),
                    ("Path", "/#{path}"),
                    ("Query", "#{query}"),
                ] {
                    redirect.insert(key.into(), json!(config.param(key).unwrap_or(default)));
                }
                redirect.insert("StatusCode".into(), json!(status));
                normalized.insert("RedirectConfig".into(), Value::Object(redirect));
            }
            other => {
                return Err(validation(format!(
                    "local-ecs implements forward, fixed-response and redirect actions, not {other:?}"
                )));
            }
        }
        out.push(Value::Object(normalized));
    }
    Ok(Value::Array(out))
}

/// A forward action's target groups with their weights (`TargetGroupArn`, or
/// `ForwardConfig.TargetGroups`: 1 to 5 distinct groups weighted 0 to 999; both only when
/// they name the same single group), and its stickiness.
fn forward_groups(action: &Value) -> ApiResult<(Vec<(String, i64)>, Value)> {
    let single = action.param("TargetGroupArn");
    let config = action.get("ForwardConfig");
    let tuples = config.map(|c| c.items("TargetGroups")).unwrap_or_default();
    let mut groups: Vec<(String, i64)> = Vec::new();
    for g in tuples {
        let arn = g.required("TargetGroupArn")?;
        let weight = g.int("Weight")?.unwrap_or(1);
        if !(0..=999).contains(&weight) {
            return Err(validation(format!(
                "Target group weight must be from 0 to 999, got {weight}"
            )));
        }
        if groups.iter().any(|(a, _)| a == arn) {
            return Err(validation(format!(
                "Target group {arn} is specified more than once in ForwardConfig"
            )));
        }
        groups.push((arn.to_owned(), weight));
    }
    if groups.len() > 5 {
        return Err(validation(
            "A forward action can have at most 5 target groups in ForwardConfig",
        ));
    }
    match (single, groups.as_slice()) {
        (Some(arn), []) => groups.push((arn.to_owned(), 1)),
        (Some(arn), [(only, _)]) if only == arn => {}
        (Some(_), _) => {
            return Err(validation(
                "You can specify both TargetGroupArn and ForwardConfig only if ForwardConfig names \
                 one target group, the same as TargetGroupArn",
            ));
        }
        (None, []) => {
            return Err(validation(
                "A forward action needs TargetGroupArn or ForwardConfig.TargetGroups",
            ));
        }
        (None, _) => {}
    }
    let mut stickiness = json!({"Enabled": false});
    if let Some(given) = config.and_then(|c| c.get("TargetGroupStickinessConfig")) {
        let enabled = given.param("Enabled") == Some("true");
        stickiness["Enabled"] = json!(enabled);
        if let Some(secs) = given.int("DurationSeconds")? {
            if !(1..=604_800).contains(&secs) {
                return Err(validation(
                    "TargetGroupStickinessConfig.DurationSeconds must be from 1 to 604800",
                ));
            }
            stickiness["DurationSeconds"] = json!(secs);
        }
    }
    Ok((groups, stickiness))
}

fn render_listener(l: &Listener) -> Value {
    let mut v = json!({
        "ListenerArn": l.arn,
        "LoadBalancerArn": l.load_balancer_arn,
        "Port": l.bound_port,
        "Protocol": l.protocol,
        "DefaultActions": l.default_actions,
    });
    if let (Value::Object(out), Value::Object(echoed)) = (&mut v, &l.echoed) {
        for (k, val) in echoed {
            out.insert(k.clone(), val.clone());
        }
    }
    v
}

fn create_listener(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let lb_arn = params.required("LoadBalancerArn")?;
    let protocol = params.param("Protocol").unwrap_or("HTTP");
    if !["HTTP", "HTTPS"].contains(&protocol) {
        return Err(validation(format!(
            "An Application Load Balancer listener uses HTTP or HTTPS, not {protocol:?}"
        )));
    }
    let port = params
        .int("Port")?
        .ok_or_else(|| validation("A listener port must be specified"))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| validation(format!("Port must be from 1 to 65535, got {port}")))?;
    let (lb_name, lb_id) = {
        let state = ctx.shared.lock();
        let lb = state
            .load_balancers
            .iter()
            .find(|lb| lb.arn == lb_arn)
            .ok_or_else(lb_not_found)?;
        if state
            .listeners
            .iter()
            .any(|l| l.load_balancer_arn == lb_arn && l.requested_port == port)
        {
            return Err(ApiError::new(
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        (lb.name.clone(), crate::ids::arn_tail(&lb.arn).to_owned())
    };
    let default_actions = {
        let state = ctx.shared.lock();
        normalize_actions(&state, lb_arn, params.items("DefaultActions"))?
    };
    let mut echoed = Map::new();
    if let Some(policy) = params.param("SslPolicy") {
        echoed.insert("SslPolicy".into(), json!(policy));
    }
    if !params.items("Certificates").is_empty() {
        echoed.insert("Certificates".into(), json!(params.items("Certificates")));
    }
    if !params.items("AlpnPolicy").is_empty() {
        echoed.insert("AlpnPolicy".into(), json!(params.items("AlpnPolicy")));
    }
    let arn = elb_arn(
        &ctx.region,
        &format!("listener/app/{lb_name}/{lb_id}/{}", elb_id()),
    );
    let bound = crate::lb::start_listener(&ctx.shared, &arn, port, None).map_err(|e| {
        ApiError::internal(format!("cannot open a loopback port for the listener: {e}"))
    })?;
    let listener = Listener {
        arn,
        load_balancer_arn: lb_arn.to_owned(),
        protocol: protocol.to_owned(),
        requested_port: port,
        bound_port: bound,
        default_actions,
        echoed: Value::Object(echoed),
        tags: tags(params),
    };
    let rendered = render_listener(&listener);
    let mut state = ctx.shared.lock();
    state.listeners.push(listener);
    state.dirty = true;
    Ok(json!({"Listeners": [rendered]}))
}

fn describe_listeners(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let state = ctx.shared.lock();
    let arns = params.strings("ListenerArns");
    let mut out = Vec::new();
    if let Some(lb_arn) = params.param("LoadBalancerArn") {
        if !state.load_balancers.iter().any(|lb| lb.arn == lb_arn) {
            return Err(lb_not_found());
        }
        out.extend(
            state
                .listeners
                .iter()
                .filter(|l| l.load_balancer_arn == lb_arn)
                .map(render_listener),
        );
    } else if arns.is_empty() {
        return Err(validation(
            "You must specify either listener ARNs or a load balancer ARN",
        ));
    }
    for arn in arns {
        let l = state
            .listeners
            .iter()
            .find(|l| l.arn == arn)
            .ok_or_else(listener_not_found)?;
        out.push(render_listener(l));
    }
    Ok(json!({"Listeners": out}))
}

/// Validates rule conditions and writes them in AWS's shape.
fn normalize_conditions(conditions: &[Value]) -> ApiResult<Value> {
    if conditions.is_empty() {
        return Err(validation("A rule needs at least one condition"));
    }
    let mut out = Vec::new();
    for c in conditions {
        let field = c.required("Field")?;
        let config_key = match field {
            "path-pattern" => "PathPatternConfig",
            "host-header" => "HostHeaderConfig",
            "http-request-method" => "HttpRequestMethodConfig",
            "http-header" => "HttpHeaderConfig",
            other => {
                return Err(validation(format!(
                    "local-ecs evaluates path-pattern, host-header, http-request-method and \
                     http-header conditions, not {other:?}"
                )));
            }
        };
        let mut values: Vec<String> = c.strings("Values").iter().map(|s| s.to_string()).collect();
        let config = c.get(config_key);
        if let Some(config) = config {
            values.extend(config.strings("Values").iter().map(|s| s.to_string()));
        }
        if values.is_empty() {
            return Err(validation(format!(
                "A {field} condition needs at least one value"
            )));
        }
        if field == "path-pattern"
            && let Some(bad) = values.iter().find(|v| v.len() > 128)
        {
            return Err(validation(format!(
                "Path pattern {bad:?} is longer than 128 characters"
            )));
        }
        let mut normalized = Map::new();
        normalized.insert("Field".into(), json!(field));
        let mut config_out = Map::new();
        if field == "http-header" {
            let name = config
                .and_then(|c| c.param("HttpHeaderName"))
                .ok_or_else(|| {
                    validation("An http-header condition needs HttpHeaderConfig.HttpHeaderName")
                })?;
            config_out.insert("HttpHeaderName".into(), json!(name));
        } else {
            normalized.insert("Values".into(), json!(values));
        }
        config_out.insert("Values".into(), json!(values));
        normalized.insert(config_key.into(), Value::Object(config_out));
        out.push(Value::Object(normalized));
    }
    Ok(Value::Array(out))
}

fn render_rule(rule: &Rule) -> Value {
    json!({
        "RuleArn": rule.arn,
        "Priority": rule.priority.to_string(),
        "Conditions": rule.conditions,
        "Actions": rule.actions,
        "IsDefault": false,
    })
}

fn render_default_rule(listener: &Listener) -> Value {
    json!({
        "RuleArn": default_rule_arn(&listener.arn),
        "Priority": "default",
        "Conditions": [],
        "Actions": listener.default_actions,
        "IsDefault": true,
    })
}

fn create_rule(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let listener_arn = params.required("ListenerArn")?;
    let priority = params
        .int("Priority")?
        .ok_or_else(|| validation("A rule priority must be specified"))?;
    if !(1..=50_000).contains(&priority) {
        return Err(validation(format!(
            "Priority must be from 1 to 50000, got {priority}"
        )));
    }
    let conditions = normalize_conditions(params.items("Conditions"))?;
    let mut state = ctx.shared.lock();
    let listener = state
        .listeners
        .iter()
        .find(|l| l.arn == listener_arn)
        .ok_or_else(listener_not_found)?;
    let lb_arn = listener.load_balancer_arn.clone();
    if state
        .rules
        .iter()
        .any(|r| r.listener_arn == listener_arn && r.priority == priority)
    {
        return Err(ApiError::new(
            "PriorityInUse",
            format!("Priority '{priority}' is currently in use"),
        ));
    }
    let actions = normalize_actions(&state, &lb_arn, params.items("Actions"))?;
    let rule = Rule {
        arn: format!(
            "{}/{}",
            listener_arn.replacen(":listener/", ":listener-rule/", 1),
            elb_id()
        ),
        listener_arn: listener_arn.to_owned(),
        priority,
        conditions,
        actions,
        tags: tags(params),
    };
    let rendered = render_rule(&rule);
    state.rules.push(rule);
    state.dirty = true;
    Ok(json!({"Rules": [rendered]}))
}

fn rule_not_found() -> ApiError {
    ApiError::new("RuleNotFound", "One or more rules not found")
}

/// ModifyRule: new `Actions` and/or `Conditions` for a rule (the default rule's actions are
/// changed with ModifyListener, as on AWS).
fn modify_rule(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let arn = params.required("RuleArn")?;
    let conditions = match params.items("Conditions") {
        [] => None,
        given => Some(normalize_conditions(given)?),
    };
    let mut state = ctx.shared.lock();
    let Some(index) = state.rules.iter().position(|r| r.arn == arn) else {
        if state
            .listeners
            .iter()
            .any(|l| default_rule_arn(&l.arn) == arn)
        {
            return Err(ApiError::new(
                "OperationNotPermitted",
                "The default rule cannot be modified with ModifyRule; use ModifyListener to change its actions",
            ));
        }
        return Err(rule_not_found());
    };
    let actions = match params.items("Actions") {
        [] => None,
        given => {
            let listener_arn = state.rules[index].listener_arn.clone();
            let lb_arn = state
                .listeners
                .iter()
                .find(|l| l.arn == listener_arn)
                .map(|l| l.load_balancer_arn.clone())
                .ok_or_else(listener_not_found)?;
            Some(normalize_actions(&state, &lb_arn, given)?)
        }
    };
    let rule = &mut state.rules[index];
    if let Some(actions) = actions {
        rule.actions = actions;
    }
    if let Some(conditions) = conditions {
        rule.conditions = conditions;
    }
    let rendered = render_rule(rule);
    state.dirty = true;
    Ok(json!({"Rules": [rendered]}))
}

/// ModifyListener: new `DefaultActions` (and the echoed TLS settings). The port a listener
/// serves on cannot move.
fn modify_listener(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let arn = params.required("ListenerArn")?;
    let mut state = ctx.shared.lock();
    let index = state
        .listeners
        .iter()
        .position(|l| l.arn == arn)
        .ok_or_else(listener_not_found)?;
    let listener = &state.listeners[index];
    if let Some(port) = params.int("Port")?
        && port != i64::from(listener.requested_port)
        && port != i64::from(listener.bound_port)
    {
        return Err(validation(
            "local-ecs cannot move a listener to another port: create a new listener",
        ));
    }
    if let Some(protocol) = params.param("Protocol")
        && !["HTTP", "HTTPS"].contains(&protocol)
    {
        return Err(validation(format!(
            "An Application Load Balancer listener uses HTTP or HTTPS, not {protocol:?}"
        )));
    }
    let actions = match params.items("DefaultActions") {
        [] => None,
        given => Some(normalize_actions(
            &state,
            &listener.load_balancer_arn,
            given,
        )?),
    };
    let listener = &mut state.listeners[index];
    if let Some(actions) = actions {
        listener.default_actions = actions;
    }
    if let Some(protocol) = params.param("Protocol") {
        listener.protocol = protocol.to_owned();
    }
    if let Value::Object(echoed) = &mut listener.echoed {
        if let Some(policy) = params.param("SslPolicy") {
            echoed.insert("SslPolicy".into(), json!(policy));
        }
        if !params.items("Certificates").is_empty() {
            echoed.insert("Certificates".into(), json!(params.items("Certificates")));
        }
    }
    let rendered = render_listener(listener);
    state.dirty = true;
    Ok(json!({"Listeners": [rendered]}))
}

fn describe_rules(ctx: &Ctx, params: &Value) -> ApiResult<Value> {
    let state = ctx.shared.lock();
    let arns = params.strings("RuleArns");
    let mut out = Vec::new();
    if let Some(listener_arn) = params.param("ListenerArn") {
        let listener = state
            .listeners
            .iter()
            .find(|l| l.arn == listener_arn)
            .ok_or_else(listener_not_found)?;
        let mut rules: Vec<&Rule> = state
            .rules
            .iter()
            .filter(|r| r.listener_arn == listener_arn)
            .collect();
        rules.sort_by_key(|r| r.priority);
        out.extend(rules.into_iter().map(render_rule));
        out.push(render_default_rule(listener));
    } else if arns.is_empty() {
        return Err(validation(
            "You must specify either listener ARN or rule ARNs",
        ));
    }
    for arn in arns {
        if let Some(rule) = state.rules.iter().find(|r| r.arn == arn) {
            out.push(render_rule(rule));
        } else if let Some(listener) = state
            .listeners
            .iter()
            .find(|l| default_rule_arn(&l.arn) == arn)
        {
            out.push(render_default_rule(listener));
        } else {
            return Err(rule_not_found());
        }
    }
    Ok(json!({"Rules": out}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_matchers() {
        assert!(valid_elb_name("hello-tg"));
        assert!(!valid_elb_name("-x"));
        assert!(!valid_elb_name(&"a".repeat(33)));
        assert!(valid_matcher("200"));
        assert!(valid_matcher("200,202"));
        assert!(valid_matcher("200-299"));
        assert!(!valid_matcher("600"));
        assert!(!valid_matcher("abc"));
    }

    #[test]
    fn conditions_are_normalized() {
        let c = normalize_conditions(&[json!({"Field": "path-pattern", "Values": ["/hello/*"]})])
            .unwrap();
        assert_eq!(
            c,
            json!([{"Field": "path-pattern", "Values": ["/hello/*"], "PathPatternConfig": {"Values": ["/hello/*"]}}])
        );
        assert!(
            normalize_conditions(&[json!({"Field": "source-ip", "Values": ["1.2.3.4/32"]})])
                .is_err()
        );
    }
}
