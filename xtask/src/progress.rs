//! Live progress: on a terminal, indicatif bars (stage and elapsed time, the deployments
//! table, target health, the newest events); in CI (`CI=true`) or when the output is not a
//! terminal, one plain line per event.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::out::errln;
use crate::short_names::{fit, shorten};
use deploy_sdk::rollout::RolloutEvent;
use deploy_sdk::service::DeploymentSnapshot;
use deploy_sdk::targets::TargetGroupHealth;
use deploy_sdk::verify::{Answer, SecondCounts};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes and how it looks.
pub struct Progress {
    started: Instant,
    to_stderr: bool,
    live: Option<Live>,
    state: Mutex<State>,
}

struct Live {
    multi: MultiProgress,
    status: ProgressBar,
    table: ProgressBar,
    health: ProgressBar,
    events: ProgressBar,
}

#[derive(Default)]
struct State {
    ours: Option<String>,
    recent_events: VecDeque<String>,
    last_verify_line: Option<Instant>,
}

const RECENT_EVENTS: usize = 4;

impl Progress {
    /// Progress on stdout, or on stderr when stdout carries a JSON report.
    pub fn new(json_on_stdout: bool) -> Progress {
        let to_stderr = json_on_stdout;
        let terminal = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        let live = (terminal && !ci).then(|| {
            let target = if to_stderr {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::stdout()
            };
            let multi = MultiProgress::with_draw_target(target);
            let status = multi.add(ProgressBar::new_spinner());
            status.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            status.enable_steady_tick(Duration::from_millis(120));
            let line = || {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            };
            let (table, health, events) = (line(), line(), line());
            Live {
                multi,
                status,
                table,
                health,
                events,
            }
        });
        Progress {
            started: Instant::now(),
            to_stderr,
            live,
            state: Mutex::new(State::default()),
        }
    }

    /// Time since the deploy (or command) began: the time axis of the report's series.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A permanent line (kept above the live area on a terminal).
    pub fn line(&self, text: impl AsRef<str>) {
        let text = format!(
            "[{:>6.1}s] {}",
            self.started.elapsed().as_secs_f64(),
            text.as_ref()
        );
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(text);
            }
            None if self.to_stderr => errln!("{text}"),
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
        }
    }

    /// A stage begins.
    pub fn stage(&self, name: &str, what: &str) {
        if let Some(live) = &self.live {
            live.status.set_message(format!("{name}: {what}"));
        }
        self.line(format!("{name}: {what}"));
    }

    /// A stage ended.
    pub fn stage_done(&self, name: &str, took: Duration, detail: &str) {
        self.line(format!(
            "{name}: done in {:.1}s — {detail}",
            took.as_secs_f64()
        ));
    }

    /// Which deployment is ours (its targets are "new" in the health line).
    pub fn set_ours(&self, deployment_id: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.ours = Some(deployment_id.to_owned());
        }
    }

    /// One event of the rollout watch.
    pub fn rollout(&self, event: &RolloutEvent) {
        let ours = self.state.lock().ok().and_then(|s| s.ours.clone());
        match event {
            RolloutEvent::Deployments(table) => {
                let rows = table_rows(table, ours.as_deref());
                match &self.live {
                    Some(live) => live
                        .table
                        .set_message(rows.iter().map(|r| clip(r)).collect::<Vec<_>>().join("\n")),
                    None => {
                        for row in rows {
                            self.line(format!("roll: {row}"));
                        }
                    }
                }
            }
            RolloutEvent::ServiceEvent { message, .. } => match (&self.live, self.state.lock()) {
                // On a terminal the newest events live in their own box.
                (Some(live), Ok(mut state)) => {
                    state.recent_events.push_back(shorten(message));
                    while state.recent_events.len() > RECENT_EVENTS {
                        state.recent_events.pop_front();
                    }
                    let shown: Vec<String> = state
                        .recent_events
                        .iter()
                        .map(|e| clip(&format!("  · {e}")))
                        .collect();
                    live.events.set_message(shown.join("\n"));
                }
                _ => self.line(format!("event: {}", shorten(message))),
            },
            RolloutEvent::TargetHealth(groups) => {
                let text = health_line(groups, ours.as_deref());
                match &self.live {
                    Some(live) => live.health.set_message(clip(&text)),
                    None => self.line(text),
                }
            }
            RolloutEvent::Stage(stage) => self.line(format!("roll: stage {stage}")),
            RolloutEvent::TrafficWeights(rules) => self.line(format!(
                "roll: traffic {}",
                rules
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            RolloutEvent::TaskStopped(task) => self.line(shorten(&format!("stopped task {task}"))),
            RolloutEvent::Retrying { error } => self.line(format!("retrying: {error}")),
            RolloutEvent::JudgedBy(by) => self.line(format!("roll: judging by {by}")),
            RolloutEvent::DiagnosticFailed { what, error } => self.line(format!(
                "roll: no {what} for now (the watch goes on): {error}"
            )),
            RolloutEvent::Stats(stats) => self.line(format!(
                "watch: {} DescribeServices calls in {:.1}s, judged by {}",
                stats.describe_services_calls,
                stats.watched.as_secs_f64(),
                stats.judged_by
            )),
            RolloutEvent::Outcome(outcome) => {
                self.line(format!("outcome: {}", outcome_text(outcome)))
            }
        }
    }

    /// One verification answer (plain mode prints the totals at most every second).
    pub fn verify(&self, answer: &Answer, totals: &SecondCounts) {
        let text = format!(
            "verify: {} new, {} old, {} errors",
            totals.new, totals.old, totals.errors
        );
        match &self.live {
            Some(live) => live.status.set_message(text),
            None => {
                let due = self.state.lock().is_ok_and(|mut s| {
                    let due = s
                        .last_verify_line
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                    if due {
                        s.last_verify_line = Some(Instant::now());
                    }
                    due
                });
                if due || matches!(answer, Answer::Error(_)) {
                    let suffix = match answer {
                        Answer::Error(e) => format!(" (last: {e})"),
                        _ => String::new(),
                    };
                    self.line(format!("{text}{suffix}"));
                }
            }
        }
    }

    /// Clears the live area (permanent lines stay).
    pub fn finish(&self) {
        if let Some(live) = &self.live {
            for bar in [&live.status, &live.table, &live.health, &live.events] {
                bar.finish_and_clear();
            }
        }
    }
}

fn table_rows(table: &[DeploymentSnapshot], ours: Option<&str>) -> Vec<String> {
    table
        .iter()
        .map(|d| {
            let mark = if Some(d.id.as_str()) == ours {
                "new"
            } else {
                "old"
            };
            format!(
                "{mark} {:<8} {} {:<14} desired {} pending {} running {} failed {} {}",
                d.status,
                d.id,
                d.revision(),
                d.desired,
                d.pending,
                d.running,
                d.failed,
                d.rollout_state.as_ref().map_or("-", |s| s.as_str())
            )
        })
        .collect()
}

fn health_line(groups: &[TargetGroupHealth], ours: Option<&str>) -> String {
    let mut parts = Vec::new();
    for group in groups {
        for (deployment, counts) in &group.by_deployment {
            let who = match deployment.as_deref() {
                Some(d) if Some(d) == ours => "new",
                Some(_) => "old",
                None => "unmatched",
            };
            parts.push(format!("{who}: {counts}"));
        }
        for reason in &group.unhealthy_reasons {
            parts.push(format!("unhealthy because {reason}"));
        }
    }
    if parts.is_empty() {
        "targets: none registered".into()
    } else {
        format!("targets: {}", parts.join("; "))
    }
}

/// One line for an outcome.
pub fn outcome_text(outcome: &deploy_sdk::rollout::Outcome) -> String {
    use deploy_sdk::rollout::Outcome::*;
    match outcome {
        Completed {
            deployment_id,
            task_definition,
        } => {
            format!(
                "completed: {deployment_id} runs {}",
                deploy_sdk::service::short_task_definition(task_definition)
            )
        }
        Failed {
            deployment_id,
            reason,
            ..
        } => format!("FAILED: {deployment_id}: {reason}"),
        RolledBack {
            deployment_id,
            to,
            reason,
            ..
        } => format!(
            "ROLLED BACK: {deployment_id} failed ({reason}); ECS put the service back on {}",
            deploy_sdk::service::short_task_definition(to)
        ),
        Superseded {
            deployment_id,
            by,
            task_definition,
            reason,
        } => format!(
            "SUPERSEDED: {deployment_id} was replaced by deployment {by}{} from another \
             UpdateService ({reason}); nothing was rolled back",
            task_definition
                .as_deref()
                .map(|td| format!(" of {}", deploy_sdk::service::short_task_definition(td)))
                .unwrap_or_default()
        ),
        TimedOut {
            deployment_id,
            waited,
            ..
        } => format!(
            "TIMED OUT after {}s waiting for {deployment_id}",
            waited.as_secs()
        ),
    }
}

/// Live lines are cut to the terminal's width, so the live area never wraps.
fn clip(line: &str) -> String {
    fit(line, console_width().saturating_sub(1).max(20))
}

fn console_width() -> usize {
    usize::from(console::Term::stderr().size().1)
}
