//! The ServiceDeployment API of ECS: `ListServiceDeployments`, `DescribeServiceDeployments`,
//! `DescribeServiceRevisions`, `StopServiceDeployment` and `ContinueServiceDeployment`; the service deployment and
//! revision every CreateService/UpdateService deployment starts (`begin`); and the fields
//! they add to a service (`currentServiceDeployment`, `currentServiceRevisions`).
//! The scheduler moves them along (`scheduler::apply`).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::wire::{HOOK_ACTIONS, SERVICE_DEPLOYMENT_STATUSES, Wire, parse_wire};
use super::{Ctx, page};
use crate::clock::json_time;
use crate::error::{ApiError, ApiResult};
use crate::ids::{self, arn_tail};
use crate::protocol::json::Input;
use crate::state::{
    AlarmsCheck, BlueGreenRun, BreakerCheck, ContainerImage, HookAction, HookStage, HookStatus,
    LifecycleStage, MonitorStatus, RevisionCounts, Route, Service, ServiceDeployment,
    ServiceDeploymentStatus, ServiceRevision, State, Strategy,
};
use crate::{events, image, scheduler, taskdef};

/// At most this many ARNs per Describe call.
const MAX_DESCRIBED: usize = 20;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameterException", message)
}

/// `deploymentConfiguration` of a service, as every service answer carries it.
pub fn deployment_configuration(service: &Service) -> Value {
    let mut config = json!({
        "deploymentCircuitBreaker": {
            "enable": service.circuit_breaker.enable,
            "rollback": service.circuit_breaker.rollback,
        },
        "maximumPercent": service.maximum_percent,
        "minimumHealthyPercent": service.minimum_healthy_percent,
        "alarms": {
            "alarmNames": service.alarms.names,
            "enable": service.alarms.enable,
            "rollback": service.alarms.rollback,
        },
    });
    if let Value::Object(config) = &mut config {
        super::strategy::render_into(&service.strategy, config);
    }
    config
}

/// Records the service deployment (PENDING) and the revision of deployment `row`, which the
/// caller just made PRIMARY; every ongoing service deployment of the service is STOPPED,
/// superseded by it. Returns its ARN.
pub fn begin(state: &mut State, service_arn: &str, row: &str, port: u16) -> Option<String> {
    let service = state.services.iter().find(|s| s.arn == service_arn)?;
    let deployment = service.deployments.iter().find(|d| d.id == row)?;
    let revision = new_revision(state, service, deployment, port);
    let mut sources: Vec<String> = Vec::new();
    for d in service.deployments.iter().filter(|d| d.id != row) {
        if !d.revision_arn.is_empty() && !sources.contains(&d.revision_arn) {
            sources.push(d.revision_arn.clone());
        }
    }
    let arn = ids::service_deployment_arn(service_arn, &ids::service_deployment_id());
    let mut record = new_record(service, &arn, row, &revision.arn, sources);
    let blue_green = blue_green_run(state, service, row);
    state.stop_ongoing_service_deployments(service_arn, |old| events::superseded(old, &arn));
    let service = state.service_by_arn_mut(service_arn)?;
    if let Some((run, green_alternate)) = blue_green {
        record.blue_green = Some(run);
        if let Some(d) = service.deployments.iter_mut().find(|d| d.id == row) {
            d.alternate = green_alternate;
        }
    }
    service.revisions.push(revision);
    service.service_deployments.push(record);
    Some(arn)
}

/// A BLUE_GREEN, LINEAR or CANARY deployment that replaces a blue revision runs through the
/// lifecycle stages; its green tasks go to the target groups blue is not in. Blue is the
/// listed deployment on the side production traffic goes to now (the last one that
/// COMPLETED, unless a superseded deployment moved production). Returns the run and whether
/// green uses the alternate target groups. The first deployment of a service has no blue: it
/// just starts.
fn blue_green_run(state: &State, service: &Service, row: &str) -> Option<(BlueGreenRun, bool)> {
    if service.strategy.strategy == Strategy::Rolling {
        return None;
    }
    let last = service.last_completed.as_ref()?.id.as_str();
    let on_alternate = service.load_balancers.iter().find_map(|lb| {
        let a = lb.advanced.as_ref()?;
        let rule = &a.production_listener_rule;
        let weight = |group: &str| state.forward_weight(rule, group).unwrap_or(0);
        Some(weight(&a.alternate_target_group_arn) > weight(&lb.target_group_arn))
    });
    let mut candidates = service
        .deployments
        .iter()
        .filter(|d| d.id != row && on_alternate.is_none_or(|alt| d.alternate == alt));
    let blue = candidates
        .clone()
        .find(|d| d.id == last)
        .or_else(|| candidates.next())?;
    let routes = service
        .load_balancers
        .iter()
        .filter_map(|lb| {
            let a = lb.advanced.as_ref()?;
            let (primary, alternate) = (&lb.target_group_arn, &a.alternate_target_group_arn);
            let (blue_group, green_group) = if blue.alternate {
                (alternate, primary)
            } else {
                (primary, alternate)
            };
            Some(Route {
                production_rule: a.production_listener_rule.clone(),
                test_rule: a.test_listener_rule.clone(),
                blue_group: blue_group.clone(),
                green_group: green_group.clone(),
            })
        })
        .collect();
    let run = BlueGreenRun {
        settings: service.strategy.clone(),
        blue_row: blue.id.clone(),
        routes,
        stage: None,
        stage_since: SystemTime::now(),
        hooks: Vec::new(),
        steps_done: 0,
        production_percent: 0.0,
        shifted_at: None,
    };
    Some((run, !blue.alternate))
}

fn new_record(
    service: &Service,
    arn: &str,
    row: &str,
    target: &str,
    sources: Vec<String>,
) -> ServiceDeployment {
    let now = SystemTime::now();
    let monitoring = |on: bool| {
        if on {
            MonitorStatus::Monitoring
        } else {
            MonitorStatus::Disabled
        }
    };
    ServiceDeployment {
        arn: arn.to_owned(),
        deployment_id: row.to_owned(),
        created_at: now,
        started_at: None,
        finished_at: None,
        stopped_at: None,
        updated_at: now,
        source_revisions: sources,
        target_revision: target.to_owned(),
        status: ServiceDeploymentStatus::Pending,
        status_reason: None,
        configuration: deployment_configuration(service),
        breaker: BreakerCheck {
            status: monitoring(service.circuit_breaker.enable),
            failure_count: 0,
            threshold: scheduler::breaker_threshold(service.desired_count),
        },
        alarms: AlarmsCheck {
            status: monitoring(service.alarms.enable),
            names: service.alarms.names.clone(),
            triggered: Vec::new(),
        },
        rollback: None,
        final_counts: None,
        blue_green: None,
    }
}

/// The revision a new deployment runs, its images resolved in local-ecs's registry.
fn new_revision(
    state: &State,
    service: &Service,
    deployment: &crate::state::Deployment,
    port: u16,
) -> ServiceRevision {
    let container_images = state
        .task_definition(&deployment.task_definition)
        .map(taskdef::containers)
        .unwrap_or_default()
        .into_iter()
        .map(|c| ContainerImage {
            image_digest: image::registry_digest(state, port, &c.image),
            container_name: c.name,
            image: c.image,
        })
        .collect();
    ServiceRevision {
        arn: deployment.revision_arn.clone(),
        task_definition: deployment.task_definition.clone(),
        launch_type: service.launch_type.clone(),
        platform_version: service
            .echoed
            .get("platformVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
        load_balancers: service.load_balancers.clone(),
        network_configuration: deployment.network_configuration.clone(),
        container_images,
        created_at: SystemTime::now(),
    }
}

/// Adds `currentServiceDeployment` and `currentServiceRevisions` to a rendered service.
pub fn add_service_fields(state: &State, service: &Service, rendered: &mut Value) {
    if let Some(sd) = service.current_service_deployment() {
        rendered["currentServiceDeployment"] = json!(sd.arn);
    }
    let mut revisions: Vec<&str> = Vec::new();
    for d in &service.deployments {
        if !d.revision_arn.is_empty() && !revisions.contains(&d.revision_arn.as_str()) {
            revisions.push(&d.revision_arn);
        }
    }
    if !revisions.is_empty() {
        rendered["currentServiceRevisions"] = revisions
            .into_iter()
            .map(|arn| summary(arn, state.revision_counts(service, arn)))
            .collect();
    }
}

fn summary(arn: &str, counts: RevisionCounts) -> Value {
    json!({
        "arn": arn,
        "requestedTaskCount": counts.requested,
        "runningTaskCount": counts.running,
        "pendingTaskCount": counts.pending,
    })
}

fn render_deployment(state: &State, service: &Service, sd: &ServiceDeployment) -> Value {
    let counts = |arn: &str| {
        sd.final_counts
            .as_ref()
            .and_then(|c| c.get(arn).copied())
            .unwrap_or_else(|| state.revision_counts(service, arn))
    };
    let mut v = json!({
        "serviceDeploymentArn": sd.arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": json_time(sd.created_at),
        "updatedAt": json_time(sd.updated_at),
        "sourceServiceRevisions": sd.source_revisions.iter()
            .map(|arn| summary(arn, counts(arn))).collect::<Vec<_>>(),
        "targetServiceRevision": summary(&sd.target_revision, counts(&sd.target_revision)),
        "status": sd.status.wire(),
        "deploymentConfiguration": sd.configuration,
        "deploymentCircuitBreaker": render_breaker(sd.breaker),
        "alarms": render_alarms(&sd.alarms),
        // Absent ones are omitted where answers are written (`protocol::omit_absent`).
        "startedAt": sd.started_at.map(json_time),
        "finishedAt": sd.finished_at.map(json_time),
        "stoppedAt": sd.stopped_at.map(json_time),
        "statusReason": sd.status_reason,
    });
    if let Some(run) = &sd.blue_green {
        add_lifecycle(run, &mut v);
    }
    if let Some(rollback) = &sd.rollback {
        let mut r = json!({"reason": rollback.reason, "startedAt": json_time(rollback.started_at)});
        if !rollback.revision_arn.is_empty() {
            r["serviceRevisionArn"] = json!(rollback.revision_arn);
        }
        v["rollback"] = r;
    }
    v
}

/// `lifecycleStage`, and `lifecycleHookDetails` for the hooks of the current stage (with
/// the PRE_PRODUCTION_TRAFFIC_SHIFT ones of the coming step during the production shift).
fn add_lifecycle(run: &BlueGreenRun, v: &mut Value) {
    let Some(stage) = run.stage else {
        return;
    };
    v["lifecycleStage"] = json!(stage.wire());
    let current = |h: &&crate::state::HookRun| {
        Some(h.stage) == stage.hook_stage()
            || (stage == LifecycleStage::ProductionTrafficShift
                && h.stage == HookStage::PreProductionTrafficShift
                && h.step == run.steps_done)
    };
    let details: Vec<Value> = run
        .hooks
        .iter()
        .filter(current)
        .map(|h| {
            json!({
                "hookId": h.hook_id,
                "targetType": h.target_type.wire(),
                "status": h.status.wire(),
                "expiresAt": json_time(h.expires_at),
                "timeoutAction": h.timeout_action.wire(),
            })
        })
        .collect();
    if !details.is_empty() {
        v["lifecycleHookDetails"] = Value::Array(details);
    }
}

fn render_breaker(breaker: BreakerCheck) -> Value {
    if breaker.status == MonitorStatus::Disabled {
        return json!({"status": breaker.status.wire()});
    }
    json!({
        "status": breaker.status.wire(),
        "failureCount": breaker.failure_count,
        "threshold": breaker.threshold,
    })
}

fn render_alarms(alarms: &AlarmsCheck) -> Value {
    let mut v = json!({"status": alarms.status.wire()});
    if !alarms.names.is_empty() {
        v["alarmNames"] = json!(alarms.names);
    }
    if !alarms.triggered.is_empty() {
        v["triggeredAlarmNames"] = json!(alarms.triggered);
    }
    v
}

fn render_brief(service: &Service, sd: &ServiceDeployment) -> Value {
    json!({
        "serviceDeploymentArn": sd.arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": json_time(sd.created_at),
        "targetServiceRevisionArn": sd.target_revision,
        "status": sd.status.wire(),
        "startedAt": sd.started_at.map(json_time),
        "finishedAt": sd.finished_at.map(json_time),
        "statusReason": sd.status_reason,
    })
}

fn render_revision(service: &Service, revision: &ServiceRevision) -> Value {
    json!({
        "serviceRevisionArn": revision.arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "taskDefinition": revision.task_definition,
        "loadBalancers": revision.load_balancers.iter()
            .map(super::strategy::render_load_balancer).collect::<Vec<_>>(),
        "serviceRegistries": [],
        "containerImages": revision.container_images.iter().map(|c| {
            json!({"containerName": c.container_name, "image": c.image, "imageDigest": c.image_digest})
        }).collect::<Vec<_>>(),
        "guardDutyEnabled": false,
        "createdAt": json_time(revision.created_at),
        "launchType": revision.launch_type,
        "platformVersion": revision.platform_version,
        "networkConfiguration": revision.network_configuration,
    })
}

/// Serves one of the ServiceDeployment operations; `None` for any other operation.
pub fn handle(ctx: &Ctx, op: &str, input: &Value) -> Option<ApiResult<Value>> {
    Some(match op {
        "ListServiceDeployments" => list(ctx, input),
        "DescribeServiceDeployments" => describe(ctx, input),
        "DescribeServiceRevisions" => describe_revisions(ctx, input),
        "StopServiceDeployment" => stop(ctx, input),
        "ContinueServiceDeployment" => continue_deployment(ctx, input),
        _ => return None,
    })
}

/// `createdAt {before, after}` of ListServiceDeployments, as epoch seconds.
fn created_window(input: &Value) -> ApiResult<(Option<f64>, Option<f64>)> {
    let Some(window) = input.get("createdAt").filter(|v| !v.is_null()) else {
        return Ok((None, None));
    };
    let at = |key: &str| match window.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| {
            ApiError::new(
                "SerializationException",
                format!("createdAt.{key} must be a timestamp"),
            )
        }),
    };
    Ok((at("before")?, at("after")?))
}

fn status_filter(input: &Value) -> ApiResult<Vec<ServiceDeploymentStatus>> {
    input
        .str_list("status")?
        .into_iter()
        .map(|s| {
            parse_wire(&SERVICE_DEPLOYMENT_STATUSES, s)
                .ok_or_else(|| invalid(format!("{s} is not a service deployment status.")))
        })
        .collect()
}

fn list(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let statuses = status_filter(input)?;
    let (before, after) = created_window(input)?;
    let state = ctx.shared.lock();
    let cluster = arn_tail(input.opt_str("cluster")?.unwrap_or("default")).to_owned();
    if !state.clusters.contains_key(&cluster) {
        return Err(ApiError::new(
            "ClusterNotFoundException",
            "Cluster not found.",
        ));
    }
    let name = arn_tail(input.req_str("service")?);
    let service = state
        .services
        .iter()
        .rev()
        .find(|s| s.cluster_name == cluster && s.name == name)
        .ok_or_else(|| ApiError::new("ServiceNotFoundException", "Service not found."))?;
    let created = |sd: &ServiceDeployment| crate::clock::epoch_seconds(sd.created_at);
    let briefs: Vec<Value> = service
        .service_deployments
        .iter()
        .rev()
        .filter(|sd| statuses.is_empty() || statuses.contains(&sd.status))
        .filter(|sd| before.is_none_or(|b| created(sd) < b))
        .filter(|sd| after.is_none_or(|a| created(sd) > a))
        .map(|sd| render_brief(service, sd))
        .collect();
    let (items, next) = page(
        &briefs,
        input.opt_i64("maxResults")?.or(Some(20)),
        input.opt_str("nextToken")?,
        100,
    )?;
    Ok(json!({"serviceDeployments": items, "nextToken": next}))
}

/// The ARNs of a Describe call: 1 to 20.
fn arns<'v>(input: &'v Value, key: &str) -> ApiResult<Vec<&'v str>> {
    let arns = input.str_list(key)?;
    if arns.is_empty() || arns.len() > MAX_DESCRIBED {
        return Err(invalid(format!(
            "{key} must name from 1 to {MAX_DESCRIBED} ARNs, got {}.",
            arns.len()
        )));
    }
    Ok(arns)
}

fn missing(arn: &str) -> Value {
    json!({"arn": arn, "reason": "MISSING"})
}

fn describe(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let arns = arns(input, "serviceDeploymentArns")?;
    let state = ctx.shared.lock();
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for arn in arns {
        match find(&state, arn) {
            Some((service, sd)) => found.push(render_deployment(&state, service, sd)),
            None => failures.push(missing(arn)),
        }
    }
    Ok(json!({"serviceDeployments": found, "failures": failures}))
}

fn describe_revisions(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let arns = arns(input, "serviceRevisionArns")?;
    let state = ctx.shared.lock();
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for arn in arns {
        let revision = state
            .services
            .iter()
            .find_map(|s| s.revision(arn).map(|r| render_revision(s, r)));
        match revision {
            Some(r) => found.push(r),
            None => failures.push(missing(arn)),
        }
    }
    Ok(json!({"serviceRevisions": found, "failures": failures}))
}

/// The service deployment with `arn`, and its service.
fn find<'s>(state: &'s State, arn: &str) -> Option<(&'s Service, &'s ServiceDeployment)> {
    state.services.iter().find_map(|s| {
        s.service_deployments
            .iter()
            .find(|sd| sd.arn == arn)
            .map(|sd| (s, sd))
    })
}

fn stop(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let arn = input.req_str("serviceDeploymentArn")?;
    match input.opt_str("stopType")?.unwrap_or("ROLLBACK") {
        "ROLLBACK" => {}
        other => {
            return Err(invalid(format!(
                "stopType {other} is not supported: the valid value is ROLLBACK."
            )));
        }
    }
    let mut state = ctx.shared.lock();
    let sd = state
        .services
        .iter_mut()
        .flat_map(|s| s.service_deployments.iter_mut())
        .find(|sd| sd.arn == arn)
        .ok_or_else(|| not_found(arn))?;
    match sd.status {
        ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress => {
            // The scheduler rolls back to the last deployment that completed.
            sd.transition(
                ServiceDeploymentStatus::RollbackRequested,
                Some(events::ROLLOUT_STOPPED.to_owned()),
            );
            sd.stopped_at = Some(SystemTime::now());
        }
        status if status.is_ongoing() => {}
        status => {
            return Err(ApiError::new(
                "ConflictException",
                format!(
                    "The service deployment {arn} is {}: only a PENDING or IN_PROGRESS service \
                     deployment can be stopped.",
                    status.wire()
                ),
            ));
        }
    }
    state.dirty = true;
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({"serviceDeploymentArn": arn}))
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        "ServiceDeploymentNotFoundException",
        format!("The service deployment {arn} does not exist."),
    )
}

/// ContinueServiceDeployment: answers a PAUSE hook that awaits action. CONTINUE (the
/// default) lets the deployment go on; ROLLBACK has the scheduler roll it back.
fn continue_deployment(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let arn = input.req_str("serviceDeploymentArn")?;
    let hook_id = input.req_str("hookId")?;
    let action = match input.opt_str("action")? {
        None => HookAction::Continue,
        Some(a) => parse_wire(&HOOK_ACTIONS, a)
            .ok_or_else(|| invalid(format!("action must be CONTINUE or ROLLBACK, got {a}.")))?,
    };
    let mut state = ctx.shared.lock();
    let sd = state
        .services
        .iter_mut()
        .flat_map(|s| s.service_deployments.iter_mut())
        .find(|sd| sd.arn == arn)
        .ok_or_else(|| not_found(arn))?;
    if !sd.status.is_ongoing() {
        return Err(invalid(format!(
            "The service deployment {arn} is {}: it has no hook awaiting action.",
            sd.status.wire()
        )));
    }
    let hook = sd
        .blue_green
        .as_mut()
        .and_then(|run| run.hooks.iter_mut().find(|h| h.hook_id == hook_id))
        .filter(|h| h.status == HookStatus::AwaitingAction)
        .ok_or_else(|| {
            invalid(format!(
                "The service deployment {arn} has no lifecycle hook {hook_id} awaiting action."
            ))
        })?;
    hook.status = match action {
        HookAction::Continue => HookStatus::Succeeded,
        HookAction::Rollback => HookStatus::Failed,
    };
    sd.updated_at = SystemTime::now();
    state.dirty = true;
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({"serviceDeploymentArn": arn}))
}
