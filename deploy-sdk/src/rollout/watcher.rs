//! One poll after another. Each poll judges first — DescribeServices, then the service
//! deployment where the API is there — and only then looks at stopped tasks, target health
//! and deregistration delays, best effort: their failures are reported once per kind and
//! never end the watch or hold up its outcome. What a poll saw is committed only after its
//! events are handed out, so a poll that fails half-way loses nothing: the next one sees the
//! same events again and hands each out exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_sdk_ecs::types::Service;
use aws_smithy_types::retry::ErrorKind;
use futures::Stream;
use tokio::time::Instant;

use super::judge::{
    ServiceDeploymentFacts, SteadyWindow, Verdict, judge, judge_service_deployment, targets_ready,
};
use super::poll::{PollPlanner, PollSignal};
use super::{Diagnostic, JudgedBy, Outcome, RolloutEvent, StageState, WatchOptions, WatchStats};
use crate::Clients;
use crate::error::{Error, Result};
use crate::service::{DeploymentSnapshot, StartedDeployment, describe_service_intercepted};
use crate::strategy::StrategySettings;
use crate::targets::{TargetGroupHealth, TargetHealthTracker};
use crate::tasks::StoppedTask;
use crate::traffic::RuleWeights;

mod diagnostics;
mod facts;

pub(super) fn watch(
    clients: Clients,
    started: StartedDeployment,
    options: WatchOptions,
) -> impl Stream<Item = Result<RolloutEvent>> + Send + 'static {
    async_stream::try_stream! {
        let mut planner = PollPlanner::new(
            options.min_interval,
            options.max_interval,
            options.max_describes_per_minute,
            options.budget.clone(),
        )?;
        let calls_before = options.budget.total();
        let mut watcher = Watcher::new(started, options.clone());
        let begun = watcher.begun;
        loop {
            planner.polled(Instant::now());
            // One poll (with the SDK's retries) may not outlast the timeout either.
            let remaining = watcher.timeout().saturating_sub(begun.elapsed());
            let polled = match tokio::time::timeout(remaining, watcher.poll(&clients)).await {
                Ok(polled) => polled,
                Err(_) => Err(Error::Aws {
                    action: "ecs:DescribeServices".into(),
                    code: Some("Timeout".into()),
                    // What the SDK makes of its own timeouts.
                    kind: Some(ErrorKind::TransientError),
                    message: "no answer before the watch timed out".into(),
                }),
            };
            // `pending`: the judge this poll chose, not yet committed to the watcher.
            let stats = |watcher: &Watcher, pending: Option<&Mode>, watched| WatchStats {
                describe_services_calls: options.budget.total() - calls_before,
                watched,
                judged_by: judged_by(pending.unwrap_or(&watcher.mode)),
            };
            let signal = match polled {
                Ok(Polled { events, commit, signal }) => {
                    let mut done = false;
                    for event in events {
                        if matches!(event, RolloutEvent::Outcome(_)) {
                            done = true;
                            yield RolloutEvent::Stats(stats(&watcher, commit.mode.as_ref(), begun.elapsed()));
                        }
                        yield event;
                    }
                    watcher.commit(commit);
                    if done {
                        break;
                    }
                    signal
                }
                Err(err) if err.is_transient() => {
                    yield RolloutEvent::Retrying { error: err.to_string() };
                    PollSignal::default()
                }
                Err(err) => Err(err)?,
            };
            let waited = begun.elapsed();
            if waited >= watcher.timeout() {
                yield RolloutEvent::Stats(stats(&watcher, None, waited));
                yield RolloutEvent::Outcome(Outcome::TimedOut {
                    deployment_id: watcher.started.deployment_id.clone(),
                    waited,
                    last: watcher.last_table.clone(),
                });
                break;
            }
            let delay = planner
                .next_delay(Instant::now(), signal)
                .min(watcher.timeout() - waited);
            watcher.last_interval = delay;
            tokio::time::sleep(delay).await;
        }
    }
}

/// What one poll produced: events to hand out, then the state to commit.
struct Polled {
    events: Vec<RolloutEvent>,
    commit: Commit,
    signal: PollSignal,
}

/// A poll in the making: its events, what to commit once they are out, the diagnostics
/// failing now, and whether anything changed.
struct Draft {
    events: Vec<RolloutEvent>,
    commit: Commit,
    failing: HashSet<Diagnostic>,
    changed: bool,
}

/// What a poll saw that later polls must not report again.
#[derive(Default)]
struct Commit {
    table: Vec<DeploymentSnapshot>,
    event_ids: Vec<String>,
    stopped_arns: Vec<String>,
    stopped_tasks: Vec<StoppedTask>,
    health: Option<Vec<TargetGroupHealth>>,
    failing: Option<HashSet<Diagnostic>>,
    mode: Option<Mode>,
    stage: Option<StageState>,
    weights: Option<Vec<RuleWeights>>,
}

/// What the watch judges by.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Undecided,
    Api(String),
    Table(String),
}

/// Target health as one poll saw it.
enum Health {
    /// Not looked at: no target groups, or target health is off.
    NotWatched,
    Seen(Vec<TargetGroupHealth>),
    /// Failed; `lasting` when retrying cannot help (denied, target group gone).
    Failed {
        lasting: bool,
    },
}

/// The state a watch carries from poll to poll.
struct Watcher {
    started: StartedDeployment,
    options: WatchOptions,
    mode: Mode,
    /// Service revision ARN → task definition, resolved once each.
    revisions: HashMap<String, String>,
    last_table: Vec<DeploymentSnapshot>,
    seen_events: HashSet<String>,
    seen_stopped: HashSet<String>,
    stopped_tasks: Vec<StoppedTask>,
    tracker: TargetHealthTracker,
    last_health: Option<Vec<TargetGroupHealth>>,
    failing: HashSet<Diagnostic>,
    deregistration_delays: HashMap<String, Duration>,
    delays_failed: bool,
    draining_since: Option<Instant>,
    awaiting_rollback_since: Option<Instant>,
    steady: SteadyWindow,
    last_interval: Duration,
    /// When the watch began.
    begun: Instant,
    /// The service's strategy as last seen (bakes, hooks, the rules ECS rewrites).
    strategy: Option<StrategySettings>,
    last_stage: StageState,
    last_weights: Vec<RuleWeights>,
    /// When the current lifecycle stage and the last production shift began (as first seen,
    /// less one interval): the bakes end a known time after them.
    stage_since: Option<Instant>,
    shifted_since: Option<Instant>,
}

impl Watcher {
    fn new(started: StartedDeployment, options: WatchOptions) -> Watcher {
        Watcher {
            last_interval: options.min_interval,
            steady: SteadyWindow::new(options.steady_window),
            started,
            options,
            mode: Mode::Undecided,
            revisions: HashMap::new(),
            last_table: Vec::new(),
            seen_events: HashSet::new(),
            seen_stopped: HashSet::new(),
            stopped_tasks: Vec::new(),
            tracker: TargetHealthTracker::new(),
            last_health: None,
            failing: HashSet::new(),
            deregistration_delays: HashMap::new(),
            delays_failed: false,
            draining_since: None,
            awaiting_rollback_since: None,
            begun: Instant::now(),
            strategy: None,
            last_stage: StageState::default(),
            last_weights: Vec::new(),
            stage_since: None,
            shifted_since: None,
        }
    }

    /// The timeout, with the strategy's bakes and hook timeouts added once they are known.
    fn timeout(&self) -> Duration {
        let extra = self
            .strategy
            .as_ref()
            .map(|s| s.extra_watch_time(self.options.minute))
            .unwrap_or_default();
        self.options.timeout.saturating_add(extra)
    }

    /// Without the ServiceDeployment API, a blue/green, linear or canary deployment cannot
    /// have succeeded before its bakes are over, whatever the table says.
    fn still_baking(&self, now: Instant) -> bool {
        let Some(strategy) = &self.strategy else {
            return false;
        };
        let minutes = u32::try_from(strategy.planned_wait_minutes()).unwrap_or(u32::MAX);
        now < self.begun + self.options.minute.saturating_mul(minutes)
    }

    fn commit(&mut self, commit: Commit) {
        self.last_table = commit.table;
        self.seen_events.extend(commit.event_ids);
        self.seen_stopped.extend(commit.stopped_arns);
        self.stopped_tasks.extend(commit.stopped_tasks);
        if let Some(health) = commit.health {
            self.last_health = Some(health);
        }
        if let Some(failing) = commit.failing {
            self.failing = failing;
        }
        if let Some(mode) = commit.mode {
            self.mode = mode;
        }
        if let Some(stage) = commit.stage {
            self.last_stage = stage;
        }
        if let Some(weights) = commit.weights {
            self.last_weights = weights;
        }
    }

    async fn poll(&mut self, clients: &Clients) -> Result<Polled> {
        let polled_at = Instant::now();
        let service = describe_service_intercepted(
            &clients.ecs,
            &self.started.service,
            self.options.budget.counter(),
        )
        .await?;
        let table = DeploymentSnapshot::table(&service);
        let strategy = StrategySettings::of(&service);
        self.strategy = (!strategy.is_rolling()).then_some(strategy);
        let mut draft = Draft {
            events: Vec::new(),
            commit: Commit::default(),
            failing: self.failing.clone(),
            changed: false,
        };
        let facts = self.facts(clients, &service, &table, &mut draft).await?;
        // Judge first; then what changed; then the diagnostics, best effort.
        let (outcome, health) = self
            .judge_now(
                clients,
                &service,
                &table,
                facts.as_ref(),
                polled_at,
                &mut draft,
            )
            .await;
        self.news(&service, &table, &mut draft);
        if let Some(facts) = &facts {
            self.stage_news(&facts.stage, &mut draft);
        }
        let draining_old = self
            .diagnose(
                clients,
                &service,
                &table,
                outcome.as_ref(),
                health,
                &mut draft,
            )
            .await;
        let Draft {
            mut events,
            mut commit,
            failing,
            changed,
        } = draft;
        commit.failing = Some(failing);
        if let Some(outcome) = outcome {
            let outcome = self.with_stopped_tasks(outcome, &commit.stopped_tasks);
            events.push(RolloutEvent::Outcome(outcome));
        }
        let mut signal = self.signal(&table, changed, draining_old, polled_at);
        let bake_eta = self.bake_eta(commit.stage.as_ref(), commit.weights.is_some(), polled_at);
        signal.eta = match (signal.eta, bake_eta) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        commit.table = table;
        Ok(Polled {
            events,
            commit,
            signal,
        })
    }

    /// The verdict as an outcome (if any), and target health when judging needed it
    /// (no rolloutState: our targets must be healthy over the steady window).
    async fn judge_now(
        &mut self,
        clients: &Clients,
        service: &Service,
        table: &[DeploymentSnapshot],
        facts: Option<&ServiceDeploymentFacts>,
        polled_at: Instant,
        draft: &mut Draft,
    ) -> (Option<Outcome>, Health) {
        let verdict = match facts {
            Some(facts) => judge_service_deployment(facts, &self.started),
            None => match judge(table, &self.started) {
                Verdict::Completed | Verdict::FullStrength if self.still_baking(polled_at) => {
                    Verdict::InProgress
                }
                verdict => verdict,
            },
        };
        if verdict != Verdict::FullStrength {
            self.steady.observe(false, polled_at);
            return (self.outcome(verdict, false), Health::NotWatched);
        }
        let health = self.target_health(clients, service, table, draft).await;
        let ready = match &health {
            Health::Seen(groups) => targets_ready(
                Some(groups),
                &self.started.deployment_id,
                table.first().map_or(0, |d| d.desired),
            ),
            // Nothing to look at, or nothing ever will be: running == desired is all there is.
            Health::NotWatched | Health::Failed { lasting: true } => true,
            Health::Failed { lasting: false } => false,
        };
        let steady = self.steady.observe(ready, polled_at);
        (self.outcome(verdict, steady), health)
    }

    /// A changed table and new service events, as events.
    fn news(&self, service: &Service, table: &[DeploymentSnapshot], draft: &mut Draft) {
        if !DeploymentSnapshot::same_state(table, &self.last_table) {
            draft.changed = true;
            draft.events.push(RolloutEvent::Deployments(table.to_vec()));
        }
        for (id, at, message) in self.new_service_events(service) {
            draft.changed = true;
            draft.commit.event_ids.push(id);
            draft
                .events
                .push(RolloutEvent::ServiceEvent { at, message });
        }
    }

    /// A new lifecycle stage or hook state, as an event.
    fn stage_news(&self, stage: &StageState, draft: &mut Draft) {
        if *stage != self.last_stage {
            draft.changed = true;
            draft.events.push(RolloutEvent::Stage(stage.clone()));
            draft.commit.stage = Some(stage.clone());
        }
    }

    /// Turns a verdict into an outcome (stopped tasks attached later), waiting out the grace
    /// for ECS's rollback to appear in the table.
    fn outcome(&mut self, verdict: Verdict, steady: bool) -> Option<Outcome> {
        let deployment_id = self.started.deployment_id.clone();
        if !matches!(verdict, Verdict::AwaitingRollback { .. }) {
            self.awaiting_rollback_since = None;
        }
        let completed = || Outcome::Completed {
            deployment_id: deployment_id.clone(),
            task_definition: self.started.task_definition.clone(),
        };
        match verdict {
            Verdict::InProgress | Verdict::RollingBack { .. } => None,
            Verdict::FullStrength => steady.then(completed),
            Verdict::Completed => Some(completed()),
            Verdict::AwaitingRollback { reason } => {
                let since = *self
                    .awaiting_rollback_since
                    .get_or_insert_with(Instant::now);
                (since.elapsed() >= self.options.rollback_grace).then(|| Outcome::Failed {
                    deployment_id,
                    reason: format!("{reason} (no rollback started)"),
                    stopped_tasks: Vec::new(),
                })
            }
            Verdict::Failed { reason } => Some(Outcome::Failed {
                deployment_id,
                reason,
                stopped_tasks: Vec::new(),
            }),
            Verdict::RolledBack {
                to,
                by,
                reason,
                finished,
            } => Some(Outcome::RolledBack {
                deployment_id,
                to,
                by,
                reason,
                stopped_tasks: Vec::new(),
                finished,
            }),
            Verdict::Superseded {
                by,
                task_definition,
                reason,
            } => Some(Outcome::Superseded {
                deployment_id,
                by,
                task_definition,
                reason,
            }),
        }
    }

    fn with_stopped_tasks(&self, outcome: Outcome, new: &[StoppedTask]) -> Outcome {
        let all =
            || -> Vec<StoppedTask> { self.stopped_tasks.iter().chain(new).cloned().collect() };
        match outcome {
            Outcome::Failed {
                deployment_id,
                reason,
                ..
            } => Outcome::Failed {
                deployment_id,
                reason,
                stopped_tasks: all(),
            },
            Outcome::RolledBack {
                deployment_id,
                to,
                by,
                reason,
                finished,
                ..
            } => Outcome::RolledBack {
                deployment_id,
                to,
                by,
                reason,
                stopped_tasks: all(),
                finished,
            },
            other => other,
        }
    }

    /// Service events newer than our deployment and not reported yet, oldest first.
    fn new_service_events(&self, service: &Service) -> Vec<(String, Option<SystemTime>, String)> {
        let cutoff = self
            .started
            .created_at
            .checked_sub(Duration::from_secs(2))
            .unwrap_or(self.started.created_at);
        let mut new = Vec::new();
        for event in service.events().iter().rev() {
            let Some(id) = event.id() else { continue };
            let at = event
                .created_at()
                .and_then(|t| SystemTime::try_from(*t).ok());
            if at.is_some_and(|at| at < cutoff) || self.seen_events.contains(id) {
                continue;
            }
            new.push((
                id.to_owned(),
                at,
                event.message().unwrap_or_default().to_owned(),
            ));
        }
        new
    }

    /// What the planner needs: whether anything changed, whether the end is near and when.
    fn signal(
        &mut self,
        table: &[DeploymentSnapshot],
        changed: bool,
        draining_old: bool,
        polled_at: Instant,
    ) -> PollSignal {
        let ours = table.iter().find(|d| d.id == self.started.deployment_id);
        let others_running = table
            .iter()
            .any(|d| d.id != self.started.deployment_id && d.running + d.pending > 0);
        let ours_up = ours.is_some_and(|d| d.running >= d.desired && d.pending == 0);
        let drain_eta = if draining_old && !self.deregistration_delays.is_empty() {
            // Draining was first seen up to one interval after it began.
            let since = *self.draining_since.get_or_insert(
                polled_at
                    .checked_sub(self.last_interval)
                    .unwrap_or(polled_at),
            );
            let delay = self
                .deregistration_delays
                .values()
                .max()
                .copied()
                .unwrap_or_default();
            Some(since + delay)
        } else {
            if !draining_old {
                self.draining_since = None;
            }
            None
        };
        let eta = match (drain_eta, self.steady.ends_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        PollSignal {
            changed,
            endgame: ours_up && (others_running || draining_old),
            eta,
        }
    }
}

impl Watcher {
    /// When a bake should end by design, so the planner polls around it and sees the next
    /// stage (or shift) within its shortest interval: the end of BAKE_TIME, and during a
    /// linear or canary PRODUCTION_TRAFFIC_SHIFT the next shift. `stage` and `shifted` are
    /// this poll's news (a new stage or hook state; changed weights).
    fn bake_eta(
        &mut self,
        stage: Option<&StageState>,
        shifted: bool,
        polled_at: Instant,
    ) -> Option<Instant> {
        // Seen up to one interval after it began.
        let began = polled_at
            .checked_sub(self.last_interval)
            .unwrap_or(polled_at);
        if stage.is_some_and(|s| s.stage != self.last_stage.stage) {
            self.stage_since = Some(began);
        }
        if shifted {
            self.shifted_since = Some(began);
        }
        let strategy = self.strategy.as_ref()?;
        let current = stage.unwrap_or(&self.last_stage).stage.as_deref();
        let (since, minutes) = match current {
            Some("BAKE_TIME") => (self.stage_since?, strategy.bake_minutes),
            Some("PRODUCTION_TRAFFIC_SHIFT") if strategy.step_bake_minutes() > 0 => (
                self.shifted_since.or(self.stage_since)?,
                strategy.step_bake_minutes(),
            ),
            _ => return None,
        };
        let minutes = u32::try_from(minutes).unwrap_or(0);
        Some(since + self.options.minute.saturating_mul(minutes))
    }
}

/// What a watch in `mode` judges by.
fn judged_by(mode: &Mode) -> JudgedBy {
    match mode {
        Mode::Api(_) => JudgedBy::ServiceDeployments,
        Mode::Table(why) => JudgedBy::DeploymentTable { why: why.clone() },
        Mode::Undecided => JudgedBy::DeploymentTable {
            why: "no poll was answered".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceRef;
    use crate::strategy::{Strategy, StrategySettings};

    fn watcher(strategy: Strategy, bake_minutes: i32) -> Watcher {
        let started = StartedDeployment {
            service: ServiceRef {
                cluster: "c".into(),
                service: "s".into(),
            },
            deployment_id: "ecs-svc/1".into(),
            task_definition: "td:2".into(),
            previous_task_definition: Some("td:1".into()),
            created_at: SystemTime::now(),
            is_new: true,
            ecs_rolls_back: true,
            alarm_names: Vec::new(),
            service_deployment_arn: None,
            stop_rollback: false,
        };
        let options = WatchOptions {
            minute: Duration::from_secs(1),
            ..WatchOptions::default()
        };
        let mut w = Watcher::new(started, options);
        w.strategy = Some(StrategySettings {
            strategy,
            bake_minutes,
            hooks: Vec::new(),
            rules: Vec::new(),
        });
        w.last_interval = Duration::from_secs(2);
        w
    }

    fn at(stage: &str) -> StageState {
        StageState {
            stage: Some(stage.into()),
            hooks: Vec::new(),
        }
    }

    /// The planner is told when a bake ends (the stage or shift began at most one interval
    /// before it was seen), so the next stage is seen within its shortest interval.
    #[test]
    fn bakes_end_a_known_time_after_they_began() {
        let canary = Strategy::Canary {
            canary_percent: 25.0,
            canary_bake_minutes: 8,
        };
        let mut w = watcher(canary, 3);
        let t0 = Instant::now();
        let seen = |w: &mut Watcher, stage: Option<StageState>, shifted: bool, t: Instant| {
            let eta = w.bake_eta(stage.as_ref(), shifted, t);
            if let Some(stage) = stage {
                w.last_stage = stage;
            }
            eta
        };
        let secs = Duration::from_secs;
        assert_eq!(seen(&mut w, Some(at("SCALE_UP")), false, t0), None);
        // The canary's shift seen at t0+10: the next shift 8 "minutes" after t0+8.
        let shift = seen(
            &mut w,
            Some(at("PRODUCTION_TRAFFIC_SHIFT")),
            true,
            t0 + secs(10),
        );
        assert_eq!(shift, Some(t0 + secs(16)));
        // Later polls in the same stage keep that time.
        assert_eq!(
            seen(&mut w, None, false, t0 + secs(12)),
            Some(t0 + secs(16))
        );
        // BAKE_TIME seen at t0+20: it ends 3 "minutes" after t0+18.
        assert_eq!(
            seen(&mut w, Some(at("BAKE_TIME")), true, t0 + secs(20)),
            Some(t0 + secs(21))
        );
        assert_eq!(
            seen(&mut w, Some(at("CLEAN_UP")), false, t0 + secs(22)),
            None
        );
        // Blue/green shifts once: nothing to wait for in PRODUCTION_TRAFFIC_SHIFT.
        let mut bg = watcher(Strategy::BlueGreen, 0);
        assert_eq!(
            seen(
                &mut bg,
                Some(at("PRODUCTION_TRAFFIC_SHIFT")),
                true,
                t0 + secs(10)
            ),
            None
        );
        // A rolling service has no bake.
        let mut rolling = watcher(Strategy::Rolling, 0);
        rolling.strategy = None;
        assert_eq!(seen(&mut rolling, Some(at("BAKE_TIME")), false, t0), None);
    }
}
