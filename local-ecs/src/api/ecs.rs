//! ECS (awsJson1_1, `AmazonEC2ContainerServiceV20141113`): clusters, task definitions,
//! services with their deployments and events, and tasks. The scheduler (`scheduler`) and
//! the runner (`runner`) make what these calls describe actually happen.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::wire::{TaskFilter, Wire};
use super::{Ctx, page, valid_name};
use crate::clock::json_time;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ACCOUNT_ID, arn_tail, ecs_arn};
use crate::protocol::json::Input;
use crate::state::{
    CircuitBreaker, Cluster, ContainerStatus, Deployment, DeploymentStatus, DesiredStatus, Service,
    ServiceLoadBalancer, ServiceStatus, State, StopCode, Task, TaskDefinition,
    TaskDefinitionStatus, TaskStatus,
};

/// Serves one ECS operation.
pub fn handle(ctx: &Ctx, op: &str, input: &Value) -> ApiResult<Value> {
    match op {
        "CreateCluster" => create_cluster(ctx, input),
        "DescribeClusters" => describe_clusters(ctx, input),
        "ListClusters" => list_clusters(ctx, input),
        "RegisterTaskDefinition" => register_task_definition(ctx, input),
        "DescribeTaskDefinition" => describe_task_definition(ctx, input),
        "ListTaskDefinitions" => list_task_definitions(ctx, input),
        "DeregisterTaskDefinition" => deregister_task_definition(ctx, input),
        "CreateService" => create_service(ctx, input),
        "UpdateService" => update_service(ctx, input),
        "DescribeServices" => describe_services(ctx, input),
        "ListServices" => list_services(ctx, input),
        "DeleteService" => delete_service(ctx, input),
        "ListTasks" => list_tasks(ctx, input),
        "DescribeTasks" => describe_tasks(ctx, input),
        "StopTask" => stop_task(ctx, input),
        other => Err(ApiError::new(
            "UnknownOperationException",
            format!(
                "local-ecs does not implement the ECS operation {other}; it serves \
                 CreateCluster, DescribeClusters, ListClusters, RegisterTaskDefinition, \
                 DescribeTaskDefinition, ListTaskDefinitions, DeregisterTaskDefinition, \
                 CreateService, UpdateService, DescribeServices, ListServices, DeleteService, \
                 ListTasks, DescribeTasks and StopTask"
            ),
        )),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameterException", message)
}

fn client(message: impl Into<String>) -> ApiError {
    ApiError::new("ClientException", message)
}

fn cluster_not_found() -> ApiError {
    ApiError::new("ClusterNotFoundException", "Cluster not found.")
}

fn service_not_found() -> ApiError {
    ApiError::new("ServiceNotFoundException", "Service not found.")
}

/// The cluster named by `cluster` (name or ARN; `default` when absent).
fn cluster_name(state: &State, input: &Value) -> ApiResult<String> {
    let reference = input.opt_str("cluster")?.unwrap_or("default");
    let name = arn_tail(reference);
    if state.clusters.contains_key(name) {
        Ok(name.to_owned())
    } else {
        Err(cluster_not_found())
    }
}

fn tags_or_empty(input: &Value, key: &str) -> ApiResult<Value> {
    Ok(Value::Array(input.list(key)?.to_vec()))
}

fn include(input: &Value, what: &str) -> ApiResult<bool> {
    Ok(input.str_list("include")?.contains(&what))
}

// ---------------------------------------------------------------------------------------
// Clusters

fn render_cluster(state: &State, cluster: &Cluster, with_tags: bool) -> Value {
    let tasks = state
        .tasks
        .values()
        .filter(|t| t.cluster_name == cluster.name);
    let (mut running, mut pending) = (0, 0);
    for t in tasks {
        match t.last_status {
            TaskStatus::Running => running += 1,
            TaskStatus::Provisioning | TaskStatus::Pending => pending += 1,
            _ => {}
        }
    }
    let services = state
        .services
        .iter()
        .filter(|s| s.cluster_name == cluster.name && s.status == ServiceStatus::Active)
        .count();
    let mut v = json!({
        "clusterArn": cluster.arn,
        "clusterName": cluster.name,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "activeServicesCount": services,
        "statistics": [],
        "settings": cluster.settings,
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    });
    if with_tags {
        v["tags"] = cluster.tags.clone();
    }
    v
}

fn create_cluster(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let name = input.opt_str("clusterName")?.unwrap_or("default");
    if !valid_name(name, 255) {
        return Err(invalid(
            "Cluster name can have up to 255 characters: letters, numbers, hyphens and underscores.",
        ));
    }
    let mut state = ctx.shared.lock();
    if !state.clusters.contains_key(name) {
        let settings = match input.get("settings") {
            Some(Value::Array(s)) if !s.is_empty() => Value::Array(s.clone()),
            _ => json!([{"name": "containerInsights", "value": "disabled"}]),
        };
        state.clusters.insert(
            name.to_owned(),
            Cluster {
                name: name.to_owned(),
                arn: ecs_arn(&ctx.region, &format!("cluster/{name}")),
                tags: tags_or_empty(input, "tags")?,
                settings,
            },
        );
        state.dirty = true;
    }
    let cluster = state.clusters.get(name).ok_or_else(cluster_not_found)?;
    Ok(json!({"cluster": render_cluster(&state, cluster, true)}))
}

fn describe_clusters(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let mut names = input.str_list("clusters")?;
    if names.is_empty() {
        names.push("default");
    }
    let with_tags = include(input, "TAGS")?;
    let state = ctx.shared.lock();
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for reference in names {
        match state.clusters.get(arn_tail(reference)) {
            Some(c) => clusters.push(render_cluster(&state, c, with_tags)),
            None => failures.push(json!({
                "arn": if reference.starts_with("arn:") { reference.to_owned() } else { ecs_arn(&ctx.region, &format!("cluster/{reference}")) },
                "reason": "MISSING",
            })),
        }
    }
    Ok(json!({"clusters": clusters, "failures": failures}))
}

fn list_clusters(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let state = ctx.shared.lock();
    let arns: Vec<String> = state.clusters.values().map(|c| c.arn.clone()).collect();
    let (items, next) = page(
        &arns,
        input.opt_i64("maxResults")?,
        input.opt_str("nextToken")?,
        100,
    )?;
    Ok(json!({"clusterArns": items, "nextToken": next}))
}

// ---------------------------------------------------------------------------------------
// Task definitions

/// Capability attributes the ECS agent would need for this definition.
fn requires_attributes(body: &Value) -> Value {
    let mut names: Vec<&str> = vec!["com.amazonaws.ecs.capability.docker-remote-api.1.18"];
    if body.get("networkMode").and_then(Value::as_str) == Some("awsvpc") {
        names.push("ecs.capability.task-eni");
    }
    if body.get("taskRoleArn").is_some() {
        names.push("com.amazonaws.ecs.capability.task-iam-role");
    }
    for def in body
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if def.get("healthCheck").is_some() {
            names.push("ecs.capability.container-health-check");
        }
        if def
            .pointer("/logConfiguration/logDriver")
            .and_then(Value::as_str)
            == Some("awslogs")
        {
            names.push("com.amazonaws.ecs.capability.logging-driver.awslogs");
            names.push("com.amazonaws.ecs.capability.docker-remote-api.1.19");
        }
        if body.get("executionRoleArn").is_some() {
            if def.get("secrets").is_some() {
                names.push("ecs.capability.secrets.asm.environment-variables");
            }
            names.push("ecs.capability.execution-role-ecr-pull");
            if def
                .pointer("/logConfiguration/logDriver")
                .and_then(Value::as_str)
                == Some("awslogs")
            {
                names.push("ecs.capability.execution-role-awslogs");
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    Value::Array(names.into_iter().map(|n| json!({"name": n})).collect())
}

fn render_task_definition(td: &TaskDefinition) -> Value {
    let mut v = td.body.clone();
    if let Value::Object(map) = &mut v {
        map.insert("status".into(), json!(td.status.wire()));
        map.insert("registeredAt".into(), json_time(td.registered_at));
        if let Some(at) = td.deregistered_at {
            map.insert("deregisteredAt".into(), json_time(at));
        }
    }
    v
}

fn validate_container(
    def: &Value,
    network_mode: &str,
    names: &mut Vec<String>,
) -> ApiResult<Value> {
    let Value::Object(map) = def else {
        return Err(client("Each container definition must be an object."));
    };
    let name = def.opt_str("name")?.unwrap_or("");
    if !valid_name(name, 255) {
        return Err(client(
            "Container.name should not be null or empty, and may contain up to 255 letters, numbers, hyphens and underscores.",
        ));
    }
    if names.iter().any(|n| n == name) {
        return Err(client(format!(
            "Duplicate container name {name:?} in the task definition."
        )));
    }
    names.push(name.to_owned());
    if def.opt_str("image")?.is_none_or(str::is_empty) {
        return Err(client("Container.image should not be null or empty."));
    }
    let mut out = map.clone();
    out.entry("essential").or_insert(json!(true));
    out.entry("cpu").or_insert(json!(0));
    for key in ["environment", "mountPoints", "volumesFrom"] {
        out.entry(key).or_insert(json!([]));
    }
    let mut mappings = Vec::new();
    for mapping in def.list("portMappings")? {
        let container_port = mapping.opt_i64("containerPort")?;
        let host_port = mapping.opt_i64("hostPort")?;
        if let Some(p) = container_port
            && !(1..=65535).contains(&p)
        {
            return Err(client(format!(
                "Invalid containerPort {p} for container {name:?}."
            )));
        }
        let mut m = mapping.as_object().cloned().unwrap_or_default();
        m.entry("protocol").or_insert(json!("tcp"));
        if network_mode == "awsvpc" {
            match (container_port, host_port) {
                (Some(c), Some(h)) if c != h => {
                    return Err(client(
                        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
                    ));
                }
                (Some(c), None) => {
                    m.insert("hostPort".into(), json!(c));
                }
                _ => {}
            }
        }
        mappings.push(Value::Object(m));
    }
    out.insert("portMappings".into(), Value::Array(mappings));
    Ok(Value::Object(out))
}

fn register_task_definition(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let family = input.opt_str("family")?.unwrap_or("");
    if !valid_name(family, 255) {
        return Err(client(
            "Family must be 1-255 letters (uppercase and lowercase), numbers, hyphens and underscores.",
        ));
    }
    let definitions = input.list("containerDefinitions")?;
    if definitions.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    let network_mode = input.opt_str("networkMode")?.unwrap_or("bridge");
    if !["bridge", "host", "awsvpc", "none"].contains(&network_mode) {
        return Err(invalid(format!(
            "networkMode must be bridge, host, awsvpc or none, got {network_mode:?}."
        )));
    }
    let compatibilities = input.str_list("requiresCompatibilities")?;
    if compatibilities.contains(&"FARGATE") {
        if network_mode != "awsvpc" {
            return Err(client("Fargate only supports network mode 'awsvpc'."));
        }
        if input.opt_str("cpu")?.is_none() {
            return Err(client(
                "Fargate requires that 'cpu' be defined at the task level.",
            ));
        }
        if input.opt_str("memory")?.is_none() {
            return Err(client(
                "Fargate requires that 'memory' be defined at the task level.",
            ));
        }
    }
    let mut names = Vec::new();
    let containers = definitions
        .iter()
        .map(|d| validate_container(d, network_mode, &mut names))
        .collect::<ApiResult<Vec<_>>>()?;
    let Value::Object(request) = input else {
        return Err(client("The request must be a JSON object."));
    };
    let mut body: Map<String, Value> = request.clone();
    let tags = body.remove("tags").unwrap_or_else(|| json!([]));
    body.insert("containerDefinitions".into(), Value::Array(containers));
    body.entry("volumes").or_insert(json!([]));
    body.entry("placementConstraints").or_insert(json!([]));
    let fargate_ok =
        network_mode == "awsvpc" && body.contains_key("cpu") && body.contains_key("memory");
    let compat = if fargate_ok {
        json!(["EC2", "FARGATE"])
    } else {
        json!(["EC2"])
    };
    body.insert("compatibilities".into(), compat);
    body.insert(
        "registeredBy".into(),
        json!(format!("arn:aws:iam::{ACCOUNT_ID}:root")),
    );
    let requires = requires_attributes(&Value::Object(body.clone()));
    body.insert("requiresAttributes".into(), requires);

    let mut state = ctx.shared.lock();
    let revisions = state.task_definitions.entry(family.to_owned()).or_default();
    let revision = revisions.len() as i64 + 1;
    let arn = ecs_arn(&ctx.region, &format!("task-definition/{family}:{revision}"));
    body.insert("taskDefinitionArn".into(), json!(arn));
    body.insert("revision".into(), json!(revision));
    let td = TaskDefinition {
        family: family.to_owned(),
        revision,
        arn,
        status: TaskDefinitionStatus::Active,
        body: Value::Object(body),
        tags: tags.clone(),
        registered_at: SystemTime::now(),
        deregistered_at: None,
    };
    let rendered = render_task_definition(&td);
    revisions.push(td);
    state.dirty = true;
    Ok(json!({"taskDefinition": rendered, "tags": tags}))
}

fn unable_to_describe() -> ApiError {
    client("Unable to describe task definition.")
}

fn describe_task_definition(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let reference = input.req_str("taskDefinition")?;
    let state = ctx.shared.lock();
    let td = state
        .task_definition(reference)
        .ok_or_else(unable_to_describe)?;
    let mut out = json!({"taskDefinition": render_task_definition(td)});
    if include(input, "TAGS")? {
        out["tags"] = td.tags.clone();
    }
    Ok(out)
}

fn list_task_definitions(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let prefix = input.opt_str("familyPrefix")?;
    let status = input.opt_str("status")?.unwrap_or("ACTIVE");
    let descending = input.opt_str("sort")? == Some("DESC");
    let state = ctx.shared.lock();
    let mut arns: Vec<String> = state
        .task_definitions
        .iter()
        .filter(|(family, _)| prefix.is_none_or(|p| family.as_str() == p))
        .flat_map(|(_, revisions)| revisions.iter())
        .filter(|td| td.status.wire() == status)
        .map(|td| td.arn.clone())
        .collect();
    if descending {
        arns.reverse();
    }
    let (items, next) = page(
        &arns,
        input.opt_i64("maxResults")?,
        input.opt_str("nextToken")?,
        100,
    )?;
    Ok(json!({"taskDefinitionArns": items, "nextToken": next}))
}

fn deregister_task_definition(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let reference = input.req_str("taskDefinition")?;
    if !arn_tail(reference).contains(':') {
        return Err(client(
            "Revision must be specified: use family:revision or the full ARN.",
        ));
    }
    let mut state = ctx.shared.lock();
    let arn = state
        .task_definition(reference)
        .ok_or_else(unable_to_describe)?
        .arn
        .clone();
    let td = state
        .task_definitions
        .values_mut()
        .flat_map(|r| r.iter_mut())
        .find(|td| td.arn == arn)
        .ok_or_else(unable_to_describe)?;
    if td.status == TaskDefinitionStatus::Active {
        td.status = TaskDefinitionStatus::Inactive;
        td.deregistered_at = Some(SystemTime::now());
    }
    let rendered = render_task_definition(td);
    state.dirty = true;
    Ok(json!({"taskDefinition": rendered}))
}

// ---------------------------------------------------------------------------------------
// Services

fn render_service(state: &State, service: &Service, with_tags: bool) -> Value {
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
            if !d.network_configuration.is_null() {
                v["networkConfiguration"] = d.network_configuration.clone();
            }
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
        "loadBalancers": service.load_balancers.iter().map(|lb| json!({
            "targetGroupArn": lb.target_group_arn,
            "containerName": lb.container_name,
            "containerPort": lb.container_port,
        })).collect::<Vec<_>>(),
        "serviceRegistries": [],
        "status": service.status.wire(),
        "desiredCount": service.desired_count,
        "runningCount": count(None, &running),
        "pendingCount": count(None, &pending),
        "taskDefinition": service.task_definition,
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {
                "enable": service.circuit_breaker.enable,
                "rollback": service.circuit_breaker.rollback,
            },
            "maximumPercent": service.maximum_percent,
            "minimumHealthyPercent": service.minimum_healthy_percent,
        },
        "deployments": deployments,
        "events": events,
        "createdAt": json_time(service.created_at),
        "placementConstraints": [],
        "placementStrategy": [],
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "createdBy": format!("arn:aws:iam::{ACCOUNT_ID}:root"),
        "enableECSManagedTags": false,
        "propagateTags": "NONE",
        "enableExecuteCommand": false,
    });
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

fn deployment_configuration(
    input: &Value,
    mut min: i64,
    mut max: i64,
    mut breaker: CircuitBreaker,
) -> ApiResult<(i64, i64, CircuitBreaker)> {
    if let Some(config) = input
        .get("deploymentConfiguration")
        .filter(|v| !v.is_null())
    {
        if let Some(v) = config.opt_i64("minimumHealthyPercent")? {
            min = v;
        }
        if let Some(v) = config.opt_i64("maximumPercent")? {
            max = v;
        }
        if let Some(cb) = config
            .get("deploymentCircuitBreaker")
            .filter(|v| !v.is_null())
        {
            breaker = CircuitBreaker {
                enable: cb.opt_bool("enable")?.unwrap_or(false),
                rollback: cb.opt_bool("rollback")?.unwrap_or(false),
            };
        }
    }
    if !(0..=100).contains(&min) {
        return Err(invalid(format!(
            "minimumHealthyPercent must be from 0 to 100, got {min}."
        )));
    }
    if !(100..=2000).contains(&max) {
        return Err(invalid(format!(
            "maximumPercent must be from 100 to 2000, got {max}."
        )));
    }
    Ok((min, max, breaker))
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
            })
        })
        .collect()
}

fn active_task_definition<'s>(state: &'s State, reference: &str) -> ApiResult<&'s TaskDefinition> {
    let td = state
        .task_definition(reference)
        .ok_or_else(|| invalid("TaskDefinition not found."))?;
    if td.status != TaskDefinitionStatus::Active {
        return Err(invalid(format!("TaskDefinition {} is inactive.", td.arn)));
    }
    Ok(td)
}

fn create_service(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let name = input.req_str("serviceName")?;
    if !valid_name(name, 255) {
        return Err(invalid(
            "Service name can have up to 255 characters: letters, numbers, hyphens and underscores.",
        ));
    }
    let controller = input
        .get("deploymentController")
        .map(|c| c.opt_str("type"))
        .transpose()?
        .flatten()
        .unwrap_or("ECS");
    if controller != "ECS" {
        return Err(invalid(format!(
            "local-ecs implements the rolling update (ECS) deployment controller, not {controller}."
        )));
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
    let launch_type = input.opt_str("launchType")?.map(str::to_owned);
    let (min, max, breaker) = deployment_configuration(
        input,
        100,
        200,
        CircuitBreaker {
            enable: false,
            rollback: false,
        },
    )?;
    let grace = input.opt_i64("healthCheckGracePeriodSeconds")?;
    let mut state = ctx.shared.lock();
    let cluster = cluster_name(&state, input)?;
    let cluster_arn = state
        .clusters
        .get(&cluster)
        .map(|c| c.arn.clone())
        .ok_or_else(cluster_not_found)?;
    let td = active_task_definition(&state, input.req_str("taskDefinition")?)?.clone();
    let lbs = load_balancers(&state, input, &td)?;
    if grace.is_some() && lbs.is_empty() {
        return Err(invalid(
            "Health check grace period is only valid for services configured to use load balancers",
        ));
    }
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
    let mut echoed = Map::new();
    for key in ECHOED {
        if let Some(v) = input.get(key).filter(|v| !v.is_null()) {
            echoed.insert(key.into(), v.clone());
        }
    }
    let network = echoed
        .get("networkConfiguration")
        .cloned()
        .unwrap_or(Value::Null);
    let deployment = Deployment::new(&td.arn, launch_type.clone(), network);
    let service = Service {
        name: name.to_owned(),
        arn: ecs_arn(&ctx.region, &format!("service/{cluster}/{name}")),
        cluster_name: cluster.clone(),
        cluster_arn,
        task_definition: td.arn.clone(),
        desired_count: desired,
        minimum_healthy_percent: min,
        maximum_percent: max,
        circuit_breaker: breaker,
        load_balancers: lbs,
        health_check_grace_period: grace.unwrap_or(0),
        status: ServiceStatus::Active,
        created_at: SystemTime::now(),
        launch_type,
        events: Default::default(),
        deployments: vec![deployment],
        last_completed: None,
        echoed: Value::Object(echoed),
        runtime: Default::default(),
    };
    let rendered = render_service(&state, &service, true);
    state.services.push(service);
    state.dirty = true;
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({"service": rendered}))
}

fn find_service<'s>(state: &'s mut State, input: &Value) -> ApiResult<&'s mut Service> {
    let cluster = cluster_name(state, input)?;
    let name = input.req_str("service")?;
    state
        .service_mut(&cluster, name)
        .ok_or_else(service_not_found)
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
    let service_arn = service.arn.clone();
    let current_td = service.task_definition.clone();
    let (min, max, breaker) = deployment_configuration(
        input,
        service.minimum_healthy_percent,
        service.maximum_percent,
        service.circuit_breaker,
    )?;
    let desired = input.opt_i64("desiredCount")?;
    if desired.is_some_and(|d| d < 0) {
        return Err(invalid("desiredCount must be 0 or more."));
    }
    let td = match input.opt_str("taskDefinition")? {
        Some(reference) => active_task_definition(&state, reference)?.clone(),
        None => state
            .task_definition(&current_td)
            .cloned()
            .ok_or_else(|| invalid("TaskDefinition not found."))?,
    };
    let new_lbs = if input.get("loadBalancers").is_some_and(|v| !v.is_null()) {
        Some(load_balancers(&state, input, &td)?)
    } else {
        None
    };
    let grace = input.opt_i64("healthCheckGracePeriodSeconds")?;
    let force = input.opt_bool("forceNewDeployment")?.unwrap_or(false);
    let service = state
        .service_by_arn_mut(&service_arn)
        .ok_or_else(service_not_found)?;
    let lbs_changed = new_lbs
        .as_ref()
        .is_some_and(|l| *l != service.load_balancers);
    let network_changed = input
        .get("networkConfiguration")
        .is_some_and(|n| !n.is_null() && service.echoed.get("networkConfiguration") != Some(n));
    service.minimum_healthy_percent = min;
    service.maximum_percent = max;
    service.circuit_breaker = breaker;
    if let Some(d) = desired {
        service.desired_count = d;
    }
    if let Some(g) = grace {
        service.health_check_grace_period = g;
    }
    if let Some(lbs) = new_lbs {
        service.load_balancers = lbs;
    }
    for key in ECHOED {
        if let Some(v) = input.get(key).filter(|v| !v.is_null())
            && let Value::Object(echoed) = &mut service.echoed
        {
            echoed.insert(key.into(), v.clone());
        }
    }
    // A new deployment only when something tasks are made from changed (or when forced).
    if td.arn != current_td || force || lbs_changed || network_changed {
        let network = service
            .echoed
            .get("networkConfiguration")
            .cloned()
            .unwrap_or(Value::Null);
        let deployment = Deployment::new(&td.arn, service.launch_type.clone(), network);
        for d in &mut service.deployments {
            d.status = DeploymentStatus::Active;
        }
        service.deployments.insert(0, deployment);
        service.task_definition = td.arn.clone();
        service.runtime = Default::default();
    }
    let snapshot = service.clone();
    let rendered = render_service(&state, &snapshot, true);
    state.dirty = true;
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({"service": rendered}))
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
    let snapshot = service.clone();
    let rendered = render_service(&state, &snapshot, true);
    state.dirty = true;
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({"service": rendered}))
}

// ---------------------------------------------------------------------------------------
// Tasks

fn render_task(task: &Task, region: &str, with_tags: bool) -> Value {
    let time = |t: Option<SystemTime>| t.map(json_time);
    let containers: Vec<Value> = task
        .containers
        .iter()
        .map(|c| {
            let mut v = json!({
                "containerArn": c.arn,
                "taskArn": task.arn,
                "name": c.name,
                "image": c.image,
                "lastStatus": c.last_status.wire(),
                "networkInterfaces": [],
                "healthStatus": c.health_status.wire(),
                "cpu": "0",
            });
            if let Some(d) = &c.image_digest {
                v["imageDigest"] = json!(d);
            }
            if let Some(pid) = c.pid {
                v["runtimeId"] = json!(pid.to_string());
            }
            if let Some(code) = c.exit_code {
                v["exitCode"] = json!(code);
            }
            if let Some(reason) = &c.reason {
                v["reason"] = json!(reason);
            }
            let bindings: Vec<Value> = match (c.container_port, c.host_port) {
                (Some(cp), Some(hp)) if c.last_status == ContainerStatus::Running || task.last_status != TaskStatus::Stopped => {
                    vec![json!({"bindIP": "127.0.0.1", "containerPort": cp, "hostPort": hp, "protocol": "tcp"})]
                }
                _ => Vec::new(),
            };
            v["networkBindings"] = json!(bindings);
            v
        })
        .collect();
    let mut v = json!({
        "taskArn": task.arn,
        "clusterArn": task.cluster_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "group": task.group,
        "lastStatus": task.last_status.wire(),
        "desiredStatus": task.desired_status.wire(),
        "createdAt": json_time(task.created_at),
        "healthStatus": task.health_status().wire(),
        "launchType": task.launch_type,
        "version": task.version,
        "connectivity": "CONNECTED",
        "connectivityAt": json_time(task.created_at),
        "availabilityZone": format!("{region}a"),
        "containers": containers,
        "overrides": {
            "containerOverrides": task.containers.iter().map(|c| json!({"name": c.name})).collect::<Vec<_>>(),
            "inferenceAcceleratorOverrides": [],
        },
        "attachments": [],
        "attributes": [{"name": "ecs.cpu-architecture", "value": std::env::consts::ARCH}],
        "enableExecuteCommand": false,
    });
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            v[key] = value;
        }
    };
    put("startedBy", task.started_by.as_ref().map(|s| json!(s)));
    put("pullStartedAt", time(task.pull_started_at));
    put("pullStoppedAt", time(task.pull_stopped_at));
    put("startedAt", time(task.started_at));
    put("stoppingAt", time(task.stopping_at));
    put("stoppedAt", time(task.stopped_at));
    put("executionStoppedAt", time(task.stopped_at));
    put("stopCode", task.stop_code.map(|s| json!(s.wire())));
    put(
        "stoppedReason",
        task.stopped_reason.as_ref().map(|s| json!(s)),
    );
    put("cpu", task.cpu.as_ref().map(|s| json!(s)));
    put("memory", task.memory.as_ref().map(|s| json!(s)));
    if with_tags {
        v["tags"] = task.tags.clone();
    }
    v
}

fn list_tasks(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let state = ctx.shared.lock();
    let cluster = cluster_name(&state, input)?;
    let service_arn = match input.opt_str("serviceName")? {
        Some(name) => Some(
            state
                .services
                .iter()
                .rev()
                .find(|s| s.cluster_name == cluster && s.name == arn_tail(name))
                .map(|s| s.arn.clone())
                .ok_or_else(service_not_found)?,
        ),
        None => None,
    };
    let family = input.opt_str("family")?;
    let started_by = input.opt_str("startedBy")?;
    let launch_type = input.opt_str("launchType")?;
    let desired = TaskFilter::parse(input.opt_str("desiredStatus")?.unwrap_or("RUNNING"))
        .ok_or_else(|| invalid("desiredStatus must be RUNNING, PENDING or STOPPED."))?;
    let mut tasks: Vec<&Task> = state
        .tasks
        .values()
        .filter(|t| t.cluster_name == cluster)
        .filter(|t| service_arn.is_none() || t.service_arn == service_arn)
        .filter(|t| {
            family.is_none_or(|f| {
                t.task_definition_arn
                    .contains(&format!("task-definition/{f}:"))
            })
        })
        .filter(|t| started_by.is_none_or(|s| t.started_by.as_deref() == Some(s)))
        .filter(|t| launch_type.is_none_or(|l| t.launch_type == l))
        .filter(|t| match desired {
            TaskFilter::Stopped => t.desired_status == DesiredStatus::Stopped,
            TaskFilter::Pending => {
                t.desired_status == DesiredStatus::Running && t.last_status < TaskStatus::Running
            }
            TaskFilter::Running => t.desired_status == DesiredStatus::Running,
        })
        .collect();
    tasks.sort_by_key(|t| t.created_at);
    let arns: Vec<String> = tasks.iter().map(|t| t.arn.clone()).collect();
    let (items, next) = page(
        &arns,
        input.opt_i64("maxResults")?,
        input.opt_str("nextToken")?,
        100,
    )?;
    Ok(json!({"taskArns": items, "nextToken": next}))
}

fn describe_tasks(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let references = input.str_list("tasks")?;
    if references.is_empty() || references.len() > 100 {
        return Err(invalid("tasks must name from 1 to 100 tasks."));
    }
    let with_tags = include(input, "TAGS")?;
    let state = ctx.shared.lock();
    let cluster = cluster_name(&state, input)?;
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for reference in references {
        match state.tasks.get(arn_tail(reference)).filter(|t| t.cluster_name == cluster) {
            Some(t) => tasks.push(render_task(t, crate::ids::arn_region(&t.arn).unwrap_or(&ctx.region), with_tags)),
            None => failures.push(json!({
                "arn": if reference.starts_with("arn:") { reference.to_owned() } else { ecs_arn(&ctx.region, &format!("task/{cluster}/{reference}")) },
                "reason": "MISSING",
            })),
        }
    }
    Ok(json!({"tasks": tasks, "failures": failures}))
}

fn stop_task(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let reference = input.req_str("task")?;
    let reason = input
        .opt_str("reason")?
        .unwrap_or("Task stopped by user")
        .to_owned();
    let mut state = ctx.shared.lock();
    let cluster = cluster_name(&state, input)?;
    let task = state
        .tasks
        .get_mut(arn_tail(reference))
        .filter(|t| t.cluster_name == cluster)
        .ok_or_else(|| invalid("The referenced task was not found."))?;
    task.request_stop(StopCode::UserInitiated, reason);
    let rendered = render_task(
        task,
        crate::ids::arn_region(&task.arn).unwrap_or(&ctx.region),
        false,
    );
    drop(state);
    ctx.shared.wake.notify_one();
    Ok(json!({"task": rendered}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_features() {
        let body = json!({
            "networkMode": "awsvpc",
            "executionRoleArn": "arn:aws:iam::000000000000:role/x",
            "containerDefinitions": [{"healthCheck": {}, "logConfiguration": {"logDriver": "awslogs"}}]
        });
        let names: Vec<String> = requires_attributes(&body)
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.contains(&"ecs.capability.task-eni".to_owned()));
        assert!(names.contains(&"ecs.capability.container-health-check".to_owned()));
        assert!(names.contains(&"ecs.capability.execution-role-awslogs".to_owned()));
    }
}
