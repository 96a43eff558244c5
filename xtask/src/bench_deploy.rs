//! `cargo xtask bench deploy`: the time from "edit the greeting" to "the load balancer serves
//! it", on a local stack, stage by stage, next to the floor the settings impose.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use aws_sdk_elasticloadbalancingv2::types::TargetGroup;

use crate::out::{errln, outln};
use crate::util::project_root;

const LIB_RS: &str = "hello-service/src/lib.rs";
const GREETING_LINE: &str = "pub const DEFAULT_GREETING: &str = \"";

/// Puts hello-service's source back as it was, however the bench ends.
struct Restore {
    path: PathBuf,
    original: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, &self.original);
    }
}

/// A copy of lib.rs with the greeting constant changed (one line, as a user would).
fn with_greeting(source: &str, greeting: &str) -> Result<String> {
    let start = source
        .find(GREETING_LINE)
        .context("DEFAULT_GREETING not found in hello-service/src/lib.rs")?;
    let value_start = start + GREETING_LINE.len();
    let value_end = value_start
        + source[value_start..]
            .find('"')
            .context("unterminated DEFAULT_GREETING")?;
    Ok(format!(
        "{}{greeting}{}",
        &source[..value_start],
        &source[value_end..]
    ))
}

fn deploy(state_dir: &Path) -> Result<serde_json::Value> {
    let exe = std::env::current_exe().context("find the xtask binary")?;
    let out = Command::new(exe)
        .args(["deploy", "--local", "--output", "json", "--local-state-dir"])
        .arg(state_dir)
        .env("CI", "true")
        .output()
        .context("run cargo xtask deploy")?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if !out.status.success() {
        bail!(
            "the deploy failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(report)
}

fn stage(report: &serde_json::Value, name: &str) -> f64 {
    report["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["name"] == name))
        .and_then(|s| s["seconds"].as_f64())
        .unwrap_or(0.0)
}

/// The shortest roll + verify the settings allow: new targets need `healthy threshold ×
/// interval` to pass, old ones drain for the deregistration delay, and verification needs
/// its consecutive answers at 100 ms apart.
fn floor(group: &TargetGroup, deregistration_delay: f64) -> f64 {
    let interval = f64::from(group.health_check_interval_seconds().unwrap_or(30));
    let threshold = f64::from(group.healthy_threshold_count().unwrap_or(5));
    interval * threshold + deregistration_delay + 0.9
}

async fn settings_floor(state_dir: &Path) -> Result<(f64, String)> {
    let local = crate::local_ecs::running(state_dir).context("local-ecs is not running")?;
    let settings = crate::config::TargetArgs::default().resolve()?;
    let clients = crate::connect::local_clients(state_dir, &local, &settings).await?;
    let service =
        deploy_sdk::service::describe_service(&clients.ecs, &settings.service_ref()).await?;
    let tg_arn = deploy_sdk::targets::service_target_groups(&service)
        .into_iter()
        .next()
        .context("the service has no target group")?;
    let groups = clients
        .elb
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await?;
    let group = groups
        .target_groups()
        .first()
        .context("target group not found")?
        .clone();
    let attributes = clients
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&tg_arn)
        .send()
        .await?;
    let delay = attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(300.0);
    let explain = format!(
        "health check every {}s × {} passes + {delay}s deregistration delay + 0.9s for 10 answers",
        group.health_check_interval_seconds().unwrap_or(30),
        group.healthy_threshold_count().unwrap_or(5)
    );
    Ok((floor(&group, delay), explain))
}

pub fn run(rounds: usize) -> Result<()> {
    let state_dir = project_root().join("target").join("bench-deploy");
    errln!("warming the local stack in {} …", state_dir.display());
    deploy(&state_dir)?;
    let path = project_root().join(LIB_RS);
    let original =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let restore = Restore {
        path: path.clone(),
        original: original.clone(),
    };
    let mut rows = Vec::new();
    for round in 1..=rounds {
        let greeting = format!("Hello from bench round {round} at {}", std::process::id());
        std::fs::write(&path, with_greeting(&original, &greeting)?)?;
        let report = deploy(&state_dir)?;
        rows.push(report);
    }
    drop(restore);
    let runtime = tokio::runtime::Runtime::new()?;
    let (floor, explain) = runtime.block_on(settings_floor(&state_dir))?;
    let _ = crate::local_ecs::stop(&state_dir);

    outln!("\nincremental local deploy after a one-line greeting change ({rounds} rounds)");
    outln!(
        "{:<7} {:>7} {:>7} {:>7} {:>9} {:>7} {:>8} {:>9} {:>11} {:>13}",
        "round",
        "build",
        "image",
        "push",
        "b+i+p",
        "roll",
        "verify",
        "r+v",
        "describes",
        "outcome seen"
    );
    let mut worst_bip: f64 = 0.0;
    let mut worst_rv: f64 = 0.0;
    for (i, r) in rows.iter().enumerate() {
        let (b, im, p, ro, v) = (
            stage(r, "build"),
            stage(r, "image"),
            stage(r, "push"),
            stage(r, "roll"),
            stage(r, "verify"),
        );
        worst_bip = worst_bip.max(b + im + p);
        worst_rv = worst_rv.max(ro + v);
        let describes = r["rollout"]["describe_services_calls"]
            .as_u64()
            .unwrap_or(0);
        let seen = r["rollout"]["outcome_seen_after_seconds"]
            .as_f64()
            .map_or("-".into(), |s| format!("{s:.2}s"));
        outln!(
            "{:<7} {b:>6.1}s {im:>6.1}s {p:>6.1}s {:>8.1}s {ro:>6.1}s {v:>7.1}s {:>8.1}s {describes:>11} {seen:>13}",
            i + 1,
            b + im + p,
            ro + v
        );
    }
    let met = |ok: bool| if ok { "(met)" } else { "(MISSED)" };
    outln!(
        "build + image + push, worst: {worst_bip:.1}s   target <= 20s {}",
        met(worst_bip <= 20.0)
    );
    outln!(
        "roll + verify, worst: {worst_rv:.1}s   floor {floor:.1}s ({explain}); target <= floor + 2s = {:.1}s {}",
        floor + 2.0,
        met(worst_rv <= floor + 2.0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_only_the_greeting_line() {
        let source = "//! doc\npub const DEFAULT_GREETING: &str = \"Hello AWS ECS!\";\npub const X: u8 = 1;\n";
        let changed = with_greeting(source, "Hi").unwrap();
        assert_eq!(
            changed,
            "//! doc\npub const DEFAULT_GREETING: &str = \"Hi\";\npub const X: u8 = 1;\n"
        );
        let real = std::fs::read_to_string(project_root().join(LIB_RS)).unwrap();
        assert!(
            with_greeting(&real, "x").is_ok(),
            "the bench can find the greeting in hello-service"
        );
    }
}
