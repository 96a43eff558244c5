//! The blue/green, linear and canary settings of CreateService and UpdateService:
//! `deploymentConfiguration.strategy`, `bakeTimeInMinutes`, `linearConfiguration`,
//! `canaryConfiguration`, `lifecycleHooks` and `loadBalancers[].advancedConfiguration`,
//! read and checked against AWS's ranges, and written back in AWS's shape.

use serde_json::{Map, Value, json};

use super::ecs_common::invalid;
use super::wire::{HOOK_ACTIONS, HOOK_STAGES, HOOK_TARGETS, STRATEGIES, Wire, parse_wire};
use crate::error::ApiResult;
use crate::protocol::json::Input;
use crate::state::{
    AdvancedConfig, CanaryConfig, HookStage, HookTarget, HookTimeout, LifecycleHook, LinearConfig,
    ServiceLoadBalancer, State, Strategy, StrategySettings, actions_forward_to,
};

/// The most minutes any bake or hook timeout may last (24 hours).
const MAX_MINUTES: i64 = 1440;

/// Reads the strategy members of `deploymentConfiguration` over `settings` (UpdateService
/// changes only what it names).
pub fn read(given: &Value, mut settings: StrategySettings) -> ApiResult<StrategySettings> {
    if let Some(name) = given.opt_str("strategy")? {
        settings.strategy = parse_wire(&STRATEGIES, name).ok_or_else(|| {
            invalid(format!(
                "deploymentConfiguration.strategy must be ROLLING, BLUE_GREEN, LINEAR or CANARY, got {name}."
            ))
        })?;
    }
    if let Some(bake) = given.opt_i64("bakeTimeInMinutes")? {
        settings.bake_minutes = Some(minutes(bake, "deploymentConfiguration.bakeTimeInMinutes")?);
    }
    if let Some(linear) = present(given, "linearConfiguration") {
        settings.linear = Some(LinearConfig {
            step_percent: percent(linear, "stepPercent", 3.0, "linearConfiguration")?,
            step_bake_minutes: opt_minutes(linear, "stepBakeTimeInMinutes", "linearConfiguration")?,
        });
    }
    if let Some(canary) = present(given, "canaryConfiguration") {
        settings.canary = Some(CanaryConfig {
            percent: percent(canary, "canaryPercent", 0.1, "canaryConfiguration")?,
            bake_minutes: opt_minutes(canary, "canaryBakeTimeInMinutes", "canaryConfiguration")?,
        });
    }
    if present(given, "lifecycleHooks").is_some() {
        settings.hooks = given
            .list("lifecycleHooks")?
            .iter()
            .map(hook)
            .collect::<ApiResult<_>>()?;
    }
    Ok(settings)
}

fn present<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn minutes(value: i64, field: &str) -> ApiResult<i64> {
    if !(0..=MAX_MINUTES).contains(&value) {
        return Err(invalid(format!(
            "{field} must be from 0 to {MAX_MINUTES} minutes, got {value}."
        )));
    }
    Ok(value)
}

fn opt_minutes(v: &Value, key: &str, parent: &str) -> ApiResult<Option<i64>> {
    v.opt_i64(key)?
        .map(|m| minutes(m, &format!("deploymentConfiguration.{parent}.{key}")))
        .transpose()
}

/// A percentage from `min` to 100 in steps of 0.1.
fn percent(v: &Value, key: &str, min: f64, parent: &str) -> ApiResult<Option<f64>> {
    let field = format!("deploymentConfiguration.{parent}.{key}");
    let Some(value) = present(v, key) else {
        return Ok(None);
    };
    let p = value
        .as_f64()
        .ok_or_else(|| invalid(format!("{field} must be a number.")))?;
    let tenths = p * 10.0;
    if !(min - 1e-9..=100.0 + 1e-9).contains(&p) || (tenths - tenths.round()).abs() > 1e-6 {
        return Err(invalid(format!(
            "{field} must be a multiple of 0.1 from {min} to 100.0, got {p}."
        )));
    }
    Ok(Some(p))
}

/// One `lifecycleHooks` entry. local-ecs cannot call Lambda: AWS_LAMBDA (the default target
/// type) is refused, naming PAUSE.
fn hook(v: &Value) -> ApiResult<LifecycleHook> {
    let name = v.opt_str("targetType")?.unwrap_or("AWS_LAMBDA");
    let target_type = parse_wire(&HOOK_TARGETS, name).ok_or_else(|| {
        invalid(format!(
            "lifecycleHooks.targetType must be AWS_LAMBDA or PAUSE, got {name}."
        ))
    })?;
    if target_type == HookTarget::AwsLambda {
        return Err(invalid(
            "local-ecs cannot invoke Lambda functions: lifecycleHooks.targetType AWS_LAMBDA (the \
             default) is not supported; use targetType PAUSE and ContinueServiceDeployment.",
        ));
    }
    let names = v.str_list("lifecycleStages")?;
    if names.is_empty() {
        return Err(invalid(
            "lifecycleHooks.lifecycleStages must name at least one stage.",
        ));
    }
    let stages = names
        .into_iter()
        .map(|name| {
            let stage = parse_wire(&HOOK_STAGES, name).ok_or_else(|| {
                invalid(format!(
                    "lifecycleHooks.lifecycleStages: {name} is not a stage a hook can run at \
                     (not SCALE_UP, BAKE_TIME or CLEAN_UP)."
                ))
            })?;
            if matches!(
                stage,
                HookStage::TestTrafficShift | HookStage::ProductionTrafficShift
            ) {
                return Err(invalid(format!(
                    "lifecycleHooks.lifecycleStages: PAUSE hooks cannot run at {name}."
                )));
            }
            Ok(stage)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let timeout = present(v, "timeoutConfiguration")
        .map(|t| -> ApiResult<HookTimeout> {
            let minutes = t.opt_i64("timeoutInMinutes")?;
            if let Some(m) = minutes.filter(|m| !(1..=MAX_MINUTES).contains(m)) {
                return Err(invalid(format!(
                    "lifecycleHooks.timeoutConfiguration.timeoutInMinutes must be from 1 to {MAX_MINUTES}, got {m}."
                )));
            }
            let action = t
                .opt_str("action")?
                .map(|a| {
                    parse_wire(&HOOK_ACTIONS, a).ok_or_else(|| {
                        invalid(format!(
                            "lifecycleHooks.timeoutConfiguration.action must be CONTINUE or ROLLBACK, got {a}."
                        ))
                    })
                })
                .transpose()?;
            Ok(HookTimeout { minutes, action })
        })
        .transpose()?;
    Ok(LifecycleHook {
        target_type,
        hook_target_arn: v.opt_str("hookTargetArn")?.map(str::to_owned),
        role_arn: v.opt_str("roleArn")?.map(str::to_owned),
        stages,
        hook_details: present(v, "hookDetails").cloned(),
        timeout,
    })
}

/// `advancedConfiguration` of a `loadBalancers` entry forwarding to `tg`: the alternate
/// target group and the rules must exist, and each rule must forward to one of the two
/// groups.
pub fn advanced(state: &State, lb: &Value, tg: &str) -> ApiResult<Option<AdvancedConfig>> {
    let Some(v) = present(lb, "advancedConfiguration") else {
        return Ok(None);
    };
    let field = |k: &str| format!("loadBalancers.advancedConfiguration.{k}");
    let required = |k: &str| {
        v.opt_str(k)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(format!("{} is required.", field(k))))
    };
    let alternate = required("alternateTargetGroupArn")?;
    if state.target_group(alternate).is_none() {
        return Err(invalid(format!(
            "{}: the target group {alternate} does not exist.",
            field("alternateTargetGroupArn")
        )));
    }
    if alternate == tg {
        return Err(invalid(format!(
            "{} must differ from targetGroupArn.",
            field("alternateTargetGroupArn")
        )));
    }
    let production = required("productionListenerRule")?;
    let test = v.opt_str("testListenerRule")?.filter(|s| !s.is_empty());
    for (key, rule) in [
        ("productionListenerRule", Some(production)),
        ("testListenerRule", test),
    ] {
        let Some(rule) = rule else { continue };
        let actions = state.rule_actions(rule).ok_or_else(|| {
            invalid(format!(
                "{}: the listener rule {rule} does not exist.",
                field(key)
            ))
        })?;
        if !actions_forward_to(actions, tg) && !actions_forward_to(actions, alternate) {
            return Err(invalid(format!(
                "{}: the listener rule {rule} must forward to {tg} or {alternate}.",
                field(key)
            )));
        }
    }
    Ok(Some(AdvancedConfig {
        alternate_target_group_arn: alternate.to_owned(),
        production_listener_rule: production.to_owned(),
        test_listener_rule: test.map(str::to_owned),
        role_arn: required("roleArn")?.to_owned(),
    }))
}

/// BLUE_GREEN, LINEAR and CANARY move traffic between two target groups: every load balancer
/// needs its advanced configuration.
pub fn check(settings: &StrategySettings, lbs: &[ServiceLoadBalancer]) -> ApiResult<()> {
    if settings.strategy != Strategy::Rolling && lbs.iter().any(|lb| lb.advanced.is_none()) {
        return Err(invalid(format!(
            "loadBalancers.advancedConfiguration is required for the {} deployment strategy.",
            settings.strategy.wire()
        )));
    }
    Ok(())
}

/// The strategy members of `deploymentConfiguration`, in AWS's shape.
pub fn render_into(settings: &StrategySettings, config: &mut Map<String, Value>) {
    config.insert("strategy".into(), json!(settings.strategy.wire()));
    if let Some(bake) = settings.bake_minutes {
        config.insert("bakeTimeInMinutes".into(), json!(bake));
    }
    if let Some(l) = settings.linear {
        let mut v = Map::new();
        if let Some(p) = l.step_percent {
            v.insert("stepPercent".into(), json!(p));
        }
        if let Some(m) = l.step_bake_minutes {
            v.insert("stepBakeTimeInMinutes".into(), json!(m));
        }
        config.insert("linearConfiguration".into(), Value::Object(v));
    }
    if let Some(c) = settings.canary {
        let mut v = Map::new();
        if let Some(p) = c.percent {
            v.insert("canaryPercent".into(), json!(p));
        }
        if let Some(m) = c.bake_minutes {
            v.insert("canaryBakeTimeInMinutes".into(), json!(m));
        }
        config.insert("canaryConfiguration".into(), Value::Object(v));
    }
    if !settings.hooks.is_empty() {
        let hooks: Vec<Value> = settings.hooks.iter().map(render_hook).collect();
        config.insert("lifecycleHooks".into(), Value::Array(hooks));
    }
}

fn render_hook(h: &LifecycleHook) -> Value {
    let mut v = json!({
        "targetType": h.target_type.wire(),
        "lifecycleStages": h.stages.iter().map(|s| s.wire()).collect::<Vec<_>>(),
        "hookTargetArn": h.hook_target_arn,
        "roleArn": h.role_arn,
        "hookDetails": h.hook_details,
    });
    if let Some(t) = h.timeout {
        v["timeoutConfiguration"] = json!({
            "timeoutInMinutes": t.minutes,
            "action": t.action.map(|a| a.wire()),
        });
    }
    v
}

/// A `loadBalancers` entry in AWS's shape.
pub fn render_load_balancer(lb: &ServiceLoadBalancer) -> Value {
    let mut v = json!({
        "targetGroupArn": lb.target_group_arn,
        "containerName": lb.container_name,
        "containerPort": lb.container_port,
    });
    if let Some(a) = &lb.advanced {
        v["advancedConfiguration"] = json!({
            "alternateTargetGroupArn": a.alternate_target_group_arn,
            "productionListenerRule": a.production_listener_rule,
            "testListenerRule": a.test_listener_rule,
            "roleArn": a.role_arn,
        });
    }
    v
}
