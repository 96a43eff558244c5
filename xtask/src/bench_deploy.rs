//! `cargo xtask bench deploy`: the time from "edit the greeting" to "the load balancer serves
//! it", on a local stack, stage by stage, next to the floor the settings impose.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use aws_sdk_elasticloadbalancingv2::types::TargetGroup;

use crate::out::{errln, outln};
use crate::util::{cargo, project_root};

const LIB_RS: &str = "hello-service/src/lib.rs";
const GREETING_LINE: &str = "pub const DEFAULT_GREETING: &str = \"";
/// Issue 13: edit the greeting → the new greeting verified, in under 10 s on 2 cores.
const TOTAL_TARGET_SECONDS: f64 = 10.0;

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

/// One `cargo xtask deploy --local`: its JSON report, its wall-clock time (through cargo, as a
/// person types it, so cargo's check that xtask is fresh counts too) and that check's time.
pub(crate) struct Run {
    pub(crate) report: serde_json::Value,
    pub(crate) total: f64,
    cargo_check: Option<f64>,
}

/// `cargo xtask deploy --local` with `extra` arguments, on the stack in `state_dir`.
pub(crate) fn deploy(state_dir: &Path, extra: &[&str]) -> Result<Run> {
    let started = Instant::now();
    let out = cargo()
        .args([
            "xtask",
            "deploy",
            "--local",
            "--output",
            "json",
            "--local-state-dir",
        ])
        .arg(state_dir)
        .args(extra)
        .env("CI", "true")
        .output()
        .context("run cargo xtask deploy")?;
    let took = started.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if !out.status.success() {
        bail!(
            "the deploy failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Ok(Run {
        report,
        total: took,
        cargo_check: stderr.lines().find_map(cargo_finished_seconds),
    })
}

/// `    Finished `dev` profile [...] target(s) in 1.16s` → 1.16.
fn cargo_finished_seconds(line: &str) -> Option<f64> {
    let line = line.trim();
    if !line.starts_with("Finished ") {
        return None;
    }
    line.rsplit_once(" in ")?.1.strip_suffix('s')?.parse().ok()
}

pub(crate) fn stage(report: &serde_json::Value, name: &str) -> f64 {
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
    deploy(&state_dir, &[])?;
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
        rows.push(deploy(&state_dir, &[])?);
    }
    drop(restore);
    let runtime = tokio::runtime::Runtime::new()?;
    let (floor, explain) = runtime.block_on(settings_floor(&state_dir))?;
    let _ = crate::local_ecs::stop(&state_dir);
    print_table(&rows, floor, &explain);
    Ok(())
}

/// One round's figures, in seconds.
struct Round {
    cargo: f64,
    build: f64,
    image: f64,
    push: f64,
    roll: f64,
    verify: f64,
    total: f64,
}

impl Round {
    fn of(run: &Run) -> Round {
        let r = &run.report;
        Round {
            cargo: run.cargo_check.unwrap_or(0.0),
            build: stage(r, "build"),
            image: stage(r, "image"),
            push: stage(r, "push"),
            roll: stage(r, "roll"),
            verify: stage(r, "verify"),
            total: run.total,
        }
    }

    /// The rest: starting xtask, its preflight (DescribeServices, the lock), the summary.
    fn other(&self) -> f64 {
        self.total - self.cargo - self.build - self.image - self.push - self.roll - self.verify
    }
}

fn print_table(rows: &[Run], floor: f64, explain: &str) {
    let profiles: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.report["build_profile"].as_str())
        .collect();
    let profile = profiles.first().copied().unwrap_or("?");
    outln!(
        "\nincremental local deploy after a one-line greeting change ({} rounds, profile {profile})",
        rows.len()
    );
    outln!(
        "{:<6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6} {:>7} {:>7} {:>6} {:>7} {:>10} {:>6}",
        "round",
        "cargo",
        "build",
        "image",
        "push",
        "b+i+p",
        "roll",
        "verify",
        "r+v",
        "other",
        "total",
        "describes",
        "seen"
    );
    let (mut worst_total, mut worst_rv): (f64, f64) = (0.0, 0.0);
    for (i, run) in rows.iter().enumerate() {
        let r = Round::of(run);
        let (bip, rv) = (r.build + r.image + r.push, r.roll + r.verify);
        worst_total = worst_total.max(r.total);
        worst_rv = worst_rv.max(rv);
        let describes = run.report["rollout"]["describe_services_calls"]
            .as_u64()
            .unwrap_or(0);
        let seen = run.report["rollout"]["outcome_seen_after_seconds"]
            .as_f64()
            .map_or("-".into(), |s| format!("{s:.2}s"));
        outln!(
            "{:<6} {:>5.1}s {:>5.1}s {:>5.1}s {:>5.1}s {bip:>6.1}s {:>5.1}s {:>6.1}s {rv:>6.1}s {:>5.1}s {:>6.1}s {describes:>10} {seen:>6}",
            i + 1,
            r.cargo,
            r.build,
            r.image,
            r.push,
            r.roll,
            r.verify,
            r.other(),
            r.total
        );
    }
    let met = |ok: bool| if ok { "(met)" } else { "(MISSED)" };
    outln!(
        "edit → verified (the whole `cargo xtask deploy --local`), worst: {worst_total:.1}s   target < {TOTAL_TARGET_SECONDS}s {}",
        met(worst_total < TOTAL_TARGET_SECONDS)
    );
    outln!(
        "roll + verify, worst: {worst_rv:.1}s   floor {floor:.1}s ({explain}); target <= floor + 2s = {:.1}s {}",
        floor + 2.0,
        met(worst_rv <= floor + 2.0)
    );
    if profiles.iter().any(|p| *p != profile) {
        outln!("note: the rounds were built with different profiles: {profiles:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargos_own_time() {
        let line = "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 1.16s";
        assert_eq!(cargo_finished_seconds(line), Some(1.16));
        assert_eq!(
            cargo_finished_seconds("     Running `target/debug/xtask`"),
            None
        );
        assert_eq!(
            cargo_finished_seconds("    Finished `dev` profile target(s) in 1m 02s"),
            None
        );
    }

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
