//! ECS services: CreateService, UpdateService, DescribeServices, ListServices and
//! DeleteService, with their deployment configuration (bounds, circuit breaker, alarms) and
//! deployment controller. A deployment they start is also a service deployment
//! (`service_deployments::begin`).

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::ecs_common::{
    active_task_definition, cluster_name, cluster_not_found, include, invalid, service_not_found,
};
use super::wire::{CONTROLLER_TYPES, Wire, parse_wire};
use super::{Ctx, page, service_deployments, strategy, valid_name};
use crate::clock::json_time;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::ids::{ACCOUNT_ID, arn_tail, ecs_arn};
use crate::protocol::json::Input;
use crate::state::{
    CircuitBreaker, ControllerType, Deployment, DeploymentAlarms, DeploymentStatus, DesiredStatus,
    Service, ServiceLoadBalancer, ServiceStatus, State, StrategySettings, Task, TaskDefinition,
    TaskStatus,
};

/// Serves one of the service operations; `None` for any other operation.
pub fn handle(ctx: &Ctx, op: &str, input: &Value) -> Option<ApiResult<Value>> {
    Some(match op {
        "CreateService" => create_service(ctx, input),
        "UpdateService" => update_service(ctx, input),
        "DescribeServices" => describe_services(ctx, input),
        "ListServices" => list_services(ctx, input),
        "DeleteService" => delete_service(ctx, input),
        _ => return None,
    })
}

pub(super) fn render_service(state: &State, service: &Service, with_tags: bool) -> Value {
    let tasks: Vec<&Task> = state
        .tasks
        .values()
        .filter(|t| t.service_arn.as_deref() == Some(service.arn.as_str()))
        .collect();
    let count = |deployment: Option<&str>, status: &[TaskStatus]| {
        tasks
            .iter()
            .filter(|t| deployment.is_none_or(|d| t.deployment_id.as_deref() == Some(d)))
            .filter(|t| status.contains(&t.last_status))
            .count()
    };
    let pending = [TaskStatus::Provisioning, TaskStatus::Pending];
    let running = [TaskStatus::Running];
    let deployments: Vec<Value> = service
        .deployments
        .iter()
        .map(|d| {
            let desired = if d.status == DeploymentStatus::Primary {
                service.desired_count as usize
            } else {
                tasks
                    .iter()
                    .filter(|t| {
                        t.deployment_id.as_deref() == Some(d.id.as_str())
                            && t.desired_status == DesiredStatus::Running
                    })
                    .count()
            };
            let mut v = json!({
                "id": d.id,
                "status": d.status.wire(),
                "taskDefinition": d.task_definition,
                "desiredCount": desired,
                "pendingCount": count(Some(&d.id), &pending),
                "runningCount": count(Some(&d.id), &running),
                "failedTasks": d.failed_tasks,
                "createdAt": json_time(d.created_at),
                "updatedAt": json_time(d.updated_at),
                "rolloutState": d.rollout_state.wire(),
                "rolloutStateReason": d.rollout_state_reason,
            });
            if let Some(lt) = &d.launch_type {
                v["launchType"] = json!(lt);
            }
            v["networkConfiguration"] = d.network_configuration.clone();
            v
        })
        .collect();
    let events: Vec<Value> = service
        .events
        .iter()
        .map(|e| json!({"id": e.id, "createdAt": json_time(e.created_at), "message": e.message}))
        .collect();
    let mut v = json!({
        "serviceArn": service.arn,
        "serviceName": service.name,
        "clusterArn": service.cluster_arn,
        "loadBalancers": service.load_balancers.iter()
            .map(strategy::render_load_balancer).collect::<Vec<_>>(),
        "serviceRegistries": [],
        "status": service.status.wire(),
        "desiredCount": service.desired_count,
        "runningCount": count(None, &running),
        "pendingCount": count(None, &pending),
        "deploymentConfiguration": service_deployments::deployment_configuration(service),
        "deployments": deployments,
        "events": events,
        "createdAt": json_time(service.created_at),
        "placementConstraints": [],
        "placementStrategy": [],
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": service.controller.wire()},
        "taskSets": [],
        "createdBy": format!("arn:aws:iam::{ACCOUNT_ID}:root"),
        "enableECSManagedTags": false,
        "propagateTags": "NONE",
        "enableExecuteCommand": false,
    });
    if !service.task_definition.is_empty() {
        v["taskDefinition"] = json!(service.task_definition);
    }
    service_deployments::add_service_fields(state, service, &mut v);
    if let Some(lt) = &service.launch_type {
        v["launchType"] = json!(lt);
    }
    if !service.load_balancers.is_empty() || service.health_check_grace_period > 0 {
        v["healthCheckGracePeriodSeconds"] = json!(service.health_check_grace_period);
    }
    if let Value::Object(echoed) = &service.echoed {
        for (key, value) in echoed {
            if key == "tags" && !with_tags {
                continue;
            }
            v[key.as_str()] = value.clone();
        }
    }
    v
}

/// Fields of CreateService/UpdateService that are stored and echoed as sent.
const ECHOED: [&str; 9] = [
    "networkConfiguration",
    "platformVersion",
    "tags",
    "propagateTags",
    "enableECSManagedTags",
    "enableExecuteCommand",
    "placementConstraints",
    "placementStrategy",
    "availabilityZoneRebalancing",
];

/// `deploymentConfiguration`, as a service keeps it.
#[derive(Debug, Clone, PartialEq)]
struct DeploymentConfig {
    min: i64,
    max: i64,
    breaker: CircuitBreaker,
    alarms: DeploymentAlarms,
    strategy: StrategySettings,
}

impl DeploymentConfig {
    /// CreateService's defaults: 100 / 200, no circuit breaker, no alarms.
    fn default_for_create() -> Self {
        DeploymentConfig {
            min: 100,
            max: 200,
            breaker: CircuitBreaker {
                enable: false,
                rollback: false,
            },
            alarms: DeploymentAlarms::default(),
            strategy: StrategySettings::default(),
        }
    }

    /// What a service has now (UpdateService changes only what it names).
    fn of(service: &Service) -> Self {
        DeploymentConfig {
            min: service.minimum_healthy_percent,
            max: service.maximum_percent,
            breaker: service.circuit_breaker,
            alarms: service.alarms.clone(),
            strategy: service.strategy.clone(),
        }
    }
}

/// Reads `deploymentConfiguration` over `config`. Alarm names need not exist yet: ECS
/// accepts alarms created after the service.
fn deployment_configuration(
    input: &Value,
    mut config: DeploymentConfig,
) -> ApiResult<DeploymentConfig> {
    if let Some(given) = input
        .get("deploymentConfiguration")
        .filter(|v| !v.is_null())
    {
        if let Some(v) = given.opt_i64("minimumHealthyPercent")? {
            config.min = v;
        }
        if let Some(v) = given.opt_i64("maximumPercent")? {
            config.max = v;
        }
        if let Some(cb) = given
            .get("deploymentCircuitBreaker")
            .filter(|v| !v.is_null())
        {
            config.breaker = CircuitBreaker {
                enable: cb.opt_bool("enable")?.unwrap_or(false),
                rollback: cb.opt_bool("rollback")?.unwrap_or(false),
            };
        }
        if let Some(alarms) = given.get("alarms").filter(|v| !v.is_null()) {
            config.alarms = deployment_alarms(alarms)?;
        }
        config.strategy = strategy::read(given, config.strategy)?;
    }
    if !(0..=100).contains(&config.min) {
        return Err(invalid(format!(
            "minimumHealthyPercent must be from 0 to 100, got {}.",
            config.min
        )));
    }
    if !(100..=2000).contains(&config.max) {
        return Err(invalid(format!(
            "maximumPercent must be from 100 to 2000, got {}.",
            config.max
        )));
    }
    Ok(config)
}

/// `deploymentConfiguration.alarms {alarmNames, enable, rollback}` (all three required).
fn deployment_alarms(alarms: &Value) -> ApiResult<DeploymentAlarms> {
    let names: Vec<String> = alarms
        .str_list("alarmNames")?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let enable = alarms.opt_bool("enable")?;
    let rollback = alarms.opt_bool("rollback")?;
    let (Some(enable), Some(rollback)) = (enable, rollback) else {
        return Err(invalid(
            "deploymentConfiguration.alarms needs alarmNames, enable and rollback.",
        ));
    };
    if names.iter().any(|n| n.is_empty() || n.len() > 255) {
        return Err(invalid("Alarm names must have 1 to 255 characters."));
    }
    if enable && names.is_empty() {
        return Err(invalid(
            "deploymentConfiguration.alarms.alarmNames must name at least one alarm when enable is true.",
        ));
    }
    Ok(DeploymentAlarms {
        names,
        enable,
        rollback,
    })
}

/// `deploymentController.type` (ECS when absent).
fn controller_type(input: &Value) -> ApiResult<ControllerType> {
    let Some(controller) = input.get("deploymentController").filter(|v| !v.is_null()) else {
        return Ok(ControllerType::Ecs);
    };
    let name = controller.opt_str("type")?.unwrap_or("ECS");
    parse_wire(&CONTROLLER_TYPES, name).ok_or_else(|| {
        invalid(format!(
            "deploymentController.type must be ECS, CODE_DEPLOY or EXTERNAL, got {name}."
        ))
    })
}

fn container_ports(td: &TaskDefinition, container: &str) -> Option<Vec<i64>> {
    td.body
        .list("containerDefinitions")
        .ok()?
        .iter()
        .find(|d| d.get("name").and_then(Value::as_str) == Some(container))
        .map(|d| {
            d.list("portMappings")
                .unwrap_or(&[])
                .iter()
                .filter_map(|m| m.get("containerPort").and_then(Value::as_i64))
                .collect()
        })
}

fn load_balancers(
    state: &State,
    input: &Value,
    td: &TaskDefinition,
) -> ApiResult<Vec<ServiceLoadBalancer>> {
    input
        .list("loadBalancers")?
        .iter()
        .map(|lb| {
            if lb.opt_str("loadBalancerName")?.is_some() {
                return Err(invalid(
                    "local-ecs supports Application Load Balancer target groups (targetGroupArn), not Classic Load Balancers.",
                ));
            }
            let tg = lb.req_str("targetGroupArn")?;
            let container = lb.req_str("containerName")?;
            let port = lb
                .opt_i64("containerPort")?
                .ok_or_else(|| invalid("containerPort is required in loadBalancers."))?;
            if state.target_group(tg).is_none() {
                return Err(invalid(format!("The target group {tg} does not exist.")));
            }
            if state.load_balancers_of_target_group(tg).is_empty() {
                return Err(invalid(format!(
                    "The target group with targetGroupArn {tg} does not have an associated load balancer."
                )));
            }
            let ports = container_ports(td, container)
                .ok_or_else(|| invalid(format!("The container {container} does not exist in the task definition.")))?;
            if !ports.contains(&port) {
                return Err(invalid(format!(
                    "The container {container} did not have a container port {port} defined."
                )));
            }
            Ok(ServiceLoadBalancer {
                target_group_arn: tg.to_owned(),
                container_name: container.to_owned(),
                container_port: port,
                advanced: strategy::advanced(state, lb, tg)?,
            })
        })
        .collect()
}

/// What CreateService asks for, checked before the lock is taken.
struct CreateInput<'v> {
    name: &'v str,
    controller: ControllerType,
    desired: i64,
    launch_type: Option<String>,
    config: DeploymentConfig,
    grace: Option<i64>,
}

fn create_input(input: &Value) -> ApiResult<CreateInput<'_>> {
    let name = input.req_str("serviceName")?;
    if !valid_name(name, 255) {
        return Err(invalid(
            "Service name can have up to 255 characters: letters, numbers, hyphens and underscores.",
        ));
    }
    if input
        .opt_str("schedulingStrategy")?
        .is_some_and(|s| s != "REPLICA")
    {
        return Err(invalid(
            "local-ecs implements the REPLICA scheduling strategy only.",
        ));
    }
    let desired = input.opt_i64("desiredCount")?.unwrap_or(0);
    if desired < 0 {
        return Err(invalid("desiredCount must be 0 or more."));
    }
    Ok(CreateInput {
        name,
        controller: controller_type(input)?,
        desired,
        launch_type: input.opt_str("launchType")?.map(str::to_owned),
        config: deployment_configuration(input, DeploymentConfig::default_for_create())?,
        grace: input.opt_i64("healthCheckGracePeriodSeconds")?,
    })
}

/// The service's task definition: required (and ACTIVE) unless the controller is EXTERNAL,
/// whose task definitions belong to its task sets.
fn service_task_definition(
    state: &State,
    input: &Value,
    controller: ControllerType,
) -> ApiResult<Option<TaskDefinition>> {
    let reference = input.opt_str("taskDefinition")?.filter(|r| !r.is_empty());
    match (controller, reference) {
        (ControllerType::External, Some(_)) => Err(invalid("TaskDefinition must be blank.")),
        (ControllerType::External, None) => Ok(None),
        (_, reference) => {
            let reference = reference
                .ok_or_else(|| invalid("taskDefinition is required and must not be empty."))?;
            Ok(Some(active_task_definition(state, reference)?.clone()))
        }
    }
}

fn echoed_fields(input: &Value) -> Map<String, Value> {
    let mut echoed = Map::new();
    for key in ECHOED {
        if let Some(v) = input.get(key).filter(|v| !v.is_null()) {
            echoed.insert(key.into(), v.clone());
        }
    }
    echoed
}

/// A new ACTIVE service; with the ECS controller, its first deployment (CODE_DEPLOY and
/// EXTERNAL services run no tasks in local-ecs).
fn new_service(
    region: &str,
    req: CreateInput<'_>,
    (cluster, cluster_arn): (&str, String),
    td: Option<&TaskDefinition>,
    load_balancers: Vec<ServiceLoadBalancer>,
    echoed: Map<String, Value>,
) -> Service {
    let arn = ecs_arn(region, &format!("service/{cluster}/{}", req.name));
    let td_arn = td.map(|td| td.arn.clone()).unwrap_or_default();
    let network = echoed
        .get("networkConfiguration")
        .cloned()
        .unwrap_or(Value::Null);
    let deployments = match req.controller {
        ControllerType::Ecs => vec![Deployment::new(
            &arn,
            &td_arn,
            req.launch_type.clone(),
            network,
            None,
        )],
        ControllerType::CodeDeploy | ControllerType::External => Vec::new(),
    };
    Service {
        name: req.name.to_owned(),
        arn,
        cluster_name: cluster.to_owned(),
        cluster_arn,
        task_definition: td_arn,
        desired_count: req.desired,
        minimum_healthy_percent: req.config.min,
        maximum_percent: req.config.max,
        circuit_breaker: req.config.breaker,
        load_balancers,
        health_check_grace_period: req.grace.unwrap_or(0),
        status: ServiceStatus::Active,
        created_at: SystemTime::now(),
        launch_type: req.launch_type,
        events: Default::default(),
        deployments,
        last_completed: None,
        echoed: Value::Object(echoed),
        controller: req.controller,
        alarms: req.config.alarms,
        strategy: req.config.strategy,
        revisions: Vec::new(),
        service_deployments: Vec::new(),
        runtime: Default::default(),
    }
}

fn create_service(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let req = create_input(input)?;
    let mut state = ctx.shared.lock();
    let cluster = cluster_name(&state, input)?;
    let cluster_arn = state
        .clusters
        .get(&cluster)
        .map(|c| c.arn.clone())
        .ok_or_else(cluster_not_found)?;
    let td = service_task_definition(&state, input, req.controller)?;
    let lbs = match &td {
        Some(td) => load_balancers(&state, input, td)?,
        None => Vec::new(),
    };
    strategy::check(&req.config.strategy, &lbs)?;
    if req.grace.is_some() && lbs.is_empty() {
        return Err(invalid(
            "Health check grace period is only valid for services configured to use load balancers",
        ));
    }
    let name = req.name;
    if state
        .services
        .iter()
        .any(|s| s.cluster_name == cluster && s.name == name && s.status != ServiceStatus::Inactive)
    {
        return Err(invalid("Creation of service was not idempotent."));
    }
    state
        .services
        .retain(|s| !(s.cluster_name == cluster && s.name == name));
    let cluster_ref = (cluster.as_str(), cluster_arn);
    let service = new_service(
        &ctx.region,
        req,
        cluster_ref,
        td.as_ref(),
        lbs,
        echoed_fields(input),
    );
    let arn = service.arn.clone();
    let first = service.deployments.first().map(|d| d.id.clone());
    state.services.push(service);
    if let Some(row) = first {
        service_deployments::begin(&mut state, &arn, &row, ctx.shared.port);
    }
    changed_service(ctx, state, &arn)
}

fn find_service<'s>(state: &'s mut State, input: &Value) -> ApiResult<&'s mut Service> {
    let cluster = cluster_name(state, input)?;
    let name = input.req_str("service")?;
    state
        .service_mut(&cluster, name)
        .ok_or_else(service_not_found)
}

/// CODE_DEPLOY and EXTERNAL services are deployed by their controller, not by UpdateService.
fn refuse_controller_deployments(service: &Service, input: &Value) -> ApiResult<()> {
    let new_td = input
        .opt_str("taskDefinition")?
        .is_some_and(|t| !t.is_empty());
    let force = input.opt_bool("forceNewDeployment")?.unwrap_or(false);
    match service.controller {
        ControllerType::Ecs => Ok(()),
        ControllerType::CodeDeploy if new_td => Err(invalid(
            "Unable to update task definition on services with a CODE_DEPLOY deployment \
             controller. Use AWS CodeDeploy to trigger a new deployment.",
        )),
        ControllerType::CodeDeploy if force => Err(invalid(
            "Unable to force a new deployment on services with a CODE_DEPLOY deployment \
             controller. Use AWS CodeDeploy to trigger a new deployment.",
        )),
        ControllerType::External if new_td => Err(invalid("TaskDefinition must be blank.")),
        ControllerType::External if force => Err(invalid(
            "Unable to force a new deployment on services with an EXTERNAL deployment \
             controller. Use CreateTaskSet to deploy.",
        )),
        _ => Ok(()),
    }
}

/// What an UpdateService changes, checked against the service as it is.
struct UpdatePlan {
    config: DeploymentConfig,
    desired: Option<i64>,
    grace: Option<i64>,
    load_balancers: Option<Vec<ServiceLoadBalancer>>,
    /// The task definition of the new deployment, when one starts.
    new_deployment: Option<String>,
}

fn plan_update(state: &State, service: &Service, input: &Value) -> ApiResult<UpdatePlan> {
    let config = deployment_configuration(input, DeploymentConfig::of(service))?;
    let desired = input.opt_i64("desiredCount")?;
    if desired.is_some_and(|d| d < 0) {
        return Err(invalid("desiredCount must be 0 or more."));
    }
    let td = match input.opt_str("taskDefinition")?.filter(|t| !t.is_empty()) {
        Some(reference) => Some(active_task_definition(state, reference)?.clone()),
        None => state.task_definition(&service.task_definition).cloned(),
    };
    let load_balancers = match (input.get("loadBalancers").filter(|v| !v.is_null()), &td) {
        (None, _) => None,
        (Some(_), Some(td)) => Some(load_balancers(state, input, td)?),
        (Some(_), None) => return Err(invalid("TaskDefinition not found.")),
    };
    strategy::check(
        &config.strategy,
        load_balancers.as_deref().unwrap_or(&service.load_balancers),
    )?;
    let force = input.opt_bool("forceNewDeployment")?.unwrap_or(false);
    let lbs_changed = load_balancers
        .as_ref()
        .is_some_and(|l| *l != service.load_balancers);
    let network_changed = input
        .get("networkConfiguration")
        .is_some_and(|n| !n.is_null() && service.echoed.get("networkConfiguration") != Some(n));
    // A new deployment only when something tasks are made from changed (or when forced).
    let new_deployment = td
        .filter(|td| {
            service.controller == ControllerType::Ecs
                && (td.arn != service.task_definition || force || lbs_changed || network_changed)
        })
        .map(|td| td.arn);
    Ok(UpdatePlan {
        config,
        desired,
        grace: input.opt_i64("healthCheckGracePeriodSeconds")?,
        load_balancers,
        new_deployment,
    })
}

/// Carries an update out; returns the new deployment's id when one started.
fn apply_update(service: &mut Service, input: &Value, plan: UpdatePlan) -> Option<String> {
    service.minimum_healthy_percent = plan.config.min;
    service.maximum_percent = plan.config.max;
    service.circuit_breaker = plan.config.breaker;
    service.alarms = plan.config.alarms;
    service.strategy = plan.config.strategy;
    if let Some(d) = plan.desired {
        service.desired_count = d;
    }
    if let Some(g) = plan.grace {
        service.health_check_grace_period = g;
    }
    if let Some(lbs) = plan.load_balancers {
        service.load_balancers = lbs;
    }
    for key in ECHOED {
        if let Some(v) = input.get(key).filter(|v| !v.is_null())
            && let Value::Object(echoed) = &mut service.echoed
        {
            echoed.insert(key.into(), v.clone());
        }
    }
    let td = plan.new_deployment?;
    let network = service
        .echoed
        .get("networkConfiguration")
        .cloned()
        .unwrap_or(Value::Null);
    let mut deployment = Deployment::new(
        &service.arn,
        &td,
        service.launch_type.clone(),
        network,
        None,
    );
    // Tasks register where production traffic goes now (a blue/green deployment's green
    // tasks are moved to the other group by `service_deployments::begin`).
    deployment.alternate = service
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary)
        .is_some_and(|d| d.alternate);
    let id = deployment.id.clone();
    for d in &mut service.deployments {
        d.status = DeploymentStatus::Active;
    }
    service.deployments.insert(0, deployment);
    service.task_definition = td;
    service.runtime = Default::default();
    Some(id)
}

fn update_service(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let mut state = ctx.shared.lock();
    let service = find_service(&mut state, input)?;
    if service.status != ServiceStatus::Active {
        return Err(ApiError::new(
            "ServiceNotActiveException",
            "Service was not ACTIVE.",
        ));
    }
    refuse_controller_deployments(service, input)?;
    let current = service.clone();
    let plan = plan_update(&state, &current, input)?;
    let service = state
        .service_by_arn_mut(&current.arn)
        .ok_or_else(service_not_found)?;
    if let Some(row) = apply_update(service, input, plan) {
        service_deployments::begin(&mut state, &current.arn, &row, ctx.shared.port);
    }
    changed_service(ctx, state, &current.arn)
}

fn describe_services(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let names = input.str_list("services")?;
    if names.is_empty() || names.len() > 10 {
        return Err(invalid("services must name from 1 to 10 services."));
    }
    let with_tags = include(input, "TAGS")?;
    let state = ctx.shared.lock();
    let cluster = cluster_name(&state, input)?;
    let mut services = Vec::new();
    let mut failures = Vec::new();
    for reference in names {
        let name = arn_tail(reference);
        match state.services.iter().rev().find(|s| s.cluster_name == cluster && s.name == name) {
            Some(s) => services.push(render_service(&state, s, with_tags)),
            None => failures.push(json!({
                "arn": if reference.starts_with("arn:") { reference.to_owned() } else { ecs_arn(&ctx.region, &format!("service/{cluster}/{name}")) },
                "reason": "MISSING",
            })),
        }
    }
    Ok(json!({"services": services, "failures": failures}))
}

fn list_services(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let state = ctx.shared.lock();
    let cluster = cluster_name(&state, input)?;
    let arns: Vec<String> = state
        .services
        .iter()
        .filter(|s| s.cluster_name == cluster && s.status != ServiceStatus::Inactive)
        .map(|s| s.arn.clone())
        .collect();
    let (items, next) = page(
        &arns,
        input.opt_i64("maxResults")?,
        input.opt_str("nextToken")?,
        100,
    )?;
    Ok(json!({"serviceArns": items, "nextToken": next}))
}

fn delete_service(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let force = input.opt_bool("force")?.unwrap_or(false);
    let mut state = ctx.shared.lock();
    let service = find_service(&mut state, input)?;
    if service.status == ServiceStatus::Inactive {
        return Err(ApiError::new(
            "ServiceNotActiveException",
            "Service was not ACTIVE.",
        ));
    }
    if service.desired_count > 0 && !force {
        return Err(invalid(
            "The service cannot be stopped while it is scaled above 0. Set desiredCount to 0 or use force.",
        ));
    }
    service.status = ServiceStatus::Draining;
    service.desired_count = 0;
    let arn = service.arn.clone();
    state.stop_ongoing_service_deployments(&arn, |_| events::SERVICE_DELETED.to_owned());
    changed_service(ctx, state, &arn)
}

/// The answer of an operation that changed service `arn`: the service as it is now. Marks the
/// state for saving and wakes the scheduler.
fn changed_service(
    ctx: &Ctx,
    mut state: std::sync::MutexGuard<'_, State>,
    arn: &str,
) -> ApiResult<Value> {
    let service = state
        .service_by_arn_mut(arn)
        .ok_or_else(service_not_found)?
        .clone();
    let rendered = render_service(&state, &service, true);
    state.dirty = true;
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({"service": rendered}))
}
