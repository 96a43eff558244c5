//! `cargo xtask bench deploy --strategy S`: how long each lifecycle stage of a local
//! blue/green, linear or canary deploy takes (and a rolling one's roll), with settings short
//! enough for seconds (a local-ecs minute lasts a second under `--local`).

use anyhow::{Result, bail};

use crate::bench_deploy::{Run, deploy, stage};
use crate::deploy::StrategyName;
use crate::out::{errln, outln};
use crate::util::project_root;

/// The deploy flags for `strategy`: bake 1 min, linear 50 % steps 1 min apart, canary 25 %
/// for 1 min (seconds here).
fn strategy_args(strategy: StrategyName) -> &'static [&'static str] {
    match strategy {
        StrategyName::Rolling => &["--strategy", "rolling"],
        StrategyName::BlueGreen => &["--strategy", "blue-green", "--bake-minutes", "1"],
        StrategyName::Linear => &[
            "--strategy",
            "linear",
            "--step-percent",
            "50",
            "--step-bake-minutes",
            "1",
            "--bake-minutes",
            "1",
        ],
        StrategyName::Canary => &[
            "--strategy",
            "canary",
            "--canary-percent",
            "25",
            "--canary-bake-minutes",
            "1",
            "--bake-minutes",
            "1",
        ],
    }
}

pub fn run(strategy: StrategyName, rounds: usize) -> Result<()> {
    let state_dir = project_root().join("target").join("bench-deploy");
    errln!("warming the local stack in {} …", state_dir.display());
    deploy(&state_dir, &[])?;
    let mut runs = Vec::new();
    for round in 1..=rounds {
        // A new greeting is a new revision without a rebuild: only the roll is measured.
        let greeting = format!("GREETING=bench {strategy:?} round {round}");
        let mut args = strategy_args(strategy).to_vec();
        args.extend(["--env", &greeting]);
        let run = deploy(&state_dir, &args);
        if run.is_err() {
            let _ = crate::local_ecs::stop(&state_dir);
        }
        runs.push(run?);
    }
    let _ = crate::local_ecs::stop(&state_dir);
    if strategy != StrategyName::Rolling && runs.iter().any(|r| stages(r).is_empty()) {
        bail!("a {strategy:?} deploy reported no lifecycle stages");
    }
    print_table(strategy, &runs);
    Ok(())
}

/// The report's lifecycle stages: (name, seconds).
fn stages(run: &Run) -> Vec<(String, f64)> {
    run.report["lifecycle_stages"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|s| {
                    let name = s["name"].as_str()?.to_owned();
                    let start = s["started_at_seconds"].as_f64()?;
                    let end = s["ended_at_seconds"].as_f64()?;
                    Some((name, end - start))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn print_table(strategy: StrategyName, runs: &[Run]) {
    let strategy_line = runs
        .first()
        .and_then(|r| r.report["strategy"].as_str())
        .unwrap_or("?");
    outln!(
        "\nlocal deploy with --strategy {:?} ({strategy_line}), {} round(s), seconds as the \
         watch saw each stage begin",
        strategy,
        runs.len()
    );
    // Every stage any round saw, in ECS's order (unknown names last).
    let mut names: Vec<String> = Vec::new();
    for run in runs {
        for (name, _) in stages(run) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let order = |name: &String| {
        deploy_sdk::rollout::LIFECYCLE_STAGES
            .iter()
            .position(|s| s == name)
            .unwrap_or(usize::MAX)
    };
    names.sort_by_key(order);
    let mut header = format!("{:<30}", "stage");
    for round in 1..=runs.len() {
        header.push_str(&format!(" {:>8}", format!("round {round}")));
    }
    outln!("{header}");
    let row = |label: &str, value: &dyn Fn(&Run) -> String| {
        let mut line = format!("{label:<30}");
        for run in runs {
            line.push_str(&format!(" {:>8}", value(run)));
        }
        outln!("{line}");
    };
    for name in &names {
        row(name, &|run| {
            stages(run)
                .iter()
                .find(|(n, _)| n == name)
                .map_or("-".into(), |(_, s)| format!("{s:.1}s"))
        });
    }
    row("roll (all stages)", &|run| {
        format!("{:.1}s", stage(&run.report, "roll"))
    });
    row("verify", &|run| {
        format!("{:.1}s", stage(&run.report, "verify"))
    });
    row("total (the whole command)", &|run| {
        format!("{:.1}s", run.total)
    });
    row("test-traffic gate", &|run| {
        run.report["test_traffic_gate"]["result"]
            .as_str()
            .unwrap_or("-")
            .to_owned()
    });
    row("production requests (failed)", &|run| {
        let t = &run.report["traffic"];
        match (t["requests"].as_u64(), t["failed"].as_u64()) {
            (Some(requests), Some(failed)) => format!("{requests} ({failed})"),
            _ => "-".into(),
        }
    });
}
