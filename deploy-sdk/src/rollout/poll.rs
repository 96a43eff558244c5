//! When to poll next, within a budget of `DescribeServices` calls per minute.
//!
//! The budget `B` (default 20 in any 60 s) is split in two:
//! - **normal polls** draw from a token bucket refilled at an even pace. It starts with
//!   `eager` tokens (6: a poll each `min` right after the update, when a short rollout, like a
//!   local one, already ends) and holds at most `burst` (3: a quick follow-up when something
//!   changes after a quiet spell) once they are spent. In any 60 s normal polls make at most
//!   `B − reserve` calls (`burst` + the refills); the watch's first minute may make
//!   `eager − burst` more. Under constant change that is one poll every 5 s with the
//!   defaults, never a burst followed by a long silence;
//! - the **reserve** (`B / 4`, 5 by default) is spent only in the end game around an expected
//!   end (the old targets' drain ETA, the end of a steady window): a poll every `min` from
//!   `min` before the ETA to `(reserve − 2) × min` after it, so an outcome ECS records then is
//!   seen within `min`.
//!
//! Whatever the split, no poll starts while `B` attempts (SDK retries and other watches
//! sharing the [`CallBudget`] included) lie in the last 60 s.

use std::time::Duration;

use tokio::time::Instant;

use super::budget::{CallBudget, WINDOW};
use crate::error::{Error, Result};

/// What the last poll saw, for the planner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollSignal {
    /// Anything changed: the table, target health, new events or stopped tasks.
    pub changed: bool,
    /// Our tasks are all up and the old ones are going: the outcome is near.
    pub endgame: bool,
    /// When the outcome is expected (old targets finish draining, a steady window ends).
    pub eta: Option<Instant>,
}

/// Polls right after the update that run at the shortest interval.
const EAGER_POLLS: u32 = 6;
/// Tokens the bucket holds once the eager start is spent.
const BURST: usize = 3;
/// How long an end game without an ETA asks for the shortest interval before backing off.
const ENDGAME_EAGER: Duration = Duration::from_secs(15);
/// The smallest budget that leaves room for a reserve and a bucket.
pub const MIN_DESCRIBES_PER_MINUTE: u32 = 4;

/// Decides how long to wait before the next poll (see the module's documentation).
#[derive(Debug)]
pub struct PollPlanner {
    min: Duration,
    max: Duration,
    current: Duration,
    polls: u32,
    limit: usize,
    reserve: usize,
    burst: f64,
    refill: Duration,
    tokens: f64,
    refilled_at: Option<Instant>,
    endgame_since: Option<Instant>,
    next_in_endgame: bool,
    budget: CallBudget,
}

impl PollPlanner {
    /// A planner for the given bounds and budget of calls per minute, counting calls in
    /// `budget`. Refuses a zero `min`, a `max` below `min` and a budget under
    /// [`MIN_DESCRIBES_PER_MINUTE`].
    pub fn new(
        min: Duration,
        max: Duration,
        per_minute: u32,
        budget: CallBudget,
    ) -> Result<PollPlanner> {
        let invalid = |problem: String| Error::InvalidInput {
            what: "watch options".into(),
            problem,
        };
        if min.is_zero() {
            return Err(invalid("min_interval must be more than zero".into()));
        }
        if max < min {
            return Err(invalid(format!(
                "max_interval ({max:?}) is below min_interval ({min:?})"
            )));
        }
        if per_minute < MIN_DESCRIBES_PER_MINUTE {
            return Err(invalid(format!(
                "max_describes_per_minute must be at least {MIN_DESCRIBES_PER_MINUTE}, not {per_minute}"
            )));
        }
        let limit = per_minute as usize;
        let reserve = limit / 4;
        let normal = limit - reserve;
        let burst = BURST.min(normal / 3).max(1);
        let eager = (EAGER_POLLS as usize).min(normal / 2).max(burst);
        let refills = (normal - burst).max(1) as u32;
        Ok(PollPlanner {
            min,
            max,
            current: min,
            polls: 0,
            limit,
            reserve,
            burst: burst as f64,
            refill: WINDOW / refills,
            tokens: eager as f64,
            refilled_at: None,
            endgame_since: None,
            next_in_endgame: false,
            budget,
        })
    }

    /// The budget the planner counts calls in.
    pub fn budget(&self) -> &CallBudget {
        &self.budget
    }

    /// Polls made so far.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// A poll starts at `now` (its attempts are recorded in the budget by whoever makes them).
    pub fn polled(&mut self, now: Instant) {
        self.polls += 1;
        self.refill_to(now);
        if !self.next_in_endgame {
            // May go below zero when a poll came early: the next one waits longer.
            self.tokens -= 1.0;
        }
        self.next_in_endgame = false;
    }

    /// The pause before the next poll.
    pub fn next_delay(&mut self, now: Instant, signal: PollSignal) -> Duration {
        self.refill_to(now);
        let desired = self.desired(now, signal);
        let zone = signal
            .eta
            .map(|eta| (eta.checked_sub(self.min).unwrap_or(eta), eta + self.tail()));
        let in_zone = |t: Instant| zone.is_some_and(|(from, to)| t >= from && t <= to);
        let mut at = now + desired;
        if !in_zone(at) {
            let paced = at.max(self.token_at(now));
            at = match zone {
                // Waiting for a token would skip the end game: start it on time instead.
                Some((from, _)) if at < from && paced > from => from,
                _ => paced,
            };
        }
        self.next_in_endgame = in_zone(at);
        self.budget
            .free_at(at, self.limit)
            .saturating_duration_since(now)
    }

    /// The interval the signal asks for, before the budget has its say.
    fn desired(&mut self, now: Instant, signal: PollSignal) -> Duration {
        let endgame_for = match (signal.endgame, self.endgame_since) {
            (true, Some(since)) => now.duration_since(since),
            (true, None) => {
                self.endgame_since = Some(now);
                Duration::ZERO
            }
            (false, _) => {
                self.endgame_since = None;
                Duration::ZERO
            }
        };
        self.current = if self.polls <= EAGER_POLLS || signal.changed {
            self.min
        } else if let Some(eta) = signal.eta {
            // Sleep until just before the expected end, then poll at the shortest interval.
            eta.saturating_duration_since(now)
                .saturating_sub(self.min)
                .clamp(self.min, self.max)
        } else if signal.endgame && endgame_for < ENDGAME_EAGER {
            self.min
        } else {
            self.current.mul_f64(1.5).clamp(self.min, self.max)
        };
        self.current
    }

    /// How long after an ETA the end game goes on polling every `min`.
    fn tail(&self) -> Duration {
        self.min * self.reserve.saturating_sub(2) as u32
    }

    fn refill_to(&mut self, now: Instant) {
        if let Some(at) = self.refilled_at {
            let gained =
                now.saturating_duration_since(at).as_secs_f64() / self.refill.as_secs_f64();
            // Tokens of the eager start above the burst are spent, never refilled.
            if self.tokens < self.burst {
                self.tokens = (self.tokens + gained).min(self.burst);
            }
        }
        self.refilled_at = Some(now);
    }

    /// When the bucket holds a whole token again.
    fn token_at(&self, now: Instant) -> Instant {
        if self.tokens >= 1.0 {
            now
        } else {
            now + self.refill.mul_f64(1.0 - self.tokens)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner() -> PollPlanner {
        PollPlanner::new(
            Duration::from_secs(1),
            Duration::from_secs(5),
            20,
            CallBudget::new(),
        )
        .unwrap()
    }

    /// One simulated poll: recorded in the budget as the watch's interceptor would.
    fn poll(planner: &mut PollPlanner, now: Instant) {
        planner.budget().record(now);
        planner.polled(now);
    }

    /// Simulates a watch that sees the same signal throughout, on a virtual clock.
    fn run_for(
        planner: &mut PollPlanner,
        start: Instant,
        for_secs: u64,
        signal: PollSignal,
    ) -> Vec<Duration> {
        let mut now = start;
        let mut offsets = Vec::new();
        while now < start + Duration::from_secs(for_secs) {
            poll(planner, now);
            offsets.push(now - start);
            now += planner.next_delay(now, signal);
        }
        offsets
    }

    fn most_in_a_minute(calls: &[Duration]) -> usize {
        calls
            .iter()
            .enumerate()
            .map(|(i, t)| calls[i..].iter().take_while(|u| **u < *t + WINDOW).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn bad_bounds_are_refused() {
        let new = |min: u64, max: u64, per_minute| {
            PollPlanner::new(
                Duration::from_millis(min),
                Duration::from_millis(max),
                per_minute,
                CallBudget::new(),
            )
        };
        for (min, max, per_minute, says) in [
            (0, 5000, 20, "more than zero"),
            (2000, 1000, 20, "below min_interval"),
            (1000, 5000, 3, "at least 4"),
        ] {
            let err = new(min, max, per_minute).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
        assert!(new(1, 1, 4).is_ok());
    }

    #[test]
    fn polls_eagerly_then_backs_off_to_the_maximum() {
        let mut planner = planner();
        let calls = run_for(&mut planner, Instant::now(), 120, PollSignal::default());
        let gaps: Vec<f64> = calls
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        assert_eq!(
            &gaps[..2],
            &[1.0, 1.0],
            "each second right after the update"
        );
        assert!(gaps.iter().all(|g| *g <= 5.0), "{gaps:?}");
        assert!(gaps[gaps.len() - 5..].iter().all(|g| *g == 5.0), "{gaps:?}");
        assert!(most_in_a_minute(&calls) <= 20);
    }

    #[test]
    fn constant_change_is_paced_evenly_within_the_budget() {
        let mut planner = planner();
        let changing = PollSignal {
            changed: true,
            ..PollSignal::default()
        };
        let calls = run_for(&mut planner, Instant::now(), 180, changing);
        let gaps: Vec<f64> = calls
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        // Normal polls keep the reserve free: at most 15 in any minute once the eager start
        // (6 polls each second, 3 more than the burst) is spent; never a long silence.
        assert_eq!(
            &calls[..6],
            &(0..6).map(Duration::from_secs).collect::<Vec<_>>()
        );
        assert!(most_in_a_minute(&calls) <= 18, "{calls:?}");
        assert!(most_in_a_minute(&calls[6..]) <= 15, "{calls:?}");
        assert!(gaps.iter().all(|g| *g <= 5.0 + 1e-9), "{gaps:?}");
        // The burst, then one every 5 s: the normal share of the budget, used.
        assert!(
            calls.len() >= 3 + 180 / 5 - 1,
            "the budget is used: {}",
            calls.len()
        );
    }

    #[test]
    fn the_end_game_polls_each_second_around_the_expected_end() {
        let mut planner = planner();
        let start = Instant::now();
        run_for(&mut planner, start, 30, PollSignal::default());
        // Old targets drain for 12 s from now: sleep, then poll each
        // second from a second before the end to three after it.
        let now = start + Duration::from_secs(30);
        let eta = now + Duration::from_secs(12);
        let signal = PollSignal {
            endgame: true,
            eta: Some(eta),
            ..PollSignal::default()
        };
        let mut t = now;
        let mut at = Vec::new();
        while t < eta + Duration::from_secs(3) {
            poll(&mut planner, t);
            t += planner.next_delay(t, signal);
            at.push((t - now).as_secs_f64());
        }
        // Sleeps (a quiet spell's pace, a token's wait) before the end game.
        assert!((5.0..11.0).contains(&at[0]), "{at:?}");
        for expected in [11.0, 12.0, 13.0, 14.0, 15.0] {
            assert!(at.contains(&expected), "a poll at {expected}: {at:?}");
        }
    }

    #[test]
    fn retries_and_other_watches_count_against_the_budget() {
        let mut planner = planner();
        let start = Instant::now();
        // Another watch sharing the budget made 20 attempts in the last 10 s.
        for s in 0..20 {
            planner
                .budget()
                .record(start + Duration::from_millis(500 * s));
        }
        let now = start + Duration::from_secs(10);
        poll(&mut planner, now);
        let delay = planner.next_delay(now, PollSignal::default());
        assert!(
            now + delay >= start + Duration::from_secs(60),
            "waits until the oldest attempts leave the window: {delay:?}"
        );
    }

    /// A 10-minute rollout that changes on every poll, with a batch of old targets draining
    /// every two minutes (the ETA known from the deregistration delay once a poll sees the
    /// drain begin); the last drain's end is when ECS records the outcome, up to 3 s late.
    #[test]
    fn a_ten_minute_rollout_keeps_the_budget_and_sees_the_end_promptly() {
        let drains = [100.0, 220.0, 340.0, 460.0, 570.0];
        let delay = 20.0;
        for late in [0.0, 0.4, 1.0, 1.7, 2.5, 3.0] {
            let end = drains[drains.len() - 1] + delay + late;
            let mut planner = planner();
            let start = Instant::now();
            let at = |s: f64| start + Duration::from_secs_f64(s);
            let mut t = 0.0;
            let mut calls = Vec::new();
            loop {
                poll(&mut planner, at(t));
                calls.push(Duration::from_secs_f64(t));
                if t >= end {
                    assert!(
                        t - end <= 1.5,
                        "late {late}: outcome seen {:.2}s after",
                        t - end
                    );
                    break;
                }
                // The newest drain that began by now, while its batch is not done.
                let drain = drains
                    .iter()
                    .rev()
                    .find(|d| **d <= t && t < **d + delay + 3.0)
                    .copied();
                let signal = PollSignal {
                    changed: true,
                    endgame: drain.is_some(),
                    eta: drain.map(|d| at(d + delay)),
                };
                t += planner.next_delay(at(t), signal).as_secs_f64();
                assert!(t < 700.0, "never saw the end");
            }
            assert!(
                most_in_a_minute(&calls) <= 20,
                "late {late}: {} calls in a minute",
                most_in_a_minute(&calls)
            );
            let secs: Vec<f64> = calls.iter().map(Duration::as_secs_f64).collect();
            let near_end = secs.windows(2).filter(|w| w[1] > end - 30.0);
            for w in near_end {
                assert!(w[1] - w[0] <= 5.0 + 1e-9, "late {late}: a gap of {:?}", w);
            }
        }
    }
}
