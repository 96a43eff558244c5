//! `cargo xtask status`: the service's deployments, target health, newest events and URL.

use anyhow::Result;
use clap::Args;
use deploy_sdk::Clients;
use deploy_sdk::service::{DeploymentSnapshot, describe_service, short_task_definition};
use deploy_sdk::targets::{TargetHealthTracker, service_target_groups};

use crate::config::{Settings, TargetArgs};
use crate::connect::connect;
use crate::out::outln;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: TargetArgs,
}

/// `cargo xtask status`.
pub fn run(args: StatusArgs) -> Result<()> {
    let settings = args.target.resolve()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let clients = connect(&settings, &|_| {}).await?;
        print_status(&clients, &settings).await
    })
}

/// The service's deployments, newest events, target health and URL.
pub async fn print_status(clients: &Clients, settings: &Settings) -> Result<()> {
    let target = settings.service_ref();
    let service = match describe_service(&clients.ecs, &target).await {
        Ok(service) => service,
        Err(
            deploy_sdk::Error::ServiceNotFound { .. } | deploy_sdk::Error::ClusterNotFound { .. },
        ) if settings.local.is_some() => {
            outln!("service {target}: not created yet (run `cargo xtask deploy --local`)");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    outln!(
        "service {target}: {} running / {} desired, task definition {}",
        service.running_count(),
        service.desired_count(),
        short_task_definition(service.task_definition().unwrap_or("?"))
    );
    let table = DeploymentSnapshot::table(&service);
    for d in &table {
        outln!("  {d}");
    }
    if let Some(arn) = service.current_service_deployment() {
        outln!("  current service deployment: {arn}");
    }
    let groups = service_target_groups(&service);
    if !groups.is_empty() {
        let health = TargetHealthTracker::new()
            .poll(clients, &target, &groups, &table)
            .await?;
        for group in &health {
            for (deployment, counts) in &group.by_deployment {
                outln!(
                    "  targets of {}: {counts}",
                    deployment.as_deref().unwrap_or("unmatched tasks")
                );
            }
            for reason in &group.unhealthy_reasons {
                outln!("  unhealthy: {reason}");
            }
        }
    }
    outln!("last events:");
    for event in service.events().iter().take(5) {
        outln!("  {}", event.message().unwrap_or_default());
    }
    match deploy_sdk::verify::discover_url(clients, &target).await {
        Ok(url) => outln!("url: {url}"),
        Err(err) => outln!("url: unknown ({err})"),
    }
    Ok(())
}
