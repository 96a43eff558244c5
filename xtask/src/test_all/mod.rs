//! `cargo xtask test`: every test of the workspace, as `cargo test --workspace` runs them, but
//! test binaries side by side. The end-to-end binaries spend most of their time waiting on
//! local rollouts (health checks, draining, bakes), so on two cores running a few at once
//! roughly halves the wall time; hello-service's local image, which their first deploys need,
//! is built while the other binaries run.

mod binaries;
mod libtest;
mod pool;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::binary;
use crate::progress::Progress;
use crate::util::{cargo, display, target_dir};
use binaries::TestBinary;
use libtest::Counts;
use pool::{Event, Finished, Job, Status};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// How many test binaries run at once. They mostly wait on local rollouts, so more than
    /// the number of cores pays; 1 runs them one after another as `cargo test` does.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    jobs: u16,
    /// Run only the binaries whose label contains this text (repeatable), e.g.
    /// `--only tests/deploy_local` or `--only local-ecs`. Labels: `<crate dir>/<test file>`,
    /// `<crate dir> unit`, `<crate dir> bin <name>`, `doc tests`.
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,
    /// Arguments for every test binary, as after `cargo test --`: a name filter,
    /// `--nocapture`, `--test-threads N`, …
    #[arg(last = true, value_name = "TEST_ARGS")]
    test_args: Vec<String>,
}

pub fn run(args: TestArgs) -> Result<()> {
    let progress = Progress::new(false);
    progress.stage("build", "cargo test --workspace --no-run");
    let built = build_test_binaries()?;
    let wanted = |label: &str| args.only.is_empty() || args.only.iter().any(|o| label.contains(o));
    let jobs = plan_jobs(&built, &args.test_args, &wanted, &previous_durations())?;
    if jobs.is_empty() {
        bail!("no test binary matches --only {:?}", args.only);
    }
    let log_dir = target_dir().join("xtask-test");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    progress.stage(
        "test",
        &format!("{} jobs, {} at a time", jobs.len(), args.jobs),
    );
    let on_event = |event: Event<'_>| match event {
        Event::Started(label) => progress.line(format!("start  {label}")),
        Event::Finished(f) => report_finished(&progress, f),
    };
    let finished = pool::run(jobs, usize::from(args.jobs), &log_dir, &on_event);
    save_durations(&finished);
    summarize(&progress, &finished)
}

/// `cargo test --workspace --no-run`, its diagnostics on stderr as usual; the binaries it built.
fn build_test_binaries() -> Result<Vec<TestBinary>> {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--workspace",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .stdin(Stdio::null())
    .stderr(Stdio::inherit());
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{}`", display(&cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): see its errors above",
            display(&cmd),
            out.status
        );
    }
    let built = binaries::from_cargo_messages(&String::from_utf8_lossy(&out.stdout));
    if built.is_empty() {
        bail!("`{}` reported no test binary", display(&cmd));
    }
    Ok(built)
}

/// The jobs, longest first by the last run's durations (so the long binaries do not start
/// last), the image build ahead of everything.
fn plan_jobs(
    built: &[TestBinary],
    test_args: &[String],
    wanted: &dyn Fn(&str) -> bool,
    durations: &BTreeMap<String, f64>,
) -> Result<Vec<Job>> {
    let mut jobs: Vec<Job> = built
        .iter()
        .filter(|b| wanted(&b.label))
        .map(|b| {
            let mut command = Command::new(&b.executable);
            command.current_dir(&b.package_dir).args(test_args);
            Job {
                label: b.label.clone(),
                command,
                needs_image: b.deploys,
                builds_image: false,
            }
        })
        .collect();
    if wanted(DOC_TESTS) {
        let mut command = cargo();
        command
            .args(["test", "--workspace", "--doc", "--"])
            .args(test_args);
        jobs.push(Job {
            label: DOC_TESTS.into(),
            command,
            needs_image: false,
            builds_image: false,
        });
    }
    let expected = |job: &Job| -> f64 {
        durations
            .get(&job.label)
            .copied()
            .unwrap_or(if job.needs_image {
                UNKNOWN_DEPLOYING
            } else {
                UNKNOWN_OTHER
            })
    };
    jobs.sort_by(|a, b| expected(b).total_cmp(&expected(a)));
    if jobs.iter().any(|j| j.needs_image) {
        let (command, _) = binary::build_command(binary::LOCAL_PROFILE, &binary::build_id())?;
        jobs.insert(
            0,
            Job {
                label: IMAGE_BUILD.into(),
                command,
                needs_image: false,
                builds_image: true,
            },
        );
    }
    Ok(jobs)
}

const DOC_TESTS: &str = "doc tests";
const IMAGE_BUILD: &str = "build hello-service (local-deploy)";
/// Seconds assumed for a binary with no recorded run: end-to-end ones are the long ones.
const UNKNOWN_DEPLOYING: f64 = 600.0;
const UNKNOWN_OTHER: f64 = 60.0;

fn report_finished(progress: &Progress, f: &Finished) {
    let counts = f.counts.map(describe).unwrap_or_default();
    match &f.status {
        Status::Passed => progress.line(format!(
            "ok     {} in {:.1}s {counts}",
            f.label,
            f.took.as_secs_f64()
        )),
        Status::Failed(why) => {
            let log = std::fs::read_to_string(&f.log).unwrap_or_default();
            progress.line(format!(
                "FAILED {} in {:.1}s ({why}) {counts}; its output ({}):\n{log}",
                f.label,
                f.took.as_secs_f64(),
                f.log.display()
            ));
        }
        Status::NotRun(why) => progress.line(format!("NOT RUN {}: {why}", f.label)),
    }
}

fn describe(c: Counts) -> String {
    format!(
        "({} passed, {} failed, {} ignored)",
        c.passed, c.failed, c.ignored
    )
}

/// The table of every job by time, the totals, and an error naming each failed job.
fn summarize(progress: &Progress, finished: &[Finished]) -> Result<()> {
    let mut by_time: Vec<&Finished> = finished.iter().collect();
    by_time.sort_by_key(|f| std::cmp::Reverse(f.took));
    let mut total = Counts::default();
    progress.line("time per job:");
    for f in &by_time {
        let mark = if f.status == Status::Passed {
            "ok"
        } else {
            "FAILED"
        };
        progress.line(format!(
            "  {:>7.1}s  {mark:<6} {}",
            f.took.as_secs_f64(),
            f.label
        ));
        total.add(f.counts.unwrap_or_default());
    }
    let work: f64 = finished.iter().map(|f| f.took.as_secs_f64()).sum();
    progress.line(format!(
        "{} tests passed, {} failed, {} ignored; {work:.0}s of work in {:.0}s",
        total.passed,
        total.failed,
        total.ignored,
        progress.elapsed().as_secs_f64()
    ));
    let failed: Vec<&str> = finished
        .iter()
        .filter(|f| f.status != Status::Passed)
        .map(|f| f.label.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} jobs failed: {} (each one's output is above and in target/xtask-test/)",
            failed.len(),
            finished.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn durations_file() -> std::path::PathBuf {
    target_dir().join("xtask-test").join("durations.json")
}

/// The seconds each job took in earlier runs (empty on a first run).
fn previous_durations() -> BTreeMap<String, f64> {
    read_durations(&durations_file())
}

fn read_durations(path: &Path) -> BTreeMap<String, f64> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Keeps this run's durations of the jobs that passed (a filtered run keeps the others').
fn save_durations(finished: &[Finished]) {
    let path = durations_file();
    let mut all = read_durations(&path);
    for f in finished.iter().filter(|f| f.status == Status::Passed) {
        all.insert(f.label.clone(), f.took.as_secs_f64());
    }
    if let Ok(json) = serde_json::to_vec_pretty(&all) {
        // Only an ordering hint: a run that cannot write it loses nothing else.
        let _ = std::fs::write(&path, json);
    }
}
