//! The service scheduler: on every pass (woken by any change, and at least every tick) it
//! takes a [`View`](view::View) of the state, decides a [`Plan`](action::Plan) of
//! [`Action`](action::Action)s from it alone (`plan`, a pure function with the ECS rules and
//! their table tests in `tests`; the circuit breaker in `breaker`, the deployment alarms in
//! `alarms`), carries the plan out on the
//! state (`apply`), and launches the tasks it started through the runner.

mod action;
mod alarms;
mod apply;
mod breaker;
mod plan;
mod view;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use crate::runner;
use crate::shared::Shared;

/// Runs the scheduler until it is aborted (after shutdown has stopped every task: while
/// shutting down it only drains and deregisters targets).
pub async fn run(shared: Arc<Shared>) {
    let mut wake_at: Option<Instant> = None;
    loop {
        let tick = shared.timing.scheduler_tick;
        let sleep = wake_at
            .map(|at| at.saturating_duration_since(Instant::now()).min(tick))
            .unwrap_or(tick);
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
        let applied = {
            let mut state = shared.lock();
            let view = view::View::of(&state, shared.is_shutting_down(), &shared.timing);
            let plan = plan::plan(&view, action::Now::current());
            wake_at = plan.wake_at;
            apply::apply(&shared, &mut state, plan)
        };
        for task_id in applied.launches {
            runner::launch(shared.clone(), task_id);
        }
        for task_id in applied.forgotten {
            let _ = std::fs::remove_dir_all(shared.store.task_dir(&task_id));
        }
        shared.save_if_dirty();
    }
}

/// The circuit breaker's threshold for a desired count: clamp(ceil(desired / 2), 3, 200).
pub fn breaker_threshold(desired: i64) -> i64 {
    breaker::threshold(desired)
}
