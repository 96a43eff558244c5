//! What verification saw: each answer classified, counted per second, and the verdict with
//! the figures it rests on.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::FleetHealth;
use crate::error::{Error, Result};

/// One answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// From the new build.
    New,
    /// A success from another build.
    Old {
        /// The build it named in the expected header, if any.
        build: Option<String>,
    },
    /// Not a success: status code or transport error.
    Error(String),
}

/// Answers in one second of the verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondCounts {
    /// From the new build.
    pub new: u32,
    /// From another build.
    pub old: u32,
    /// Failures.
    pub errors: u32,
}

/// What verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The URL polled.
    pub url: String,
    /// The host name sent (`Host`, TLS SNI) instead of the URL's, if any.
    pub host: Option<String>,
    /// Consecutive new answers required: `max(consecutive, streak_per_target × targets)`
    /// (see [`super::VerifyOptions::required_streak`]).
    pub required: u32,
    /// The most targets in service any reading of target health showed: what `required`
    /// was scaled to (0 before the first reading).
    pub targets: u32,
    /// The last reading of target health, if one succeeded.
    pub target_health: Option<FleetHealth>,
    /// Readings of target health that failed (transiently: retried), with counts.
    pub target_health_errors: BTreeMap<String, u32>,
    /// Whether `required` new answers came in a row and a reading of target health taken
    /// since the first of them showed no target of another deployment in service.
    pub converged: bool,
    /// The longest run of new answers.
    pub longest_streak: u32,
    /// Time to the first new answer.
    pub first_new_after: Option<Duration>,
    /// Time to the answer that completed the proof.
    pub converged_after: Option<Duration>,
    /// How long verification ran.
    pub elapsed: Duration,
    /// Totals.
    pub totals: SecondCounts,
    /// Per second since the start.
    pub per_second: Vec<SecondCounts>,
    /// Other builds seen, with counts (from the expected header).
    pub old_builds: BTreeMap<String, u32>,
    /// Distinct error descriptions, with counts.
    pub errors: BTreeMap<String, u32>,
}

impl VerifyReport {
    /// `Ok` when converged, else [`Error::VerificationFailed`] with the figures.
    pub fn into_result(self) -> Result<VerifyReport> {
        if self.converged {
            Ok(self)
        } else {
            Err(Error::VerificationFailed {
                url: self.url.clone(),
                reason: self.to_string(),
            })
        }
    }

    /// Counts `answer`, given at `at` since the start.
    pub(super) fn count(&mut self, answer: &Answer, at: Duration) {
        let second = at.as_secs() as usize;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, SecondCounts::default());
        }
        let bucket = &mut self.per_second[second];
        match answer {
            Answer::New => {
                bucket.new += 1;
                self.totals.new += 1;
                self.first_new_after.get_or_insert(at);
            }
            Answer::Old { build } => {
                bucket.old += 1;
                self.totals.old += 1;
                let build = build.clone().unwrap_or_else(|| "unknown".into());
                *self.old_builds.entry(build).or_default() += 1;
            }
            Answer::Error(error) => {
                bucket.errors += 1;
                self.totals.errors += 1;
                *self.errors.entry(error.clone()).or_default() += 1;
            }
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        if self.converged {
            write!(f, "new build answered {} times in a row", self.required)?;
        } else {
            write!(
                f,
                "no convergence within {:.1}s",
                self.elapsed.as_secs_f64()
            )?;
        }
        write!(f, " ({} new, {} old, {} errors", t.new, t.old, t.errors)?;
        if let Some(first) = self.first_new_after {
            write!(f, "; first new after {:.1}s", first.as_secs_f64())?;
        }
        if let Some(done) = self.converged_after {
            write!(f, "; converged after {:.1}s", done.as_secs_f64())?;
        }
        write!(f, ")")?;
        if !self.converged {
            write!(f, "; longest run of new answers {}", self.longest_streak)?;
        }
        write!(
            f,
            "; {} in a row required for {} targets in service",
            self.required, self.targets
        )?;
        match &self.target_health {
            Some(health) => write!(f, "; target health: {health}")?,
            None => write!(f, "; target health: not read")?,
        }
        if let Some(host) = &self.host {
            write!(f, "; host {host}")?;
        }
        for (error, count) in &self.errors {
            write!(f, "; {count}× {error}")?;
        }
        for (error, count) in &self.target_health_errors {
            write!(f, "; target health failed {count}×: {error}")?;
        }
        Ok(())
    }
}
