//! Test binaries side by side: a few workers take the first job that can start (the
//! end-to-end binaries wait until hello-service's local image is built), each job's output to
//! its own log file (a pipe could be held open by a process the job leaves behind).

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::libtest::{self, Counts};

/// One thing to run.
pub struct Job {
    pub label: String,
    pub command: Command,
    /// Starts only after the image build succeeded.
    pub needs_image: bool,
    /// This job is the image build.
    pub builds_image: bool,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Passed,
    Failed(String),
    NotRun(String),
}

/// A job that ended.
#[derive(Debug)]
pub struct Finished {
    pub label: String,
    pub status: Status,
    pub took: Duration,
    pub counts: Option<Counts>,
    pub log: PathBuf,
}

/// What the pool tells its caller as it goes.
pub enum Event<'a> {
    Started(&'a str),
    Finished(&'a Finished),
}

struct Shared {
    queue: VecDeque<Job>,
    /// None while the image is being built; Some(ok) after (Some(true) when nothing builds it).
    image_built: Option<bool>,
    finished: Vec<Finished>,
}

/// Runs `jobs` with `workers` at a time, in queue order as far as they can start; returns
/// every job's end, in the order they ended.
pub fn run(
    jobs: Vec<Job>,
    workers: usize,
    log_dir: &Path,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Vec<Finished> {
    let image_built = (!jobs.iter().any(|j| j.builds_image)).then_some(true);
    let shared = Mutex::new(Shared {
        queue: jobs.into(),
        image_built,
        finished: Vec::new(),
    });
    let changed = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| work(&shared, &changed, log_dir, on_event));
        }
    });
    shared
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .finished
}

fn work(
    shared: &Mutex<Shared>,
    changed: &Condvar,
    log_dir: &Path,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) {
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let (job, image_built) = {
            let mut state = lock();
            loop {
                let ready = state
                    .queue
                    .iter()
                    .position(|j| !j.needs_image || state.image_built.is_some());
                if let Some(job) = ready.and_then(|i| state.queue.remove(i)) {
                    break (job, state.image_built);
                }
                if state.queue.is_empty() {
                    return;
                }
                state = changed.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let finished = if job.needs_image && image_built == Some(false) {
            Finished {
                log: log_path(log_dir, &job.label),
                label: job.label,
                status: Status::NotRun("hello-service's local image did not build".into()),
                took: Duration::ZERO,
                counts: None,
            }
        } else {
            on_event(Event::Started(&job.label));
            run_one(job.label, job.command, log_dir)
        };
        on_event(Event::Finished(&finished));
        let mut state = lock();
        if job.builds_image {
            state.image_built = Some(finished.status == Status::Passed);
        }
        state.finished.push(finished);
        changed.notify_all();
    }
}

fn run_one(label: String, mut command: Command, log_dir: &Path) -> Finished {
    let log = log_path(log_dir, &label);
    let started = Instant::now();
    let status = File::create(&log)
        .and_then(|file| Ok((file.try_clone()?, file)))
        .and_then(|(out, err)| {
            command
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .status()
        });
    let took = started.elapsed();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let status = match status {
        Ok(s) if s.success() => Status::Passed,
        Ok(s) => Status::Failed(s.to_string()),
        Err(e) => Status::Failed(format!("could not start it: {e}")),
    };
    Finished {
        label,
        status,
        took,
        counts: libtest::counts(&output),
        log,
    }
}

/// `target/xtask-test/<label>.log`, the label made a file name.
fn log_path(log_dir: &Path, label: &str) -> PathBuf {
    let name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    log_dir.join(format!("{name}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(label: &str, script: &str, needs_image: bool, builds_image: bool) -> Job {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        Job {
            label: label.into(),
            command,
            needs_image,
            builds_image,
        }
    }

    fn ended(finished: &[Finished], label: &str) -> Status {
        finished
            .iter()
            .find(|f| f.label == label)
            .map(|f| f.status.clone())
            .unwrap_or_else(|| panic!("{label} did not end"))
    }

    #[test]
    fn jobs_that_deploy_start_after_the_image_build_and_failures_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("image");
        let jobs = vec![
            sh("e2e", &format!("test -e {}", marker.display()), true, false),
            sh(
                "image",
                &format!("sleep 0.2; touch {}", marker.display()),
                false,
                true,
            ),
            sh(
                "unit",
                "echo 'test result: ok. 2 passed; 0 failed; 0 ignored'",
                false,
                false,
            ),
            sh("broken", "echo oops; exit 3", false, false),
        ];
        let finished = run(jobs, 2, dir.path(), &|_| {});
        assert_eq!(finished.len(), 4);
        // Had "e2e" started before the image build ended, the marker would be missing.
        assert_eq!(ended(&finished, "e2e"), Status::Passed);
        assert_eq!(ended(&finished, "unit"), Status::Passed);
        assert!(matches!(ended(&finished, "broken"), Status::Failed(s) if s.contains('3')));
        let unit = finished.iter().find(|f| f.label == "unit").expect("unit");
        assert_eq!(unit.counts.map(|c| c.passed), Some(2));
        let log = std::fs::read_to_string(
            &finished
                .iter()
                .find(|f| f.label == "broken")
                .expect("broken")
                .log,
        );
        assert_eq!(log.expect("log").trim(), "oops");
    }

    #[test]
    fn when_the_image_build_fails_the_jobs_that_deploy_are_not_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jobs = vec![
            sh("image", "exit 1", false, true),
            sh("e2e", "true", true, false),
        ];
        let finished = run(jobs, 3, dir.path(), &|_| {});
        assert!(matches!(ended(&finished, "e2e"), Status::NotRun(_)));
    }
}
