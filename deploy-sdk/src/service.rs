//! The ECS service: describing it, its deployment table, and `UpdateService`.

use std::fmt;
use std::time::SystemTime;

use aws_sdk_ecs::types::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentRolloutState, Service,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::error::{Error, Result};
use crate::strategy::StrategyUpdate;

/// Which service: cluster and service name (or ARNs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
}

impl ServiceRef {
    /// A service in a cluster.
    pub fn new(cluster: impl Into<String>, service: impl Into<String>) -> ServiceRef {
        ServiceRef {
            cluster: cluster.into(),
            service: service.into(),
        }
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cluster, self.service)
    }
}

/// `DescribeServices` for one service, with the failure cases turned into errors: cluster
/// missing, service missing, service not ACTIVE.
pub async fn describe_service(ecs: &aws_sdk_ecs::Client, target: &ServiceRef) -> Result<Service> {
    let answer = ecs
        .describe_services()
        .cluster(&target.cluster)
        .services(&target.service)
        .send()
        .await;
    service_of(answer, target)
}

/// [`describe_service`] with an interceptor on the operation (a watch counts every attempt,
/// SDK retries included, this way).
pub(crate) async fn describe_service_intercepted(
    ecs: &aws_sdk_ecs::Client,
    target: &ServiceRef,
    interceptor: impl Intercept + 'static,
) -> Result<Service> {
    let answer = ecs
        .describe_services()
        .cluster(&target.cluster)
        .services(&target.service)
        .customize()
        .interceptor(interceptor)
        .send()
        .await;
    service_of(answer, target)
}

type DescribeServicesAnswer = std::result::Result<
    aws_sdk_ecs::operation::describe_services::DescribeServicesOutput,
    SdkError<aws_sdk_ecs::operation::describe_services::DescribeServicesError, HttpResponse>,
>;

fn service_of(answer: DescribeServicesAnswer, target: &ServiceRef) -> Result<Service> {
    let out = answer.map_err(|e| {
        if e.as_service_error()
            .is_some_and(|s| s.is_cluster_not_found_exception())
        {
            Error::ClusterNotFound {
                cluster: target.cluster.clone(),
            }
        } else {
            Error::from_sdk("ecs:DescribeServices", e)
        }
    })?;
    let Some(service) = out.services.and_then(|s| s.into_iter().next()) else {
        return Err(Error::ServiceNotFound {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
        });
    };
    match service.status() {
        Some("ACTIVE") | None => Ok(service),
        Some(status) => Err(Error::ServiceInactive {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            status: status.to_owned(),
        }),
    }
}

/// One row of the service's deployment table, every field as ECS reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSnapshot {
    /// `ecs-svc/<digits>`.
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// Task definition ARN.
    pub task_definition: String,
    /// Tasks it wants.
    pub desired: i32,
    /// Tasks starting.
    pub pending: i32,
    /// Tasks running.
    pub running: i32,
    /// Consecutive failed tasks (what the circuit breaker counts).
    pub failed: i32,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`; absent behind a Classic Load Balancer.
    pub rollout_state: Option<DeploymentRolloutState>,
    /// Why it is in that state.
    pub rollout_state_reason: Option<String>,
    /// When it was created.
    pub created_at: Option<SystemTime>,
    /// When it last changed.
    pub updated_at: Option<SystemTime>,
}

impl DeploymentSnapshot {
    /// The deployments of `service`, in ECS's order.
    pub fn table(service: &Service) -> Vec<DeploymentSnapshot> {
        service
            .deployments()
            .iter()
            .map(|d| DeploymentSnapshot {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().to_owned(),
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                desired: d.desired_count(),
                pending: d.pending_count(),
                running: d.running_count(),
                failed: d.failed_tasks(),
                rollout_state: d.rollout_state().cloned(),
                rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
                created_at: d.created_at().and_then(|t| SystemTime::try_from(*t).ok()),
                updated_at: d.updated_at().and_then(|t| SystemTime::try_from(*t).ok()),
            })
            .collect()
    }

    /// `family:revision` of the task definition, the readable part of the ARN.
    pub fn revision(&self) -> &str {
        short_task_definition(&self.task_definition)
    }

    /// Whether the table rows differ in anything but timestamps.
    pub fn same_state(a: &[DeploymentSnapshot], b: &[DeploymentSnapshot]) -> bool {
        let key = |d: &DeploymentSnapshot| {
            (
                d.id.clone(),
                d.status.clone(),
                d.desired,
                d.pending,
                d.running,
                d.failed,
                d.rollout_state.clone(),
            )
        };
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
    }
}

#[cfg(test)]
impl DeploymentSnapshot {
    /// A PRIMARY row running one task of `task_definition`, for tests.
    pub(crate) fn running_one(id: &str, task_definition: &str) -> DeploymentSnapshot {
        DeploymentSnapshot {
            id: id.into(),
            status: "PRIMARY".into(),
            task_definition: task_definition.into(),
            desired: 1,
            pending: 0,
            running: 1,
            failed: 0,
            rollout_state: None,
            rollout_state_reason: None,
            created_at: None,
            updated_at: None,
        }
    }
}

impl fmt::Display for DeploymentSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} desired={} pending={} running={} failed={}",
            self.id,
            self.status,
            self.revision(),
            self.desired,
            self.pending,
            self.running,
            self.failed
        )?;
        if let Some(state) = &self.rollout_state {
            write!(f, " {}", state.as_str())?;
        }
        if let Some(reason) = &self.rollout_state_reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// `family:revision` of a task definition ARN (the ARN itself when it has no `/`).
pub fn short_task_definition(arn: &str) -> &str {
    crate::arn::tail(arn)
}

/// Options of an `UpdateService` call beyond the task definition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOptions {
    /// New desired count.
    pub desired_count: Option<i32>,
    /// `deploymentConfiguration.minimumHealthyPercent`.
    pub minimum_healthy_percent: Option<i32>,
    /// `deploymentConfiguration.maximumPercent`.
    pub maximum_percent: Option<i32>,
    /// `deploymentConfiguration.deploymentCircuitBreaker`.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Start a new deployment even if the task definition did not change.
    pub force_new_deployment: bool,
    /// Switch the service to this deployment strategy (with its wiring and hooks).
    pub strategy: Option<StrategyUpdate>,
}

/// The deployment circuit breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// Stop a deployment whose tasks keep failing.
    pub enable: bool,
    /// And roll back to the last completed deployment.
    pub rollback: bool,
}

/// The deployment an `UpdateService` call started (or found already in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedDeployment {
    /// The service.
    pub service: ServiceRef,
    /// The deployment the call made PRIMARY (`ecs-svc/…`): the row of the deployments table
    /// to judge, and what its tasks' `startedBy` says.
    pub deployment_id: String,
    /// Its task definition.
    pub task_definition: String,
    /// The task definition of the last deployment that COMPLETED before this one, as the
    /// table showed it before the update (see [`last_completed_task_definition`]): where a
    /// rollback goes when the ServiceDeployment API cannot say. `None` when none had.
    pub previous_task_definition: Option<String>,
    /// When the deployment was created (ECS's clock), for telling new events from old.
    pub created_at: SystemTime,
    /// False when the service already ran this task definition and no new deployment was made.
    pub is_new: bool,
    /// Whether ECS rolls a failed deployment back by itself: the circuit breaker or the
    /// deployment alarms, either with `rollback: true`.
    pub ecs_rolls_back: bool,
    /// The CloudWatch alarms ECS watches during the deployment
    /// (`deploymentConfiguration.alarms` when enabled), to name them in reasons.
    pub alarm_names: Vec<String>,
    /// The ServiceDeployment ARN (`service.currentServiceDeployment` right after the update),
    /// where the endpoint has that API: the watch judges it instead of the table.
    pub service_deployment_arn: Option<String>,
    /// This is ECS rolling back inside the failed service deployment
    /// (`StopServiceDeployment` with ROLLBACK): success is its `ROLLBACK_SUCCESSFUL`, and
    /// `task_definition` is where it goes back to.
    pub stop_rollback: bool,
}

/// The PRIMARY deployment of a service.
pub fn primary_deployment(service: &Service) -> Option<&aws_sdk_ecs::types::Deployment> {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
}

/// Whether the service's circuit breaker is set to roll back.
pub fn circuit_breaker_rollback(service: &Service) -> bool {
    service
        .deployment_configuration()
        .and_then(|c| c.deployment_circuit_breaker())
        .is_some_and(|cb| cb.enable() && cb.rollback())
}

/// Whether the service's deployment alarms are set to roll back.
pub fn alarm_rollback(service: &Service) -> bool {
    service
        .deployment_configuration()
        .and_then(|c| c.alarms())
        .is_some_and(|a| a.enable() && a.rollback())
}

/// Whether ECS rolls a failed deployment of `service` back by itself (breaker or alarms).
pub fn ecs_rolls_back(service: &Service) -> bool {
    circuit_breaker_rollback(service) || alarm_rollback(service)
}

/// The deployment alarms ECS watches (none when they are disabled).
pub fn deployment_alarm_names(service: &Service) -> Vec<String> {
    service
        .deployment_configuration()
        .and_then(|c| c.alarms())
        .filter(|a| a.enable())
        .map(|a| a.alarm_names().to_vec())
        .unwrap_or_default()
}

/// The task definition of the last deployment that COMPLETED, from a deployments table: the
/// PRIMARY if it COMPLETED, else another COMPLETED row. Behind a Classic Load Balancer (no
/// rolloutState on any row) a PRIMARY alone at full strength counts as completed: it is the
/// steady service the update started from. A PRIMARY that FAILED or is IN_PROGRESS never
/// does: ECS would not roll back to it either.
pub fn last_completed_task_definition(table: &[DeploymentSnapshot]) -> Option<String> {
    let completed = |d: &&DeploymentSnapshot| {
        d.rollout_state == Some(DeploymentRolloutState::Completed) && !d.task_definition.is_empty()
    };
    if let Some(primary) = table
        .iter()
        .filter(completed)
        .find(|d| d.status == "PRIMARY")
    {
        return Some(primary.task_definition.clone());
    }
    if let Some(other) = table.iter().find(completed) {
        return Some(other.task_definition.clone());
    }
    match table {
        [only]
            if only.rollout_state.is_none()
                && only.status == "PRIMARY"
                && only.running == only.desired
                && only.pending == 0
                && !only.task_definition.is_empty() =>
        {
            Some(only.task_definition.clone())
        }
        _ => None,
    }
}

/// `UpdateService` to `task_definition`, recording the deployment it made PRIMARY, its
/// ServiceDeployment ARN, and the task definition that last COMPLETED before. `before` is the
/// service as described just before.
pub async fn update_service(
    ecs: &aws_sdk_ecs::Client,
    target: &ServiceRef,
    before: &Service,
    task_definition: &str,
    options: &UpdateOptions,
) -> Result<StartedDeployment> {
    let previous = last_completed_task_definition(&DeploymentSnapshot::table(before));
    let previous_primary_id = primary_deployment(before)
        .and_then(|d| d.id())
        .map(str::to_owned);
    let mut request = ecs
        .update_service()
        .cluster(&target.cluster)
        .service(&target.service)
        .task_definition(task_definition)
        .set_desired_count(options.desired_count)
        .force_new_deployment(options.force_new_deployment);
    if let Some(config) = deployment_configuration(before.deployment_configuration(), options) {
        request = request.deployment_configuration(config);
    }
    if let Some(lbs) = options
        .strategy
        .as_ref()
        .and_then(|s| s.load_balancers(before.load_balancers()))
    {
        request = request.set_load_balancers(Some(lbs));
    }
    let out = request.send().await.map_err(|e| update_error(e, target))?;
    let service = out.service().ok_or_else(|| {
        Error::incomplete_answer("ecs:UpdateService", "the response has no service")
    })?;
    let mut started = StartedDeployment::primary_of(service, target, "ecs:UpdateService")?;
    if started.task_definition.is_empty() {
        started.task_definition = task_definition.to_owned();
    }
    started.is_new = previous_primary_id.as_deref() != Some(started.deployment_id.as_str());
    started.previous_task_definition = previous;
    if started.is_new && started.service_deployment_arn.is_none() {
        // Not in the update's answer: ask once, and take it only if the PRIMARY is still ours.
        let now = describe_service(ecs, target).await?;
        if primary_deployment(&now).and_then(|d| d.id()) == Some(started.deployment_id.as_str()) {
            started.service_deployment_arn = now.current_service_deployment().map(str::to_owned);
        }
    }
    Ok(started)
}

fn update_error(
    e: SdkError<aws_sdk_ecs::operation::update_service::UpdateServiceError, HttpResponse>,
    target: &ServiceRef,
) -> Error {
    let service_error = e.as_service_error();
    if service_error.is_some_and(|s| s.is_cluster_not_found_exception()) {
        Error::ClusterNotFound {
            cluster: target.cluster.clone(),
        }
    } else if service_error.is_some_and(|s| s.is_service_not_found_exception()) {
        Error::ServiceNotFound {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
        }
    } else if service_error.is_some_and(|s| s.is_service_not_active_exception()) {
        Error::ServiceInactive {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            status: "not ACTIVE".into(),
        }
    } else {
        Error::from_sdk("ecs:UpdateService", e)
    }
}

impl StartedDeployment {
    /// The PRIMARY deployment of `service` as a deployment to watch (not new, no previous task
    /// definition: callers that know more set those). `action` names the call that returned
    /// `service`, for the error when it has no PRIMARY deployment. The ServiceDeployment ARN
    /// is taken from the same answer.
    pub fn primary_of(
        service: &Service,
        target: &ServiceRef,
        action: &str,
    ) -> Result<StartedDeployment> {
        let primary = primary_deployment(service).ok_or_else(|| {
            Error::incomplete_answer(
                action,
                format!("service {target} has no PRIMARY deployment"),
            )
        })?;
        let id = primary.id().ok_or_else(|| {
            Error::incomplete_answer(
                action,
                format!("the PRIMARY deployment of {target} has no id"),
            )
        })?;
        Ok(StartedDeployment {
            service: target.clone(),
            deployment_id: id.to_owned(),
            task_definition: primary.task_definition().unwrap_or_default().to_owned(),
            previous_task_definition: None,
            created_at: primary
                .created_at()
                .and_then(|t| SystemTime::try_from(*t).ok())
                .unwrap_or_else(SystemTime::now),
            is_new: false,
            ecs_rolls_back: ecs_rolls_back(service),
            alarm_names: deployment_alarm_names(service),
            service_deployment_arn: service.current_service_deployment().map(str::to_owned),
            stop_rollback: false,
        })
    }
}

/// The service's deployment configuration with `options` applied, or `None` when the options
/// change nothing (then the call leaves it alone). Unset fields keep their current values,
/// because UpdateService replaces the whole structure.
pub fn deployment_configuration(
    current: Option<&DeploymentConfiguration>,
    options: &UpdateOptions,
) -> Option<DeploymentConfiguration> {
    if options.minimum_healthy_percent.is_none()
        && options.maximum_percent.is_none()
        && options.circuit_breaker.is_none()
        && options.strategy.is_none()
    {
        return None;
    }
    let mut config = current
        .cloned()
        .unwrap_or_else(|| DeploymentConfiguration::builder().build());
    if let Some(min) = options.minimum_healthy_percent {
        config.minimum_healthy_percent = Some(min);
    }
    if let Some(max) = options.maximum_percent {
        config.maximum_percent = Some(max);
    }
    if let Some(cb) = options.circuit_breaker {
        config.deployment_circuit_breaker = Some(
            DeploymentCircuitBreaker::builder()
                .enable(cb.enable)
                .rollback(cb.rollback)
                .build(),
        );
    }
    if let Some(strategy) = &options.strategy {
        config = strategy.apply(config);
    }
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_configuration_keeps_what_is_not_overridden() {
        let current = DeploymentConfiguration::builder()
            .minimum_healthy_percent(100)
            .maximum_percent(200)
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(true)
                    .build(),
            )
            .build();
        assert_eq!(
            deployment_configuration(Some(&current), &UpdateOptions::default()),
            None
        );
        let only_min = UpdateOptions {
            minimum_healthy_percent: Some(50),
            ..Default::default()
        };
        let config = deployment_configuration(Some(&current), &only_min).unwrap();
        assert_eq!(
            (config.minimum_healthy_percent, config.maximum_percent),
            (Some(50), Some(200))
        );
        assert!(config.deployment_circuit_breaker.unwrap().rollback());
        let no_cb = UpdateOptions {
            circuit_breaker: Some(CircuitBreaker {
                enable: false,
                rollback: false,
            }),
            ..Default::default()
        };
        let config = deployment_configuration(Some(&current), &no_cb).unwrap();
        assert!(!config.deployment_circuit_breaker.unwrap().enable());
        assert_eq!(config.maximum_percent, Some(200));
    }

    fn row(
        id: &str,
        status: &str,
        td: &str,
        state: Option<&str>,
        full: bool,
    ) -> DeploymentSnapshot {
        DeploymentSnapshot {
            status: status.into(),
            rollout_state: state.map(DeploymentRolloutState::from),
            running: if full { 1 } else { 0 },
            ..DeploymentSnapshot::running_one(id, td)
        }
    }

    #[test]
    fn the_last_completed_task_definition_is_never_a_failed_or_unfinished_one() {
        let cases = [
            (
                "completed primary",
                vec![row("a", "PRIMARY", "td:1", Some("COMPLETED"), true)],
                Some("td:1"),
            ),
            (
                "failed primary, completed active",
                vec![
                    row("b", "PRIMARY", "td:2", Some("FAILED"), false),
                    row("a", "ACTIVE", "td:1", Some("COMPLETED"), true),
                ],
                Some("td:1"),
            ),
            (
                "in progress primary, nothing completed",
                vec![
                    row("b", "PRIMARY", "td:2", Some("IN_PROGRESS"), false),
                    row("a", "ACTIVE", "td:1", Some("IN_PROGRESS"), true),
                ],
                None,
            ),
            (
                "no rolloutState: a lone steady primary",
                vec![row("a", "PRIMARY", "td:1", None, true)],
                Some("td:1"),
            ),
            (
                "no rolloutState: not at full strength",
                vec![row("a", "PRIMARY", "td:1", None, false)],
                None,
            ),
            (
                "no rolloutState: two deployments",
                vec![
                    row("b", "PRIMARY", "td:2", None, true),
                    row("a", "ACTIVE", "td:1", None, true),
                ],
                None,
            ),
        ];
        for (name, table, want) in cases {
            assert_eq!(
                last_completed_task_definition(&table).as_deref(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn ecs_rolls_back_with_the_breaker_or_the_alarms() {
        use aws_sdk_ecs::types::DeploymentAlarms;
        let service = |breaker: bool, alarms: Option<bool>| {
            let mut config = DeploymentConfiguration::builder().deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(breaker)
                    .build(),
            );
            if let Some(rollback) = alarms {
                config = config.alarms(
                    DeploymentAlarms::builder()
                        .enable(true)
                        .rollback(rollback)
                        .alarm_names("hello-5xx")
                        .build()
                        .unwrap(),
                );
            }
            Service::builder()
                .deployment_configuration(config.build())
                .build()
        };
        assert!(!ecs_rolls_back(&service(false, None)));
        assert!(ecs_rolls_back(&service(true, None)));
        assert!(!ecs_rolls_back(&service(false, Some(false))));
        assert!(ecs_rolls_back(&service(false, Some(true))));
        assert_eq!(
            deployment_alarm_names(&service(false, Some(true))),
            ["hello-5xx"]
        );
        assert!(deployment_alarm_names(&service(false, None)).is_empty());
    }

    #[test]
    fn short_names() {
        assert_eq!(
            short_task_definition("arn:aws:ecs:us-east-1:1:task-definition/hello:7"),
            "hello:7"
        );
        assert_eq!(short_task_definition("hello:7"), "hello:7");
    }
}
