//! CloudWatch (`GraniteServiceVersion20100801`, API version 2010-08-01), the subset ECS
//! deployment alarms need: `PutMetricAlarm`, `DescribeAlarms`, `SetAlarmState` and
//! `DeleteAlarms`. local-ecs evaluates no metric: an alarm's state is what SetAlarmState
//! last set (INSUFFICIENT_DATA when new). The scheduler reads the states
//! (`scheduler::alarms`).
//!
//! The same operations serve awsJson1_0, RPC v2 CBOR and awsQuery requests: inputs are read
//! whether their numbers and booleans are typed (JSON, CBOR) or text (awsQuery), and results
//! carry timestamps as epoch seconds, which each protocol writes its way (`TIMESTAMPS`).

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::Ctx;
use super::wire::{ALARM_STATES, Wire, parse_wire};
use crate::clock::json_time;
use crate::error::{ApiError, ApiResult};
use crate::ids::ACCOUNT_ID;
use crate::state::{AlarmState, MetricAlarm};

/// The members of results that are timestamps.
pub const TIMESTAMPS: &[&str] = &[
    "AlarmConfigurationUpdatedTimestamp",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
];

const COMPARISON_OPERATORS: [&str; 7] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];

const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// Serves one CloudWatch operation.
pub fn handle(ctx: &Ctx, op: &str, input: &Value) -> ApiResult<Value> {
    match op {
        "PutMetricAlarm" => put_metric_alarm(ctx, input),
        "DescribeAlarms" => describe_alarms(ctx, input),
        "SetAlarmState" => set_alarm_state(ctx, input),
        "DeleteAlarms" => delete_alarms(ctx, input),
        other => Err(ApiError::new(
            "InvalidAction",
            format!(
                "local-ecs does not implement the CloudWatch operation {other}; it serves \
                 PutMetricAlarm, DescribeAlarms, SetAlarmState and DeleteAlarms"
            ),
        )),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameterValue", message)
}

fn missing(name: &str) -> ApiError {
    ApiError::new(
        "MissingParameter",
        format!("The parameter {name} is required."),
    )
}

fn not_found(name: &str) -> ApiError {
    ApiError::new("ResourceNotFound", format!("Alarm {name} not found"))
        .with_status(http::StatusCode::NOT_FOUND)
}

fn text<'v>(input: &'v Value, name: &str) -> ApiResult<Option<&'v str>> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} must be a string."))),
    }
}

fn required<'v>(input: &'v Value, name: &str) -> ApiResult<&'v str> {
    text(input, name)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(name))
}

fn integer(input: &Value, name: &str) -> ApiResult<Option<i64>> {
    let wrong = || invalid(format!("{name} must be a whole number."));
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(wrong),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| wrong()),
        Some(_) => Err(wrong()),
    }
}

fn float(input: &Value, name: &str) -> ApiResult<Option<f64>> {
    let wrong = || invalid(format!("{name} must be a number."));
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(wrong),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| wrong()),
        Some(_) => Err(wrong()),
    }
}

fn boolean(input: &Value, name: &str) -> ApiResult<Option<bool>> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(invalid(format!("{name} must be true or false."))),
    }
}

fn list<'v>(input: &'v Value, name: &str) -> ApiResult<&'v [Value]> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        // awsQuery sends an empty list as `Name=` (an empty string).
        Some(Value::String(s)) if s.is_empty() => Ok(&[]),
        Some(_) => Err(invalid(format!("{name} must be a list."))),
    }
}

fn strings(input: &Value, name: &str) -> ApiResult<Vec<String>> {
    list(input, name)?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("{name} must be a list of strings.")))
        })
        .collect()
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.len() > 255 {
        return Err(invalid("AlarmName must have at most 255 characters."));
    }
    Ok(())
}

/// The metric an alarm watches: one metric by name, or metric queries (`Metrics`).
fn check_metric(input: &Value, config: &mut Map<String, Value>) -> ApiResult<()> {
    let metrics = list(input, "Metrics")?;
    let by_name = text(input, "MetricName")?.is_some() || text(input, "Namespace")?.is_some();
    match (metrics.is_empty(), by_name) {
        (false, true) => {
            return Err(ApiError::new(
                "InvalidParameterCombination",
                "MetricName and Namespace cannot be combined with Metrics.",
            ));
        }
        (false, false) => {
            config.insert("Metrics".into(), Value::Array(metrics.to_vec()));
            return Ok(());
        }
        (true, _) => {}
    }
    for name in ["MetricName", "Namespace"] {
        config.insert(name.into(), json!(required(input, name)?));
    }
    match (text(input, "Statistic")?, text(input, "ExtendedStatistic")?) {
        (Some(s), None) if STATISTICS.contains(&s) => config.insert("Statistic".into(), json!(s)),
        (Some(s), None) => return Err(invalid(format!("Statistic {s} is not valid."))),
        (None, Some(p)) => config.insert("ExtendedStatistic".into(), json!(p)),
        (None, None) => return Err(missing("Statistic")),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                "InvalidParameterCombination",
                "Statistic and ExtendedStatistic cannot be combined.",
            ));
        }
    };
    let period = integer(input, "Period")?.ok_or_else(|| missing("Period"))?;
    if !(matches!(period, 10 | 20 | 30) || (period >= 60 && period % 60 == 0)) {
        return Err(invalid(
            "Period must be 10, 20, 30 or a multiple of 60 seconds.",
        ));
    }
    config.insert("Period".into(), json!(period));
    config.insert(
        "Dimensions".into(),
        Value::Array(list(input, "Dimensions")?.to_vec()),
    );
    Ok(())
}

/// The alarm's configuration from a PutMetricAlarm request, checked and normalized.
fn alarm_config(input: &Value) -> ApiResult<Value> {
    let mut config = Map::new();
    check_metric(input, &mut config)?;
    let periods =
        integer(input, "EvaluationPeriods")?.ok_or_else(|| missing("EvaluationPeriods"))?;
    if periods < 1 {
        return Err(invalid("EvaluationPeriods must be at least 1."));
    }
    config.insert("EvaluationPeriods".into(), json!(periods));
    if let Some(points) = integer(input, "DatapointsToAlarm")? {
        if !(1..=periods).contains(&points) {
            return Err(invalid(
                "DatapointsToAlarm must be from 1 to EvaluationPeriods.",
            ));
        }
        config.insert("DatapointsToAlarm".into(), json!(points));
    }
    let operator = required(input, "ComparisonOperator")?;
    if !COMPARISON_OPERATORS.contains(&operator) {
        return Err(invalid(format!(
            "ComparisonOperator {operator} is not valid."
        )));
    }
    config.insert("ComparisonOperator".into(), json!(operator));
    match (
        float(input, "Threshold")?,
        text(input, "ThresholdMetricId")?,
    ) {
        (Some(t), _) => config.insert("Threshold".into(), json!(t)),
        (None, Some(id)) => config.insert("ThresholdMetricId".into(), json!(id)),
        (None, None) => return Err(missing("Threshold")),
    };
    for name in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        let actions = strings(input, name)?;
        if actions.len() > 5 {
            return Err(invalid(format!("{name} can name at most 5 actions.")));
        }
        config.insert(name.into(), json!(actions));
    }
    config.insert(
        "ActionsEnabled".into(),
        json!(boolean(input, "ActionsEnabled")?.unwrap_or(true)),
    );
    for name in [
        "AlarmDescription",
        "Unit",
        "TreatMissingData",
        "EvaluateLowSampleCountPercentile",
    ] {
        if let Some(v) = text(input, name)? {
            config.insert(name.into(), json!(v));
        }
    }
    if let Some(interval) = integer(input, "EvaluationInterval")? {
        config.insert("EvaluationInterval".into(), json!(interval));
    }
    Ok(Value::Object(config))
}

fn put_metric_alarm(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let name = required(input, "AlarmName")?;
    check_name(name)?;
    let config = alarm_config(input)?;
    let tags = Value::Array(list(input, "Tags")?.to_vec());
    let now = SystemTime::now();
    let mut state = ctx.shared.lock();
    match state.alarms.get_mut(name) {
        // An update replaces the configuration and leaves the state alone.
        Some(alarm) => {
            alarm.config = config;
            alarm.configuration_updated_at = now;
        }
        None => {
            let alarm = MetricAlarm {
                name: name.to_owned(),
                arn: format!(
                    "arn:aws:cloudwatch:{}:{ACCOUNT_ID}:alarm:{name}",
                    ctx.region
                ),
                config,
                tags,
                configuration_updated_at: now,
                state: AlarmState::InsufficientData,
                state_reason: "Unchecked: Initial alarm creation".into(),
                state_reason_data: None,
                state_updated_at: now,
                state_transitioned_at: now,
            };
            state.alarms.insert(name.to_owned(), alarm);
        }
    }
    state.dirty = true;
    drop(state);
    // The bake time of deployments watching it may have changed.
    ctx.shared.wake.notify_one();
    Ok(json!({}))
}

fn render_alarm(alarm: &MetricAlarm) -> Value {
    let mut v = alarm.config.clone();
    let Value::Object(map) = &mut v else {
        return v;
    };
    map.insert("AlarmName".into(), json!(alarm.name));
    map.insert("AlarmArn".into(), json!(alarm.arn));
    map.insert(
        "AlarmConfigurationUpdatedTimestamp".into(),
        json_time(alarm.configuration_updated_at),
    );
    map.insert("StateValue".into(), json!(alarm.state.wire()));
    map.insert("StateReason".into(), json!(alarm.state_reason));
    if let Some(data) = &alarm.state_reason_data {
        map.insert("StateReasonData".into(), json!(data));
    }
    map.insert(
        "StateUpdatedTimestamp".into(),
        json_time(alarm.state_updated_at),
    );
    map.insert(
        "StateTransitionedTimestamp".into(),
        json_time(alarm.state_transitioned_at),
    );
    v
}

/// Whether any of the alarm's actions starts with `prefix`.
fn has_action(alarm: &MetricAlarm, prefix: &str) -> bool {
    ["OKActions", "AlarmActions", "InsufficientDataActions"]
        .iter()
        .filter_map(|k| alarm.config.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .any(|a| a.starts_with(prefix))
}

/// The filters of DescribeAlarms.
struct AlarmFilter {
    names: Vec<String>,
    prefix: Option<String>,
    state: Option<AlarmState>,
    action_prefix: Option<String>,
    /// AlarmTypes leaves metric alarms out, or composite alarms are asked about.
    none: bool,
}

fn alarm_filter(input: &Value) -> ApiResult<AlarmFilter> {
    let names = strings(input, "AlarmNames")?;
    let prefix = text(input, "AlarmNamePrefix")?.map(str::to_owned);
    if !names.is_empty() && prefix.is_some() {
        return Err(ApiError::new(
            "InvalidParameterCombination",
            "AlarmNames and AlarmNamePrefix cannot be combined.",
        ));
    }
    if names.len() > 100 {
        return Err(invalid("AlarmNames can name at most 100 alarms."));
    }
    let state = match text(input, "StateValue")? {
        None => None,
        Some(s) => Some(
            parse_wire(&ALARM_STATES, s)
                .ok_or_else(|| invalid(format!("StateValue {s} is not valid.")))?,
        ),
    };
    let types = strings(input, "AlarmTypes")?;
    let composite_only = !types.is_empty() && !types.iter().any(|t| t == "MetricAlarm");
    let family = text(input, "ChildrenOfAlarmName")?.is_some()
        || text(input, "ParentsOfAlarmName")?.is_some();
    Ok(AlarmFilter {
        names,
        prefix,
        state,
        action_prefix: text(input, "ActionPrefix")?.map(str::to_owned),
        none: composite_only || family,
    })
}

impl AlarmFilter {
    fn matches(&self, alarm: &MetricAlarm) -> bool {
        !self.none
            && (self.names.is_empty() || self.names.contains(&alarm.name))
            && self
                .prefix
                .as_ref()
                .is_none_or(|p| alarm.name.starts_with(p))
            && self.state.is_none_or(|s| alarm.state == s)
            && self
                .action_prefix
                .as_ref()
                .is_none_or(|p| has_action(alarm, p))
    }
}

fn describe_alarms(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let filter = alarm_filter(input)?;
    let max = integer(input, "MaxRecords")?.unwrap_or(50);
    if !(1..=100).contains(&max) {
        return Err(invalid("MaxRecords must be from 1 to 100."));
    }
    let start = match text(input, "NextToken")? {
        None | Some("") => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            ApiError::new(
                "InvalidNextToken",
                "The service couldn't process NextToken.",
            )
        })?,
    };
    let state = ctx.shared.lock();
    let alarms: Vec<Value> = state
        .alarms
        .values()
        .filter(|a| filter.matches(a))
        .map(render_alarm)
        .collect();
    let end = (start + max as usize).min(alarms.len());
    let page = alarms.get(start..end).unwrap_or(&[]).to_vec();
    let next = (end < alarms.len()).then(|| end.to_string());
    Ok(json!({"MetricAlarms": page, "CompositeAlarms": [], "NextToken": next}))
}

fn set_alarm_state(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let name = required(input, "AlarmName")?;
    let value = required(input, "StateValue")?;
    let new_state = parse_wire(&ALARM_STATES, value)
        .ok_or_else(|| invalid(format!("StateValue {value} is not valid.")))?;
    let reason = text(input, "StateReason")?.ok_or_else(|| missing("StateReason"))?;
    if reason.len() > 1023 {
        return Err(invalid("StateReason must have at most 1023 characters."));
    }
    let data = text(input, "StateReasonData")?;
    if let Some(data) = data
        && serde_json::from_str::<Value>(data).is_err()
    {
        return Err(ApiError::new(
            "InvalidFormat",
            "StateReasonData is not valid JSON.",
        ));
    }
    let mut state = ctx.shared.lock();
    let alarm = state.alarms.get_mut(name).ok_or_else(|| not_found(name))?;
    let now = SystemTime::now();
    if alarm.state != new_state {
        alarm.state_transitioned_at = now;
    }
    alarm.state = new_state;
    alarm.state_reason = reason.to_owned();
    alarm.state_reason_data = data.map(str::to_owned);
    alarm.state_updated_at = now;
    tracing::info!(alarm = name, state = new_state.wire(), "alarm state set");
    state.dirty = true;
    drop(state);
    // Deployments watching the alarm are judged on the next pass.
    ctx.shared.wake.notify_one();
    Ok(json!({}))
}

fn delete_alarms(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let names = strings(input, "AlarmNames")?;
    if names.is_empty() {
        return Err(missing("AlarmNames"));
    }
    if names.len() > 100 {
        return Err(invalid("AlarmNames can name at most 100 alarms."));
    }
    let mut state = ctx.shared.lock();
    if let Some(absent) = names.iter().find(|n| !state.alarms.contains_key(*n)) {
        return Err(not_found(absent));
    }
    for name in &names {
        state.alarms.remove(name);
    }
    state.dirty = true;
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({}))
}
