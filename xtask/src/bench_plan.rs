//! `cargo xtask bench plan`: the roll budget's prediction against local rollouts. For each
//! combination of deregistration delay, desired count and minimum/maximum percent, set
//! through the AWS API on a local stack, the service is let settle, then `cargo xtask deploy
//! --local` rolls it (the same image, a new environment variable: a new revision, no build)
//! and its JSON report gives the predicted and the actual roll.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_ecs::types::DeploymentConfiguration;
use aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute;
use deploy_sdk::Clients;
use deploy_sdk::service::{ServiceRef, describe_service};
use deploy_sdk::targets::service_target_groups;

use crate::out::{errln, outln};
use crate::util::{cargo, project_root};

/// Issue 13: the prediction within 20 % of the actual roll.
const TOLERANCE: f64 = 0.20;

/// One combination of settings.
#[derive(Debug, Clone, Copy)]
struct Case {
    delay: u32,
    desired: i32,
    min: i32,
    max: i32,
}

/// deregistration delay 1 s and 5 s × desired 2 and 4 × 100/200 and 50/100.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for delay in [1, 5] {
        for desired in [2, 4] {
            for (min, max) in [(100, 200), (50, 100)] {
                out.push(Case {
                    delay,
                    desired,
                    min,
                    max,
                });
            }
        }
    }
    out
}

/// What one rollout gave.
struct Measured {
    case: Case,
    predicted: f64,
    actual: f64,
    waves: u64,
}

impl Measured {
    /// (predicted − actual) / actual: positive when the prediction was too long.
    fn error(&self) -> f64 {
        (self.predicted - self.actual) / self.actual
    }
}

pub fn run(rounds: usize) -> Result<()> {
    let state_dir = project_root().join("target").join("bench-plan");
    errln!("warming the local stack in {} …", state_dir.display());
    let warm = deploy(&state_dir, &[])?;
    let image = warm["image"]["uri"]
        .as_str()
        .context("the warm-up deploy's report names no image")?
        .to_owned();
    let runtime = tokio::runtime::Runtime::new()?;
    let clients = runtime.block_on(clients(&state_dir))?;
    let target = crate::config::TargetArgs::default()
        .resolve()?
        .service_ref();
    let mut rows = Vec::new();
    for round in 0..rounds {
        for (i, case) in cases().into_iter().enumerate() {
            runtime.block_on(apply(&clients, &target, case))?;
            let marker = format!("BENCH_PLAN={round}-{i}-{}", std::process::id());
            let report = deploy(&state_dir, &["--image", &image, "--env", &marker])?;
            let budget = &report["budget"];
            rows.push(Measured {
                case,
                predicted: budget["predicted_seconds"]
                    .as_f64()
                    .with_context(|| format!("no prediction in the report: {budget}"))?,
                actual: budget["actual_seconds"]
                    .as_f64()
                    .with_context(|| format!("no actual roll time in the report: {budget}"))?,
                waves: budget["waves"].as_u64().unwrap_or(0),
            });
            errln!("  phases (predicted/actual s): {}", phases(budget));
            errln!("{}", row(rows.last().expect("just pushed")));
        }
    }
    let _ = crate::local_ecs::stop(&state_dir);
    print_table(&rows);
    Ok(())
}

/// `cargo xtask deploy --local --no-verify --output json` with `extra`; its report.
fn deploy(state_dir: &Path, extra: &[&str]) -> Result<serde_json::Value> {
    let out = cargo()
        .args([
            "xtask",
            "deploy",
            "--local",
            "--no-verify",
            "--output",
            "json",
        ])
        .args(extra)
        .arg("--local-state-dir")
        .arg(state_dir)
        .env("CI", "true")
        .output()
        .context("run cargo xtask deploy")?;
    if !out.status.success() {
        bail!(
            "the deploy failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("read the deploy's JSON report")
}

async fn clients(state_dir: &Path) -> Result<Clients> {
    let local = crate::local_ecs::running(state_dir).context("local-ecs is not running")?;
    let settings = crate::config::TargetArgs::default().resolve()?;
    crate::connect::local_clients(state_dir, &local, &settings).await
}

/// Sets the case's deregistration delay, desired count and percentages, and waits until the
/// service has settled on them.
async fn apply(clients: &Clients, target: &ServiceRef, case: Case) -> Result<()> {
    let service = describe_service(&clients.ecs, target).await?;
    for arn in service_target_groups(&service) {
        clients
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(case.delay.to_string())
                    .build(),
            )
            .send()
            .await
            .context("elasticloadbalancing:ModifyTargetGroupAttributes")?;
    }
    clients
        .ecs
        .update_service()
        .cluster(&target.cluster)
        .service(&target.service)
        .desired_count(case.desired)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(case.min)
                .maximum_percent(case.max)
                .build(),
        )
        .send()
        .await
        .context("ecs:UpdateService")?;
    settle(clients, target, case.desired).await
}

/// Waits (at most a minute) for one deployment running `desired` tasks, every target healthy
/// and none draining.
async fn settle(clients: &Clients, target: &ServiceRef, desired: i32) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let service = describe_service(&clients.ecs, target).await?;
        let steady = service.deployments().len() == 1
            && service.running_count() == desired
            && service.pending_count() == 0;
        if steady && targets_settled(clients, &service, desired).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("the service did not settle on {desired} tasks within 60 s")
}

async fn targets_settled(
    clients: &Clients,
    service: &aws_sdk_ecs::types::Service,
    desired: i32,
) -> Result<bool> {
    for arn in service_target_groups(service) {
        let health = clients
            .elb
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .context("elasticloadbalancing:DescribeTargetHealth")?;
        let descriptions = health.target_health_descriptions();
        let healthy = descriptions
            .iter()
            .filter(|d| {
                d.target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str())
                    == Some("healthy")
            })
            .count();
        if descriptions.len() != healthy || healthy != usize::try_from(desired).unwrap_or(0) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// "new tasks running 0.5/1.2, …" from the report's budget.
fn phases(budget: &serde_json::Value) -> String {
    let Some(phases) = budget["phases"].as_array() else {
        return "-".into();
    };
    let shown: Vec<String> = phases
        .iter()
        .map(|p| {
            let actual = p["actual_seconds"]
                .as_f64()
                .map_or("-".into(), |a| format!("{a:.1}"));
            format!(
                "{} {:.1}/{actual}",
                p["name"].as_str().unwrap_or("?"),
                p["predicted_seconds"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    shown.join(", ")
}

fn row(m: &Measured) -> String {
    let c = m.case;
    let within = m.error().abs() <= TOLERANCE;
    format!(
        "{:>5} s {:>7} {:>3}/{:<3} {:>5} {:>9.1} s {:>7.1} s {:>+6.0} % {}",
        c.delay,
        c.desired,
        c.min,
        c.max,
        m.waves,
        m.predicted,
        m.actual,
        m.error() * 100.0,
        if within { "yes" } else { "NO" }
    )
}

fn print_table(rows: &[Measured]) {
    outln!(
        "\nroll time predicted (cargo xtask plan's model) against local rollouts; within {:.0} %?",
        TOLERANCE * 100.0
    );
    outln!(
        "{:>7} {:>7} {:>7} {:>5} {:>11} {:>9} {:>8} within",
        "delay",
        "desired",
        "min/max",
        "waves",
        "predicted",
        "actual",
        "error"
    );
    for m in rows {
        outln!("{}", row(m));
    }
    let within = rows.iter().filter(|m| m.error().abs() <= TOLERANCE).count();
    outln!(
        "{within} of {} within {:.0} %",
        rows.len(),
        TOLERANCE * 100.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_combinations_and_the_error_is_relative_to_the_actual_roll() {
        let all = cases();
        assert_eq!(all.len(), 8);
        assert!(
            all.iter()
                .any(|c| c.delay == 5 && c.desired == 4 && c.min == 50 && c.max == 100)
        );
        let m = Measured {
            case: all[0],
            predicted: 12.0,
            actual: 10.0,
            waves: 1,
        };
        assert!((m.error() - 0.2).abs() < 1e-12);
        assert!(row(&m).ends_with("yes"), "{}", row(&m));
        let off = Measured {
            predicted: 7.9,
            ..m
        };
        assert!(row(&off).ends_with("NO"));
    }
}
