//! The milestones a roll actually reached, read from the watch's events as they come: the
//! deployments table (tasks running per deployment) and target health (targets in service).

use std::time::Duration;

use crate::rollout::RolloutEvent;

/// When a watched roll reached each milestone, in seconds since the watch began (None: not
/// seen). Feed it every event with the time it was seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActualMilestones {
    /// Our deployment, whose tasks are new.
    ours: String,
    /// Tasks our deployment wants (from the table).
    desired: Option<u32>,
    /// The last table showed no other deployment's task running or pending.
    table_clear: bool,
    /// The last target health showed no other deployment's target, draining ones included
    /// (None: not read, as without a load balancer).
    targets_clear: Option<bool>,
    /// Our deployment RUNNING its desired count.
    pub new_running: Option<f64>,
    /// Our targets healthy, as many as desired.
    pub new_healthy: Option<f64>,
    /// No other deployment with a task left.
    pub old_gone: Option<f64>,
    /// The outcome.
    pub completed: Option<f64>,
}

impl ActualMilestones {
    /// Milestones of `deployment_id`'s roll.
    pub fn new(deployment_id: &str) -> ActualMilestones {
        ActualMilestones {
            ours: deployment_id.to_owned(),
            ..ActualMilestones::default()
        }
    }

    /// Takes in one event seen `at` since the watch began. A milestone keeps the first time
    /// it was reached.
    pub fn observe(&mut self, event: &RolloutEvent, at: Duration) {
        let at = at.as_secs_f64();
        match event {
            RolloutEvent::Deployments(table) => {
                let Some(ours) = table.iter().find(|d| d.id == self.ours) else {
                    return;
                };
                let desired = u32::try_from(ours.desired).unwrap_or(0);
                self.desired = Some(desired);
                if ours.running >= ours.desired {
                    self.new_running.get_or_insert(at);
                }
                self.table_clear = !table
                    .iter()
                    .any(|d| d.id != self.ours && d.running + d.pending > 0);
            }
            RolloutEvent::TargetHealth(groups) => {
                // A stopping task leaves the table's running count before its target drains.
                self.targets_clear = Some(groups.iter().all(|g| {
                    g.by_deployment
                        .iter()
                        .all(|(d, c)| d.as_deref() == Some(self.ours.as_str()) || c.total() == 0)
                }));
                let Some(desired) = self.desired else { return };
                // Every group must have them all: a task is in service in each of its groups.
                let all = !groups.is_empty()
                    && groups.iter().all(|g| g.of(&self.ours).healthy >= desired);
                if all {
                    self.new_healthy.get_or_insert(at);
                }
            }
            RolloutEvent::Outcome(outcome) if outcome.is_success() => {
                self.completed = Some(at);
                // Milestones the polls skipped over were reached by the outcome at the latest.
                for m in [
                    &mut self.new_running,
                    &mut self.new_healthy,
                    &mut self.old_gone,
                ] {
                    m.get_or_insert(at);
                }
            }
            _ => {}
        }
        if self.table_clear && self.targets_clear != Some(false) && self.desired.is_some() {
            self.old_gone.get_or_insert(at);
        }
    }

    /// (name, seconds) in the order of [`super::Milestones::named`].
    pub fn named(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("new tasks running", self.new_running),
            ("new tasks healthy", self.new_healthy),
            ("old tasks gone", self.old_gone),
            ("completed", self.completed),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Outcome;
    use crate::service::DeploymentSnapshot;
    use crate::targets::{TargetCounts, TargetGroupHealth};

    fn row(id: &str, desired: i32, running: i32) -> DeploymentSnapshot {
        DeploymentSnapshot {
            id: id.into(),
            status: "PRIMARY".into(),
            task_definition: "td".into(),
            desired,
            pending: 0,
            running,
            failed: 0,
            rollout_state: None,
            rollout_state_reason: None,
            created_at: None,
            updated_at: None,
        }
    }

    fn healthy(ours: u32) -> RolloutEvent {
        let counts = TargetCounts {
            healthy: ours,
            ..TargetCounts::default()
        };
        RolloutEvent::TargetHealth(vec![TargetGroupHealth {
            target_group_arn: "tg".into(),
            by_deployment: [(Some("new".to_owned()), counts)].into(),
            unhealthy_reasons: vec![],
        }])
    }

    fn draining_old() -> RolloutEvent {
        let counts = |healthy, draining| TargetCounts {
            healthy,
            draining,
            ..TargetCounts::default()
        };
        RolloutEvent::TargetHealth(vec![TargetGroupHealth {
            target_group_arn: "tg".into(),
            by_deployment: [
                (Some("new".to_owned()), counts(2, 0)),
                (Some("old".to_owned()), counts(0, 1)),
            ]
            .into(),
            unhealthy_reasons: vec![],
        }])
    }

    #[test]
    fn milestones_come_from_the_table_and_target_health() {
        let s = Duration::from_secs;
        let mut m = ActualMilestones::new("new");
        let table =
            |new, old| RolloutEvent::Deployments(vec![row("new", 2, new), row("old", 2, old)]);
        m.observe(&table(0, 2), s(1));
        m.observe(&healthy(2), s(2));
        m.observe(&table(2, 2), s(3));
        m.observe(&healthy(1), s(4));
        m.observe(&table(2, 2), s(5));
        m.observe(&draining_old(), s(8));
        m.observe(&table(2, 0), s(9)); // the old target still drains
        m.observe(&healthy(2), s(10));
        let done = Outcome::Completed {
            deployment_id: "new".into(),
            task_definition: "td".into(),
        };
        m.observe(&RolloutEvent::Outcome(done), s(11));
        assert_eq!(m.new_running, Some(3.0));
        // Target health said 2 healthy at 2 s (the table had said we want 2 at 1 s).
        assert_eq!(m.new_healthy, Some(2.0));
        assert_eq!(m.old_gone, Some(10.0));
        assert_eq!(m.completed, Some(11.0));
    }

    #[test]
    fn a_failed_roll_completes_nothing_and_unseen_milestones_take_the_outcome() {
        let mut m = ActualMilestones::new("new");
        m.observe(
            &RolloutEvent::Deployments(vec![row("new", 2, 1), row("old", 2, 2)]),
            Duration::from_secs(1),
        );
        m.observe(
            &RolloutEvent::Outcome(Outcome::Failed {
                deployment_id: "new".into(),
                reason: "x".into(),
                stopped_tasks: vec![],
            }),
            Duration::from_secs(5),
        );
        assert_eq!(m.named().map(|(_, v)| v), [None, None, None, None]);
        let mut quick = ActualMilestones::new("new");
        quick.observe(
            &RolloutEvent::Deployments(vec![row("new", 2, 0), row("old", 2, 2)]),
            Duration::from_secs(1),
        );
        quick.observe(
            &RolloutEvent::Outcome(Outcome::Completed {
                deployment_id: "new".into(),
                task_definition: "td".into(),
            }),
            Duration::from_secs(4),
        );
        assert_eq!(quick.named().map(|(_, v)| v), [Some(4.0); 4]);
    }
}
