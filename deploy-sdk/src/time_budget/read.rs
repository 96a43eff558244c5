//! The settings of a roll, read from a described service, its task definition and its target
//! groups (`DescribeTargetGroups`, `DescribeTargetGroupAttributes`). Absent settings take
//! AWS's defaults, as AWS applies them.

use std::time::Duration;

use aws_sdk_ecs::types::{Service, TaskDefinition};

use super::{RollSettings, StagedShift};
use crate::Clients;
use crate::error::{Error, Result};
use crate::strategy::StrategySettings;
use crate::targets;

/// ELBv2's defaults for an HTTP target group.
const DEFAULT_INTERVAL_SECS: i32 = 30;
const DEFAULT_HEALTHY_THRESHOLD: i32 = 5;
const DEFAULT_DEREGISTRATION_DELAY_SECS: u64 = 300;
/// ECS's default `stopTimeout`.
const DEFAULT_STOP_TIMEOUT_SECS: i32 = 30;

/// The settings of `service` (as described) rolling out `task_definition`, with
/// `desired_count` when the update changes it. With several target groups, the slowest
/// one's settings count: a task is healthy only when all its targets are.
pub async fn read_settings(
    clients: &Clients,
    service: &Service,
    task_definition: &TaskDefinition,
    desired_count: Option<i32>,
) -> Result<RollSettings> {
    let mut settings = service_settings(service, task_definition, desired_count);
    let groups = targets::service_target_groups(service);
    settings.load_balanced = !groups.is_empty();
    if groups.is_empty() {
        return Ok(settings);
    }
    let described = clients
        .elb
        .describe_target_groups()
        .set_target_group_arns(Some(groups.clone()))
        .send()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeTargetGroups", e))?;
    let (mut slowest, mut threshold) = (Duration::ZERO, 1);
    for group in described.target_groups() {
        let interval = group
            .health_check_interval_seconds()
            .unwrap_or(DEFAULT_INTERVAL_SECS);
        let passes = group
            .healthy_threshold_count()
            .unwrap_or(DEFAULT_HEALTHY_THRESHOLD);
        let checks = secs(interval) * u32::try_from(passes).unwrap_or(1);
        if checks >= slowest {
            slowest = checks;
            settings.health_check_interval = secs(interval);
            threshold = u32::try_from(passes).unwrap_or(1);
        }
    }
    settings.healthy_threshold = threshold;
    settings.deregistration_delay = Duration::ZERO;
    for arn in &groups {
        let delay = deregistration_delay(clients, arn).await?;
        settings.deregistration_delay = settings.deregistration_delay.max(delay);
    }
    Ok(settings)
}

/// What the service and the task definition say (target group settings left at defaults).
pub fn service_settings(
    service: &Service,
    task_definition: &TaskDefinition,
    desired_count: Option<i32>,
) -> RollSettings {
    let config = service.deployment_configuration();
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    let stop_timeout = task_definition
        .container_definitions()
        .iter()
        .map(|c| c.stop_timeout().unwrap_or(DEFAULT_STOP_TIMEOUT_SECS))
        .max()
        .unwrap_or(DEFAULT_STOP_TIMEOUT_SECS);
    RollSettings {
        old_tasks: count(service.desired_count()),
        desired: count(desired_count.unwrap_or(service.desired_count())),
        minimum_healthy_percent: count(
            config
                .and_then(|c| c.minimum_healthy_percent())
                .unwrap_or(100),
        ),
        maximum_percent: count(config.and_then(|c| c.maximum_percent()).unwrap_or(200)),
        grace_period: secs(service.health_check_grace_period_seconds().unwrap_or(0)),
        stop_timeout: secs(stop_timeout),
        staged: staged_shift(&StrategySettings::of(service)),
        ..RollSettings::default()
    }
}

/// The staged shift of a blue/green, linear or canary service (None: rolling).
pub fn staged_shift(strategy: &StrategySettings) -> Option<StagedShift> {
    if strategy.is_rolling() {
        return None;
    }
    let minutes = |m: i32| u32::try_from(m).unwrap_or(0);
    Some(StagedShift {
        shifts: u32::try_from(strategy.production_steps().len()).unwrap_or(1),
        step_bake_minutes: minutes(strategy.step_bake_minutes()),
        bake_minutes: minutes(strategy.bake_minutes),
    })
}

async fn deregistration_delay(clients: &Clients, arn: &str) -> Result<Duration> {
    let out = clients
        .elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
    // ELBv2's default when the attribute is not listed.
    let delay = out
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_DEREGISTRATION_DELAY_SECS);
    Ok(Duration::from_secs(delay))
}

fn secs(n: i32) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0))
}
