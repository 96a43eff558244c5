//! The prediction: a rolling update played out on paper. Tasks start within the maximum
//! percent, old ones stop down to the minimum healthy percent (counting new tasks once they
//! are healthy), and each step takes what the settings say it takes. Every finished step
//! carries the chain of waits that led to it, so the last one says where the time went.

use std::fmt;
use std::time::Duration;

/// The settings a rolling update's duration depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollSettings {
    /// Tasks running before the update (the service's desired count now).
    pub old_tasks: u32,
    /// Tasks the new deployment wants.
    pub desired: u32,
    /// `deploymentConfiguration.minimumHealthyPercent` (default 100).
    pub minimum_healthy_percent: u32,
    /// `deploymentConfiguration.maximumPercent` (default 200).
    pub maximum_percent: u32,
    /// Whether the service is behind a load balancer (target groups): without one a task is
    /// healthy once RUNNING and nothing drains.
    pub load_balanced: bool,
    /// The target group's `HealthCheckIntervalSeconds` (default 30).
    pub health_check_interval: Duration,
    /// The target group's `HealthyThresholdCount` (default 5).
    pub healthy_threshold: u32,
    /// `healthCheckGracePeriodSeconds`: costs nothing while tasks pass their checks.
    pub grace_period: Duration,
    /// The target group's `deregistration_delay.timeout_seconds` (default 300).
    pub deregistration_delay: Duration,
    /// The longest `stopTimeout` of the task definition's containers (default 30 s): the most
    /// a container may take to exit after SIGTERM.
    pub stop_timeout: Duration,
    /// Blue/green, linear and canary: the staged shift ECS runs instead of waves (None:
    /// rolling).
    pub staged: Option<StagedShift>,
}

/// A blue/green, linear or canary deployment's shape: a full green fleet, production traffic
/// moved in `shifts` steps with a bake between two steps, the bake time, then blue stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedShift {
    /// Production traffic shifts (1 for blue/green, 2 for a canary, 100 / step for linear).
    pub shifts: u32,
    /// Minutes between two shifts (linear's step bake, the canary's bake).
    pub step_bake_minutes: u32,
    /// `bakeTimeInMinutes`: after the last shift, blue still runs.
    pub bake_minutes: u32,
}

impl Default for RollSettings {
    /// ECS's and ELBv2's defaults, with 2 tasks behind a load balancer.
    fn default() -> Self {
        RollSettings {
            old_tasks: 2,
            desired: 2,
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            load_balanced: true,
            health_check_interval: Duration::from_secs(30),
            healthy_threshold: 5,
            grace_period: Duration::ZERO,
            deregistration_delay: Duration::from_secs(300),
            stop_timeout: Duration::from_secs(30),
            staged: None,
        }
    }
}

impl RollSettings {
    /// ceil(desired × min / 100): tasks that must stay healthy.
    pub fn lower_bound(&self) -> u32 {
        (self.desired * self.minimum_healthy_percent).div_ceil(100)
    }

    /// floor(desired × max / 100): tasks that may run at once.
    pub fn upper_bound(&self) -> u32 {
        self.desired * self.maximum_percent / 100
    }
}

/// What the settings do not say: how long the platform and the application take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimates {
    /// From the scheduler's decision to a RUNNING task registered in its target group
    /// (placement, image pull, start).
    pub task_start: Duration,
    /// Whether the first health check runs as the target registers (local-ecs) rather than
    /// one interval later (ELBv2).
    pub first_check_at_once: bool,
    /// How long the application takes to exit on SIGTERM (at most `stopTimeout`).
    pub exit_on_sigterm: Duration,
    /// From the last task change to the watch seeing the outcome (ECS's bookkeeping and
    /// the poll interval).
    pub outcome_seen: Duration,
    /// How long one of the service's minutes (bakes, steps) lasts: 60 s on AWS; local-ecs
    /// runs them faster (`serve --minute-seconds`).
    pub minute: Duration,
}

impl Estimates {
    /// Fargate on AWS: about 40 s to pull and start a small image, checks every interval, a
    /// poll every 5 s at most.
    pub fn aws() -> Estimates {
        Estimates {
            task_start: Duration::from_secs(40),
            first_check_at_once: false,
            exit_on_sigterm: Duration::from_secs(1),
            outcome_seen: Duration::from_secs(5),
            minute: Duration::from_secs(60),
        }
    }

    /// local-ecs: a process started from the local registry, the first check at once; the
    /// figures measured with `cargo xtask bench plan` (the exit includes the runner reaping
    /// it; the outcome is seen within a 1 s poll, 0.8 s on average); a minute lasts a
    /// second, as `cargo xtask` starts local-ecs (callers with another scale set `minute`).
    pub fn local() -> Estimates {
        Estimates {
            task_start: Duration::from_millis(300),
            first_check_at_once: true,
            exit_on_sigterm: Duration::from_millis(400),
            outcome_seen: Duration::from_millis(800),
            minute: Duration::from_secs(1),
        }
    }
}

/// Where the time of a roll goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Placing, pulling and starting new tasks.
    TaskStart,
    /// Health checks until new targets are healthy.
    HealthChecks,
    /// Old targets draining for the deregistration delay.
    DeregistrationDelay,
    /// Old containers exiting after SIGTERM.
    Stopping,
    /// ECS recording the outcome and the watch seeing it.
    OutcomeSeen,
    /// Linear and canary: the bakes between production traffic shifts.
    StepBakes,
    /// Blue/green, linear and canary: `bakeTimeInMinutes` after the last shift.
    BakeTime,
}

const CAUSES: [Cause; 7] = [
    Cause::TaskStart,
    Cause::HealthChecks,
    Cause::DeregistrationDelay,
    Cause::Stopping,
    Cause::OutcomeSeen,
    Cause::StepBakes,
    Cause::BakeTime,
];

/// Seconds per cause along one chain of waits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Path([f64; 7]);

impl Path {
    fn plus(mut self, cause: Cause, d: Duration) -> Path {
        self.0[cause as usize] += d.as_secs_f64();
        self
    }
}

/// When the roll reaches each milestone, in seconds since UpdateService.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Milestones {
    /// Every new task RUNNING.
    pub new_running: f64,
    /// Every new task healthy (in service).
    pub new_healthy: f64,
    /// No old task left.
    pub old_gone: f64,
    /// The outcome seen: the roll stage's end.
    pub completed: f64,
}

impl Milestones {
    /// (name, seconds) in order, as the reports name them.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("new tasks running", self.new_running),
            ("new tasks healthy", self.new_healthy),
            ("old tasks gone", self.old_gone),
            ("completed", self.completed),
        ]
    }
}

/// A predicted roll.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The settings it was made from.
    pub settings: RollSettings,
    /// Seconds from UpdateService to the outcome seen.
    pub total: f64,
    /// Where the time goes along the longest chain of waits, largest first, with why.
    pub causes: Vec<(Cause, f64, String)>,
    /// Rounds of new tasks started.
    pub waves: u32,
    /// When each milestone is reached.
    pub milestones: Milestones,
}

/// Why a roll cannot be predicted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unpredictable {
    /// The bounds let nothing start or stop: ECS stalls the deployment.
    #[error(
        "the deployment stalls: with desired {desired}, minimum {min}% and maximum {max}% no task may start or stop"
    )]
    Stalls {
        /// Desired count.
        desired: u32,
        /// minimumHealthyPercent.
        min: u32,
        /// maximumPercent.
        max: u32,
    },
}

/// Something that finishes later in the simulation.
#[derive(Debug, Clone, Copy)]
struct Pending {
    at: f64,
    what: Step,
    path: Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    NewRunning,
    NewHealthy,
    OldGone,
}

/// The tasks of a roll in progress.
#[derive(Debug, Default)]
struct Fleet {
    old_serving: u32,
    old_stopping: u32,
    new_starting: u32,
    new_healthy: u32,
}

/// Predicts the roll `settings` describe (a pure function: no clock, no AWS).
pub fn predict(
    settings: &RollSettings,
    estimates: &Estimates,
) -> Result<Prediction, Unpredictable> {
    if let Some(staged) = &settings.staged {
        return Ok(predict_staged(settings, staged, estimates));
    }
    let (start, health, drain, stop) = step_costs(settings, estimates);
    let (lower, upper, desired) = (
        settings.lower_bound(),
        settings.upper_bound(),
        settings.desired,
    );
    let mut fleet = Fleet {
        old_serving: settings.old_tasks,
        ..Fleet::default()
    };
    let (mut now, mut path, mut waves) = (0.0, Path::default(), 0);
    let mut last_wave = None;
    let mut pending: Vec<Pending> = Vec::new();
    let mut milestones = Milestones::default();
    loop {
        let running =
            fleet.old_serving + fleet.old_stopping + fleet.new_starting + fleet.new_healthy;
        let starts =
            (desired - fleet.new_starting - fleet.new_healthy).min(upper.saturating_sub(running));
        if starts > 0 {
            // Tasks started at the same moment are one wave.
            if last_wave != Some(now) {
                waves += 1;
                last_wave = Some(now);
            }
            fleet.new_starting += starts;
            let running_path = path.plus(Cause::TaskStart, start);
            let healthy_path = running_path.plus(Cause::HealthChecks, health);
            for _ in 0..starts {
                pending.push(Pending {
                    at: now + start.as_secs_f64(),
                    what: Step::NewRunning,
                    path: running_path,
                });
                pending.push(Pending {
                    at: now + (start + health).as_secs_f64(),
                    what: Step::NewHealthy,
                    path: healthy_path,
                });
            }
        }
        let stops = fleet
            .old_serving
            .saturating_sub(lower.saturating_sub(fleet.new_healthy));
        if stops > 0 {
            fleet.old_serving -= stops;
            fleet.old_stopping += stops;
            let gone_path = path
                .plus(Cause::DeregistrationDelay, drain)
                .plus(Cause::Stopping, stop);
            for _ in 0..stops {
                pending.push(Pending {
                    at: now + (drain + stop).as_secs_f64(),
                    what: Step::OldGone,
                    path: gone_path,
                });
            }
        }
        let Some(next) = take_earliest(&mut pending) else {
            break;
        };
        (now, path) = (next.at, next.path);
        match next.what {
            Step::NewRunning => milestones.new_running = now,
            Step::NewHealthy => {
                fleet.new_starting -= 1;
                fleet.new_healthy += 1;
                milestones.new_healthy = now;
            }
            Step::OldGone => {
                fleet.old_stopping -= 1;
                milestones.old_gone = now;
            }
        }
    }
    if fleet.new_healthy < desired || fleet.old_serving + fleet.old_stopping > 0 {
        return Err(Unpredictable::Stalls {
            desired,
            min: settings.minimum_healthy_percent,
            max: settings.maximum_percent,
        });
    }
    let path = path.plus(Cause::OutcomeSeen, estimates.outcome_seen);
    milestones.completed = now + estimates.outcome_seen.as_secs_f64();
    Ok(Prediction {
        settings: settings.clone(),
        total: milestones.completed,
        causes: explain(&path, settings, estimates, waves),
        waves,
        milestones,
    })
}

/// Blue/green, linear, canary: every green task starts at once (whatever maximumPercent
/// says), traffic moves once green is healthy, each shift but the last is followed by its
/// bake, then the bake time, then blue drains and stops in CLEAN_UP. Time a PAUSE hook holds
/// the deployment (the test-traffic gate's verification) is not in it.
fn predict_staged(s: &RollSettings, staged: &StagedShift, e: &Estimates) -> Prediction {
    let (start, health, drain, stop) = step_costs(s, e);
    let step_bakes = e.minute * staged.step_bake_minutes * staged.shifts.saturating_sub(1);
    let bake = e.minute * staged.bake_minutes;
    let path = Path::default()
        .plus(Cause::TaskStart, start)
        .plus(Cause::HealthChecks, health)
        .plus(Cause::StepBakes, step_bakes)
        .plus(Cause::BakeTime, bake);
    let at = |p: &Path| p.0.iter().sum::<f64>();
    let path = path
        .plus(Cause::DeregistrationDelay, drain)
        .plus(Cause::Stopping, stop);
    let old_gone = at(&path);
    let path = path.plus(Cause::OutcomeSeen, e.outcome_seen);
    let milestones = Milestones {
        new_running: start.as_secs_f64(),
        new_healthy: (start + health).as_secs_f64(),
        old_gone,
        completed: at(&path),
    };
    Prediction {
        settings: s.clone(),
        total: milestones.completed,
        causes: explain(&path, s, e, 1),
        waves: 1,
        milestones,
    }
}

/// (task start, health checks, drain, stop) for one task.
fn step_costs(s: &RollSettings, e: &Estimates) -> (Duration, Duration, Duration, Duration) {
    if !s.load_balanced {
        return (
            e.task_start,
            Duration::ZERO,
            Duration::ZERO,
            e.exit_on_sigterm.min(s.stop_timeout),
        );
    }
    let checks = if e.first_check_at_once {
        s.healthy_threshold.saturating_sub(1)
    } else {
        s.healthy_threshold
    };
    (
        e.task_start,
        s.health_check_interval * checks,
        s.deregistration_delay,
        e.exit_on_sigterm.min(s.stop_timeout),
    )
}

/// The earliest pending step, removed (ties: the first pushed).
fn take_earliest(pending: &mut Vec<Pending>) -> Option<Pending> {
    let index = (0..pending.len()).min_by(|&a, &b| pending[a].at.total_cmp(&pending[b].at))?;
    Some(pending.remove(index))
}

/// The causes along `path`, largest first, each with its reason.
fn explain(path: &Path, s: &RollSettings, e: &Estimates, waves: u32) -> Vec<(Cause, f64, String)> {
    let mut causes: Vec<(Cause, f64, String)> = CAUSES
        .iter()
        .map(|&cause| (cause, path.0[cause as usize]))
        .filter(|(_, secs)| *secs > 0.0)
        .map(|(cause, secs)| {
            let times = (secs / step_seconds(cause, s, e)).round().max(1.0) as u32;
            (cause, secs, reason(cause, s, e, times, waves))
        })
        .collect();
    causes.sort_by(|a, b| b.1.total_cmp(&a.1));
    causes
}

fn step_seconds(cause: Cause, s: &RollSettings, e: &Estimates) -> f64 {
    let (start, health, drain, stop) = step_costs(s, e);
    match cause {
        Cause::TaskStart => start,
        Cause::HealthChecks => health,
        Cause::DeregistrationDelay => drain,
        Cause::Stopping => stop,
        Cause::OutcomeSeen => e.outcome_seen,
        // Said as a whole ("3 bakes of 6 min"), never as a multiple.
        Cause::StepBakes | Cause::BakeTime => Duration::MAX,
    }
    .as_secs_f64()
    .max(f64::EPSILON)
}

fn reason(cause: Cause, s: &RollSettings, e: &Estimates, times: u32, waves: u32) -> String {
    let rounds = if times > 1 {
        format!(" × {times}")
    } else {
        String::new()
    };
    match cause {
        Cause::TaskStart => format!(
            "starting new tasks (about {} each, an estimate){rounds}; {waves} wave{} of new tasks",
            secs(e.task_start.as_secs_f64()),
            if waves == 1 { "" } else { "s" }
        ),
        Cause::HealthChecks => format!(
            "health checks: {} passes {} apart{rounds}{}",
            s.healthy_threshold,
            setting(s.health_check_interval),
            if s.grace_period.is_zero() {
                String::new()
            } else {
                format!(
                    " (the {} grace period costs nothing while checks pass)",
                    setting(s.grace_period)
                )
            }
        ),
        Cause::DeregistrationDelay => format!(
            "the {} deregistration delay{rounds}",
            setting(s.deregistration_delay)
        ),
        Cause::Stopping => format!(
            "old containers exiting on SIGTERM (estimated {}, at most the {} stopTimeout){rounds}",
            secs(e.exit_on_sigterm.min(s.stop_timeout).as_secs_f64()),
            setting(s.stop_timeout)
        ),
        Cause::OutcomeSeen => "ECS recording the outcome and the watch seeing it".into(),
        Cause::StepBakes => {
            let staged = s.staged.as_ref();
            let bakes = staged.map_or(0, |st| st.shifts.saturating_sub(1));
            format!(
                "{bakes} bake{} of {} min between production traffic shifts",
                if bakes == 1 { "" } else { "s" },
                staged.map_or(0, |st| st.step_bake_minutes),
            )
        }
        Cause::BakeTime => format!(
            "the {} min bake time after the last shift (blue keeps running)",
            s.staged.as_ref().map_or(0, |st| st.bake_minutes)
        ),
    }
}

/// A setting as it is set: "300 s", "0.5 s".
fn setting(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// "340 s" → "5 min 40 s"; under a minute "12 s" or "1.5 s".
pub fn secs(seconds: f64) -> String {
    if seconds >= 60.0 {
        let whole = seconds.round() as u64;
        match whole % 60 {
            0 => format!("{} min", whole / 60),
            s => format!("{} min {s} s", whole / 60),
        }
    } else if seconds >= 10.0 || seconds.fract() == 0.0 {
        format!("{} s", seconds.round())
    } else {
        format!("{seconds:.1} s")
    }
}

impl fmt::Display for Prediction {
    /// "about 5 min 40 s, 5 min of it the 300 s deregistration delay (1 wave)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "about {}", secs(self.total))?;
        if let Some((_, biggest, why)) = self.causes.first() {
            write!(f, ", {} of it {why}", secs(*biggest))?;
        }
        Ok(())
    }
}
