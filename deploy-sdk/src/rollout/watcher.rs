//! One poll after another. Each poll judges first — DescribeServices, then the service
//! deployment where the API is there — and only then looks at stopped tasks, target health
//! and deregistration delays, best effort: their failures are reported once per kind and
//! never end the watch or hold up its outcome. What a poll saw is committed only after its
//! events are handed out, so a poll that fails half-way loses nothing: the next one sees the
//! same events again and hands each out exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_sdk_ecs::types::{DesiredStatus, Service};
use aws_smithy_types::retry::ErrorKind;
use futures::Stream;
use tokio::time::Instant;

use super::judge::{
    RollbackFacts, ServiceDeploymentFacts, SteadyWindow, Verdict, judge, judge_service_deployment,
    targets_ready,
};
use super::poll::{PollPlanner, PollSignal};
use super::{Diagnostic, JudgedBy, Outcome, RolloutEvent, WatchOptions, WatchStats};
use crate::Clients;
use crate::error::{Error, Result};
use crate::service::{DeploymentSnapshot, StartedDeployment, describe_service_intercepted};
use crate::service_deployment;
use crate::targets::{self, TargetGroupHealth, TargetHealthTracker};
use crate::tasks::{self, StoppedTask, task_deployment};

/// How long the diagnostics of one poll may take before the watch moves on.
const DIAGNOSTICS_DEADLINE: Duration = Duration::from_secs(5);
/// How long a failure outcome waits for its stopped tasks' reasons.
const REASONS_DEADLINE: Duration = Duration::from_secs(2);

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
        let begun = Instant::now();
        loop {
            planner.polled(Instant::now());
            // One poll (with the SDK's retries) may not outlast the timeout either.
            let remaining = options.timeout.saturating_sub(begun.elapsed());
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
            let stats = |watcher: &Watcher, watched| WatchStats {
                describe_services_calls: options.budget.total() - calls_before,
                watched,
                judged_by: watcher.judged_by(),
            };
            let signal = match polled {
                Ok(Polled { events, commit, signal }) => {
                    let mut done = false;
                    for event in events {
                        if matches!(event, RolloutEvent::Outcome(_)) {
                            done = true;
                            yield RolloutEvent::Stats(stats(&watcher, begun.elapsed()));
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
            if waited >= options.timeout {
                yield RolloutEvent::Stats(stats(&watcher, waited));
                yield RolloutEvent::Outcome(Outcome::TimedOut {
                    deployment_id: watcher.started.deployment_id.clone(),
                    waited,
                    last: watcher.last_table.clone(),
                });
                break;
            }
            let delay = planner
                .next_delay(Instant::now(), signal)
                .min(options.timeout - waited);
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
        }
    }

    fn judged_by(&self) -> JudgedBy {
        match &self.mode {
            Mode::Api(_) => JudgedBy::ServiceDeployments,
            Mode::Table(why) => JudgedBy::DeploymentTable { why: why.clone() },
            Mode::Undecided => JudgedBy::DeploymentTable {
                why: "no poll was answered".into(),
            },
        }
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
        let mut events = Vec::new();
        let mut commit = Commit::default();
        let facts = self
            .facts(clients, &service, &table, &mut events, &mut commit)
            .await?;

        // Judge first.
        let verdict = match &facts {
            Some(facts) => judge_service_deployment(facts, &self.started),
            None => judge(&table, &self.started),
        };
        let mut failing = self.failing.clone();
        let mut health = Health::NotWatched;
        let mut outcome_ready = false;
        if verdict == Verdict::FullStrength {
            health = self
                .target_health(clients, &service, &table, &mut failing, &mut events)
                .await;
            let ready = match &health {
                Health::Seen(groups) => targets_ready(
                    Some(groups),
                    &self.started.deployment_id,
                    table.first().map_or(0, |d| d.desired),
                ),
                Health::NotWatched | Health::Failed { lasting: true } => true,
                Health::Failed { lasting: false } => false,
            };
            outcome_ready = self.steady.observe(ready, polled_at);
        } else {
            self.steady.observe(false, polled_at);
        }
        let outcome = self.outcome(verdict, outcome_ready);

        let mut changed = false;
        if !DeploymentSnapshot::same_state(&table, &self.last_table) {
            changed = true;
            events.push(RolloutEvent::Deployments(table.clone()));
        }
        for (id, at, message) in self.new_service_events(&service) {
            changed = true;
            commit.event_ids.push(id);
            events.push(RolloutEvent::ServiceEvent { at, message });
        }

        // Then the diagnostics, best effort; none at all once the outcome is success.
        let wants_reasons = matches!(
            outcome,
            Some(Outcome::Failed { .. } | Outcome::RolledBack { .. })
        );
        if outcome.is_none() || wants_reasons {
            let deadline = if outcome.is_none() {
                DIAGNOSTICS_DEADLINE
            } else {
                REASONS_DEADLINE
            };
            let stopped =
                tokio::time::timeout(deadline, self.new_stopped_tasks(clients, &table)).await;
            match stopped.unwrap_or_else(|_| Err(late(deadline))) {
                Ok((arns, ours)) => {
                    failing.remove(&Diagnostic::StoppedTasks);
                    commit.stopped_arns = arns;
                    for task in ours {
                        changed = true;
                        commit.stopped_tasks.push(task.clone());
                        events.push(RolloutEvent::TaskStopped(task));
                    }
                }
                Err(err) => report(Diagnostic::StoppedTasks, &err, &mut failing, &mut events),
            }
        }
        if outcome.is_none() && matches!(health, Health::NotWatched) {
            health = self
                .target_health(clients, &service, &table, &mut failing, &mut events)
                .await;
        }
        let mut draining_old = false;
        if let Health::Seen(groups) = &health {
            draining_old = groups
                .iter()
                .flat_map(|g| g.by_deployment.iter())
                .any(|(d, c)| {
                    d.as_deref() != Some(self.started.deployment_id.as_str()) && c.draining > 0
                });
            if self.last_health.as_ref() != Some(groups) {
                changed = true;
                events.push(RolloutEvent::TargetHealth(groups.clone()));
                commit.health = Some(groups.clone());
            }
            if draining_old && outcome.is_none() {
                self.load_deregistration_delays(clients, &service, &mut failing, &mut events)
                    .await;
            }
        }
        commit.failing = Some(failing);

        if let Some(outcome) = outcome {
            let outcome = self.with_stopped_tasks(outcome, &commit.stopped_tasks);
            events.push(RolloutEvent::Outcome(outcome));
        }
        let signal = self.signal(&table, changed, draining_old, polled_at);
        commit.table = table;
        Ok(Polled {
            events,
            commit,
            signal,
        })
    }

    /// The service deployment's facts, or `None` when the table judges (and why, once).
    async fn facts(
        &mut self,
        clients: &Clients,
        service: &Service,
        table: &[DeploymentSnapshot],
        events: &mut Vec<RolloutEvent>,
        commit: &mut Commit,
    ) -> Result<Option<ServiceDeploymentFacts>> {
        let arn = match (&self.mode, &self.started.service_deployment_arn) {
            (Mode::Table(_), _) => return Ok(None),
            (_, Some(arn)) => arn.clone(),
            (_, None) => {
                let why = "the service reported no currentServiceDeployment for it".to_owned();
                fall_back(why, events, commit);
                return Ok(None);
            }
        };
        match self.describe_facts(clients, &arn, service, table).await {
            Ok(facts) => {
                if self.mode == Mode::Undecided {
                    events.push(RolloutEvent::JudgedBy(JudgedBy::ServiceDeployments));
                    commit.mode = Some(Mode::Api(arn));
                }
                Ok(Some(facts))
            }
            Err(err) if err.is_transient() => Err(err),
            Err(err) => {
                let why = service_deployment::unavailable(&err).unwrap_or_else(|| err.to_string());
                fall_back(why, events, commit);
                Ok(None)
            }
        }
    }

    async fn describe_facts(
        &mut self,
        clients: &Clients,
        arn: &str,
        service: &Service,
        table: &[DeploymentSnapshot],
    ) -> Result<ServiceDeploymentFacts> {
        const ACTION: &str = "ecs:DescribeServiceDeployments";
        let sd = service_deployment::describe(&clients.ecs, arn).await?;
        let status = sd
            .status()
            .cloned()
            .ok_or_else(|| unreadable(ACTION, "a service deployment without its status"))?;
        let target = sd
            .target_service_revision()
            .and_then(|r| r.arn())
            .ok_or_else(|| {
                unreadable(ACTION, "a service deployment without its target revision")
            })?;
        let target_task_definition = Some(self.task_definition_of(clients, target).await?);
        let rollback = match sd.rollback() {
            Some(r) => {
                let revision = r.service_revision_arn().map(str::to_owned);
                // Best effort: without it the PRIMARY's task definition names the target.
                let task_definition = match &revision {
                    Some(rev) => self.task_definition_of(clients, rev).await.ok(),
                    None => None,
                };
                Some(RollbackFacts {
                    reason: r.reason().map(str::to_owned),
                    service_revision_arn: revision,
                    task_definition,
                })
            }
            None => None,
        };
        Ok(ServiceDeploymentFacts {
            arn: arn.to_owned(),
            status,
            status_reason: sd.status_reason().map(str::to_owned),
            target_task_definition,
            rollback,
            triggered_alarms: sd
                .alarms()
                .map(|a| a.triggered_alarm_names().to_vec())
                .unwrap_or_default(),
            circuit_breaker: sd
                .deployment_circuit_breaker()
                .map(|cb| (cb.failure_count(), cb.threshold())),
            current_service_deployment: service.current_service_deployment().map(str::to_owned),
            primary: table
                .iter()
                .find(|d| d.status == "PRIMARY")
                .map(|d| (d.id.clone(), d.task_definition.clone())),
        })
    }

    async fn task_definition_of(&mut self, clients: &Clients, revision: &str) -> Result<String> {
        if let Some(td) = self.revisions.get(revision) {
            return Ok(td.clone());
        }
        let found =
            service_deployment::task_definitions(&clients.ecs, &[revision.to_owned()]).await?;
        let td = found.get(revision).cloned().unwrap_or_default();
        self.revisions.insert(revision.to_owned(), td.clone());
        Ok(td)
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

    /// Stopped tasks not seen yet: (every newly stopped ARN, ours among them).
    async fn new_stopped_tasks(
        &self,
        clients: &Clients,
        table: &[DeploymentSnapshot],
    ) -> Result<(Vec<String>, Vec<StoppedTask>)> {
        let arns =
            tasks::list_tasks(&clients.ecs, &self.started.service, DesiredStatus::Stopped).await?;
        let new: Vec<String> = arns
            .into_iter()
            .filter(|a| !self.seen_stopped.contains(a))
            .collect();
        if new.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let described =
            tasks::describe_tasks(&clients.ecs, &self.started.service.cluster, &new).await?;
        let mut seen = Vec::new();
        let mut ours = Vec::new();
        for task in described {
            // A task being stopped is listed as desiredStatus STOPPED before it is stopped.
            if task.last_status() != Some("STOPPED") {
                continue;
            }
            let Some(arn) = task.task_arn() else { continue };
            seen.push(arn.to_owned());
            let deployment = task_deployment(&task, table);
            if deployment.as_deref() == Some(self.started.deployment_id.as_str()) {
                ours.push(StoppedTask::from_task(&task, deployment));
            }
        }
        Ok((seen, ours))
    }

    async fn target_health(
        &mut self,
        clients: &Clients,
        service: &Service,
        table: &[DeploymentSnapshot],
        failing: &mut HashSet<Diagnostic>,
        events: &mut Vec<RolloutEvent>,
    ) -> Health {
        let groups = targets::service_target_groups(service);
        if !self.options.target_health || groups.is_empty() {
            return Health::NotWatched;
        }
        let polled = self
            .tracker
            .poll(clients, &self.started.service, &groups, table);
        match tokio::time::timeout(DIAGNOSTICS_DEADLINE, polled).await {
            Ok(Ok(health)) => {
                failing.remove(&Diagnostic::TargetHealth);
                Health::Seen(health)
            }
            Ok(Err(err)) => {
                report(Diagnostic::TargetHealth, &err, failing, events);
                Health::Failed {
                    lasting: !err.is_transient(),
                }
            }
            Err(_) => {
                report(
                    Diagnostic::TargetHealth,
                    &late(DIAGNOSTICS_DEADLINE),
                    failing,
                    events,
                );
                Health::Failed { lasting: false }
            }
        }
    }

    async fn load_deregistration_delays(
        &mut self,
        clients: &Clients,
        service: &Service,
        failing: &mut HashSet<Diagnostic>,
        events: &mut Vec<RolloutEvent>,
    ) {
        if !self.deregistration_delays.is_empty() || self.delays_failed {
            return;
        }
        for arn in targets::service_target_groups(service) {
            let asked = clients
                .elb
                .describe_target_group_attributes()
                .target_group_arn(&arn)
                .send();
            let out = match tokio::time::timeout(DIAGNOSTICS_DEADLINE, asked).await {
                Ok(Ok(out)) => out,
                Ok(Err(e)) => {
                    let err =
                        Error::from_sdk("elasticloadbalancing:DescribeTargetGroupAttributes", e);
                    report(Diagnostic::DeregistrationDelay, &err, failing, events);
                    self.delays_failed = true;
                    return;
                }
                Err(_) => {
                    let err = late(DIAGNOSTICS_DEADLINE);
                    report(Diagnostic::DeregistrationDelay, &err, failing, events);
                    self.delays_failed = true;
                    return;
                }
            };
            // ELBv2's default when the attribute is not listed.
            let secs = out
                .attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(300);
            self.deregistration_delays
                .insert(arn, Duration::from_secs(secs));
        }
        failing.remove(&Diagnostic::DeregistrationDelay);
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

/// The table judges from now on, and the stream says why.
fn fall_back(why: String, events: &mut Vec<RolloutEvent>, commit: &mut Commit) {
    events.push(RolloutEvent::JudgedBy(JudgedBy::DeploymentTable {
        why: why.clone(),
    }));
    commit.mode = Some(Mode::Table(why));
}

/// Reports a diagnostic's failure, once until it works again.
fn report(
    what: Diagnostic,
    err: &Error,
    failing: &mut HashSet<Diagnostic>,
    events: &mut Vec<RolloutEvent>,
) {
    if failing.insert(what) {
        events.push(RolloutEvent::DiagnosticFailed {
            what,
            error: err.to_string(),
        });
    }
}

fn late(deadline: Duration) -> Error {
    Error::Aws {
        action: "diagnostics".into(),
        code: Some("Timeout".into()),
        kind: Some(ErrorKind::TransientError),
        message: format!("no answer within {}s", deadline.as_secs()),
    }
}

/// An answer the judge cannot read: the table judges instead (retrying would not help).
fn unreadable(action: &str, message: &str) -> Error {
    Error::Aws {
        action: action.to_owned(),
        code: None,
        kind: None,
        message: message.to_owned(),
    }
}
