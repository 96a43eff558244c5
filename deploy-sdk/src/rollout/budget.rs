//! The `DescribeServices` budget: every attempt recorded (SDK retries too, through an
//! interceptor on the operation), shared by every watch that holds a clone of the handle, so
//! a deploy and its rollback's watch keep to one budget.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::time::Instant;

/// The window the budget is counted over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// A clonable handle on the record of `DescribeServices` attempts; clones share it.
#[derive(Debug, Clone, Default)]
pub struct CallBudget {
    inner: Arc<Mutex<Calls>>,
}

#[derive(Debug, Default)]
struct Calls {
    /// Attempts of the last [`WINDOW`], oldest first.
    recent: VecDeque<Instant>,
    total: u32,
}

impl PartialEq for CallBudget {
    /// Two handles are equal when they share one record.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for CallBudget {}

impl CallBudget {
    /// A budget with no call recorded.
    pub fn new() -> CallBudget {
        CallBudget::default()
    }

    /// Records an attempt made at `at`.
    pub fn record(&self, at: Instant) {
        if let Ok(mut calls) = self.inner.lock() {
            // Older attempts can never count again: attempts are recorded as they happen.
            while calls
                .recent
                .front()
                .is_some_and(|t| at.saturating_duration_since(*t) >= WINDOW)
            {
                calls.recent.pop_front();
            }
            calls.recent.push_back(at);
            calls.total += 1;
        }
    }

    /// Attempts recorded so far, in all.
    pub fn total(&self) -> u32 {
        self.inner.lock().map_or(0, |c| c.total)
    }

    /// The attempts within the window ending at `now`, oldest first.
    pub fn in_window(&self, now: Instant) -> Vec<Instant> {
        let Ok(calls) = self.inner.lock() else {
            return Vec::new();
        };
        calls
            .recent
            .iter()
            .copied()
            .filter(|t| *t <= now && now.duration_since(*t) < WINDOW)
            .collect()
    }

    /// The earliest time from `at` on when fewer than `limit` attempts lie in the window.
    pub fn free_at(&self, at: Instant, limit: usize) -> Instant {
        let window = self.in_window(at);
        if window.len() < limit.max(1) {
            return at;
        }
        // The oldest attempts must leave the window until `limit - 1` remain.
        let must_leave = window.len() + 1 - limit.max(1);
        (window[must_leave - 1] + WINDOW).max(at)
    }

    /// An interceptor that records every attempt of the operation it is attached to.
    pub(crate) fn counter(&self) -> AttemptCounter {
        AttemptCounter(self.clone())
    }
}

/// Records each attempt (before it is sent) in a [`CallBudget`].
#[derive(Debug)]
pub(crate) struct AttemptCounter(CallBudget);

impl Intercept for AttemptCounter {
    fn name(&self) -> &'static str {
        "DescribeServicesBudget"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.record(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_frees_when_the_oldest_calls_leave_it() {
        let budget = CallBudget::new();
        let t0 = Instant::now();
        for s in 0..3 {
            budget.record(t0 + Duration::from_secs(s));
        }
        assert_eq!(
            budget.free_at(t0 + Duration::from_secs(5), 4),
            t0 + Duration::from_secs(5)
        );
        assert_eq!(
            budget.free_at(t0 + Duration::from_secs(5), 3),
            t0 + Duration::from_secs(60)
        );
        assert_eq!(
            budget.free_at(t0 + Duration::from_secs(5), 2),
            t0 + Duration::from_secs(61)
        );
        assert_eq!(budget.clone().total(), 3);
        assert_eq!(budget, budget.clone());
        assert_ne!(budget, CallBudget::new());
    }
}
