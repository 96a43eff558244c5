//! ECS (awsJson1_1, `AmazonEC2ContainerServiceV20141113`): clusters, task definitions and
//! tasks here; services in `services`, service deployments in `service_deployments`. The
//! scheduler (`scheduler`) and the runner (`runner`) make what these calls describe actually
//! happen.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::ecs_common::{cluster_name, cluster_not_found, include, invalid, service_not_found};
use super::wire::{TaskFilter, Wire};
use super::{Ctx, page, valid_name};
use crate::clock::json_time;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ACCOUNT_ID, arn_tail, ecs_arn};
use crate::protocol::json::Input;
use crate::state::{
    Cluster, ContainerStatus, DesiredStatus, ServiceStatus, State, StopCode, Task, TaskDefinition,
    TaskDefinitionStatus, TaskStatus,
};

/// Serves one ECS operation.
pub fn handle(ctx: &Ctx, op: &str, input: &Value) -> ApiResult<Value> {
    if let Some(result) = super::services::handle(ctx, op, input)
        .or_else(|| super::service_deployments::handle(ctx, op, input))
    {
        return result;
    }
    match op {
        "CreateCluster" => create_cluster(ctx, input),
        "DescribeClusters" => describe_clusters(ctx, input),
        "ListClusters" => list_clusters(ctx, input),
        "RegisterTaskDefinition" => register_task_definition(ctx, input),
        "DescribeTaskDefinition" => describe_task_definition(ctx, input),
        "ListTaskDefinitions" => list_task_definitions(ctx, input),
        "DeregisterTaskDefinition" => deregister_task_definition(ctx, input),
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
                 ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions, \
                 StopServiceDeployment, ContinueServiceDeployment, ListTasks, DescribeTasks and StopTask"
            ),
        )),
    }
}

fn client(message: impl Into<String>) -> ApiError {
    ApiError::new("ClientException", message)
}

fn tags_or_empty(input: &Value, key: &str) -> ApiResult<Value> {
    Ok(Value::Array(input.list(key)?.to_vec()))
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
