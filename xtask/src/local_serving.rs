//! A local-ecs that has just started runs its services' tasks again (they stopped with it):
//! for a moment its load balancer has no target and answers 503. A deploy that began then
//! would roll a service that is not serving yet and count those 503s as its own (seen: one
//! 503 in the first second of a deploy right after a restart). So a command that started
//! local-ecs first waits, bounded, until every service serves again.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::Service;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use deploy_sdk::Clients;
use deploy_sdk::targets::service_target_groups;

/// How long to wait at most: tasks start in about a second locally.
const LIMIT: Duration = Duration::from_secs(30);
const PAUSE: Duration = Duration::from_millis(250);

/// Waits until every ACTIVE service with tasks to run runs them all with a healthy target, or
/// [`LIMIT`] passed (then it says so and returns: the command's own checks take over). Best
/// effort: a failed call ends the wait, saying why.
pub async fn wait_for_services(clients: &Clients, say: &dyn Fn(&str)) {
    let begun = Instant::now();
    let mut told = false;
    loop {
        match not_serving(clients).await {
            Ok(waiting) if waiting.is_empty() => return,
            Ok(waiting) if begun.elapsed() >= LIMIT => {
                say(&format!(
                    "local services still not serving after {}s ({}); going on",
                    LIMIT.as_secs(),
                    waiting.join(", ")
                ));
                return;
            }
            Ok(waiting) => {
                if !told {
                    say(&format!(
                        "waiting for the local services to serve again after the restart: {}",
                        waiting.join(", ")
                    ));
                    told = true;
                }
            }
            Err(why) => {
                say(&format!(
                    "could not see whether the local services serve: {why}"
                ));
                return;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// The services that are not serving yet, by name.
async fn not_serving(clients: &Clients) -> Result<Vec<String>, String> {
    let mut waiting = Vec::new();
    for service in services(clients).await? {
        if !serving(clients, &service).await? {
            waiting.push(service.service_name().unwrap_or("unnamed").to_owned());
        }
    }
    Ok(waiting)
}

/// Every ACTIVE service with a desired count above zero, in every cluster (a local stack is
/// small: one page each).
async fn services(clients: &Clients) -> Result<Vec<Service>, String> {
    let ecs = &clients.ecs;
    let clusters = ecs
        .list_clusters()
        .send()
        .await
        .map_err(|e| format!("ListClusters: {e}"))?;
    let mut all = Vec::new();
    for cluster in clusters.cluster_arns() {
        let arns = ecs
            .list_services()
            .cluster(cluster)
            .send()
            .await
            .map_err(|e| format!("ListServices: {e}"))?;
        for chunk in arns.service_arns().chunks(10) {
            let described = ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| format!("DescribeServices: {e}"))?;
            all.extend(
                described
                    .services()
                    .iter()
                    .filter(|s| s.status() == Some("ACTIVE") && s.desired_count() > 0)
                    .cloned(),
            );
        }
    }
    Ok(all)
}

/// All its tasks running, and a healthy target in one of its target groups (a blue/green
/// service's tasks are in one of its two).
async fn serving(clients: &Clients, service: &Service) -> Result<bool, String> {
    if service.running_count() < service.desired_count() {
        return Ok(false);
    }
    let groups = service_target_groups(service);
    if groups.is_empty() {
        return Ok(true);
    }
    for group in groups {
        let health = clients
            .elb
            .describe_target_health()
            .target_group_arn(&group)
            .send()
            .await
            .map_err(|e| format!("DescribeTargetHealth: {e}"))?;
        let healthy = health.target_health_descriptions().iter().any(|d| {
            d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
        });
        if healthy {
            return Ok(true);
        }
    }
    Ok(false)
}
