//! Proof through the load balancer that the new build serves, and finding where to ask.
//!
//! [`verify`] asks the URL again and again, each request on a fresh connection, and counts
//! old, new and failed answers per second. The deployment is proven when both hold:
//! - **a streak**: `max(consecutive, streak_per_target × N)` new answers in a row, N being the
//!   most targets in service target health showed (defaults: 10 and 3). With one old target
//!   among N, a round-robin load balancer sends it one request in every N, so 3N in a row
//!   cannot miss it; with random routing a streak of 3N misses it with probability
//!   (1 − 1/N)^3N < e⁻³ ≈ 5 %. That is why the streak alone proves nothing and:
//! - **target health**: a reading taken since the streak began shows no target of another
//!   deployment in service (healthy, initial, unhealthy — draining targets get no new
//!   requests), so no old task can answer any more ([`Fleet`], [`ServiceFleet`]).
//!
//! A host-header rule routes on the name a request carries: [`VerifyOptions::host`] names it
//! (`Host` and TLS SNI) while connecting to the load balancer's address
//! ([`discover_endpoint`] finds it in the rule). Bodies are read up to
//! [`VerifyOptions::max_body_bytes`] (64 KiB): the rest is not read, and text past it is not
//! matched.

mod discover;
mod expect;
mod fleet;
mod http;
mod report;
mod traffic;

use std::time::Duration;

use tokio::time::Instant;

pub use discover::{
    Endpoint, discover_endpoint, discover_test_endpoint, discover_url, forwards_to, listener_url,
    rule_host,
};
pub use expect::Expectation;
pub use fleet::{Fleet, FleetHealth, FleetSource, ServiceFleet};
pub use report::{Answer, SecondCounts, VerifyReport};
pub use traffic::{TrafficOptions, TrafficReport, sample_traffic};

use crate::error::{Error, Result};
use http::Prober;

/// How verification polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The fewest consecutive new answers that prove the rollout (default 10; at least 1).
    pub consecutive: u32,
    /// Consecutive new answers required per target in service (default 3; 0: no scaling).
    pub streak_per_target: u32,
    /// Pause between requests (default 100 ms).
    pub interval: Duration,
    /// Give up after this long (default 2 minutes).
    pub timeout: Duration,
    /// Per-request timeout, connecting and reading included (default 5 s).
    pub request_timeout: Duration,
    /// How often target health is read again (default 5 s); it is also read when a streak
    /// is complete and the last reading is older than the streak.
    pub target_health_interval: Duration,
    /// The host name to send (`Host`, TLS SNI) while connecting to the URL's address: the
    /// name a host-header rule routes on. `None`: the URL's host.
    pub host: Option<String>,
    /// Bytes of a body read at most (default 64 KiB). A longer body is cut there, not an
    /// error; [`Expectation::body_contains`] is looked for in what was read.
    pub max_body_bytes: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            consecutive: 10,
            streak_per_target: 3,
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(5),
            target_health_interval: Duration::from_secs(5),
            host: None,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl VerifyOptions {
    /// New answers in a row required with `targets` in service:
    /// `max(consecutive, streak_per_target × targets)`.
    pub fn required_streak(&self, targets: u32) -> u32 {
        self.consecutive
            .max(self.streak_per_target.saturating_mul(targets))
    }

    fn check(&self, url: &str) -> Result<()> {
        let invalid = |what: String, problem: &str| Error::InvalidInput {
            what,
            problem: problem.into(),
        };
        if self.consecutive == 0 {
            // Zero in a row would be met by the first answer, even an error.
            return Err(invalid(
                "verification".into(),
                "consecutive new answers must be at least 1",
            ));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                format!("URL {url:?}"),
                "must start with http:// or https://",
            ));
        }
        Ok(())
    }
}

/// Polls `url` until the new build is proven (see the [module](self) docs) or the timeout.
/// `fleet` tells which targets are in service; `on_answer` sees each answer with the running
/// totals (for live progress). Returns the report either way; call
/// [`VerifyReport::into_result`] to fail on no convergence. Fails early on bad input, and
/// when target health cannot be read for a reason retrying will not fix (access denied).
pub async fn verify<F: Fleet>(
    url: &str,
    expect: &Expectation,
    options: &VerifyOptions,
    fleet: &mut F,
    mut on_answer: impl FnMut(&Answer, &SecondCounts),
) -> Result<VerifyReport> {
    expect.check()?;
    options.check(url)?;
    let prober = Prober::new(url, expect, options)?;
    let started = Instant::now();
    let mut run = Run::new(url, options);
    while started.elapsed() < options.timeout {
        if run.health_due(started.elapsed(), options) {
            run.read_health(fleet, started.elapsed(), options).await?;
        }
        let asked = started.elapsed();
        let answer = prober.ask(expect).await;
        let at = started.elapsed();
        run.record(&answer, asked, at);
        on_answer(&answer, &run.report.totals);
        if run.streak_complete() {
            if run.health_predates_streak() {
                run.read_health(fleet, started.elapsed(), options).await?;
            }
            if run.proven() {
                run.report.converged = true;
                run.report.converged_after = Some(at);
                break;
            }
        }
        tokio::time::sleep(options.interval).await;
    }
    run.report.elapsed = started.elapsed();
    Ok(run.report)
}

/// A verification in progress: the report, the current streak and the target-health readings.
struct Run {
    report: VerifyReport,
    streak: u32,
    /// When the first request of the current streak was sent.
    streak_since: Duration,
    /// When the last successful reading of target health started.
    read_at: Option<Duration>,
    /// When the last attempt to read it started.
    tried_at: Option<Duration>,
}

impl Run {
    fn new(url: &str, options: &VerifyOptions) -> Run {
        Run {
            report: VerifyReport {
                url: url.to_owned(),
                host: options.host.clone(),
                required: options.required_streak(0),
                targets: 0,
                target_health: None,
                target_health_errors: Default::default(),
                converged: false,
                longest_streak: 0,
                first_new_after: None,
                converged_after: None,
                elapsed: Duration::ZERO,
                totals: SecondCounts::default(),
                per_second: Vec::new(),
                old_builds: Default::default(),
                errors: Default::default(),
            },
            streak: 0,
            streak_since: Duration::ZERO,
            read_at: None,
            tried_at: None,
        }
    }

    fn health_due(&self, now: Duration, options: &VerifyOptions) -> bool {
        self.tried_at
            .is_none_or(|tried| now.saturating_sub(tried) >= options.target_health_interval)
    }

    /// Reads target health; a transient failure is counted and retried at the next reading.
    async fn read_health<F: Fleet>(
        &mut self,
        fleet: &mut F,
        now: Duration,
        options: &VerifyOptions,
    ) -> Result<()> {
        self.tried_at = Some(now);
        match fleet.observe().await {
            Ok(health) => {
                self.read_at = Some(now);
                self.report.targets = self.report.targets.max(health.in_service);
                self.report.required = options.required_streak(self.report.targets);
                self.report.target_health = Some(health);
                Ok(())
            }
            Err(err) if err.is_transient() => {
                *self
                    .report
                    .target_health_errors
                    .entry(err.to_string())
                    .or_default() += 1;
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    fn record(&mut self, answer: &Answer, asked: Duration, at: Duration) {
        self.report.count(answer, at);
        if *answer == Answer::New {
            if self.streak == 0 {
                self.streak_since = asked;
            }
            self.streak += 1;
            self.report.longest_streak = self.report.longest_streak.max(self.streak);
        } else {
            self.streak = 0;
        }
    }

    fn streak_complete(&self) -> bool {
        self.streak >= self.report.required
    }

    /// Whether no reading has been tried since the streak began.
    fn health_predates_streak(&self) -> bool {
        self.tried_at.is_none_or(|tried| tried < self.streak_since)
    }

    /// The streak is complete and a reading taken since it began shows no other target.
    fn proven(&self) -> bool {
        self.streak_complete()
            && self.read_at.is_some_and(|read| read >= self.streak_since)
            && self
                .report
                .target_health
                .is_some_and(|h| h.others_in_service == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streak_scales_with_the_targets() {
        let options = VerifyOptions::default();
        assert_eq!(options.required_streak(0), 10);
        assert_eq!(options.required_streak(3), 10);
        assert_eq!(options.required_streak(4), 12);
        assert_eq!(options.required_streak(40), 120);
        let unscaled = VerifyOptions {
            streak_per_target: 0,
            ..options
        };
        assert_eq!(unscaled.required_streak(40), 10);
    }
}
