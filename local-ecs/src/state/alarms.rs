//! CloudWatch metric alarms: their configuration as sent and their state, which
//! SetAlarmState changes (local-ecs evaluates no metrics).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::AlarmState;

/// A metric alarm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricAlarm {
    /// `AlarmName`.
    pub name: String,
    /// `AlarmArn`.
    pub arn: String,
    /// Every configuration member of PutMetricAlarm as sent (normalized to JSON types),
    /// without `AlarmName` and `Tags`.
    pub config: Value,
    /// `Tags` as sent.
    pub tags: Value,
    /// `AlarmConfigurationUpdatedTimestamp`.
    pub configuration_updated_at: SystemTime,
    /// `StateValue`.
    pub state: AlarmState,
    /// `StateReason`.
    pub state_reason: String,
    /// `StateReasonData`.
    pub state_reason_data: Option<String>,
    /// `StateUpdatedTimestamp`: the last SetAlarmState (or creation).
    pub state_updated_at: SystemTime,
    /// `StateTransitionedTimestamp`: when `StateValue` last changed.
    pub state_transitioned_at: SystemTime,
}

impl MetricAlarm {
    /// `Period` × `EvaluationPeriods` (from the metric queries' periods when the alarm uses
    /// `Metrics`): the time the alarm needs to judge a change, the base of a deployment's
    /// bake time.
    pub fn evaluation_time(&self) -> Duration {
        let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
        let period = number(&self.config, "Period").unwrap_or_else(|| {
            self.config
                .get("Metrics")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.pointer("/MetricStat/Period").and_then(Value::as_u64))
                .max()
                .unwrap_or(60)
        });
        let periods = number(&self.config, "EvaluationPeriods").unwrap_or(1);
        Duration::from_secs(period.saturating_mul(periods))
    }
}
