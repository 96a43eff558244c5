//! What a rollout watch saw, as time series on the deploy's time axis (seconds since the deploy
//! began): tasks per deployment, target health, service events and stopped tasks, listener
//! weights. The JSON report carries it as `timeline`, the HTML report draws it. Each series
//! gets a point when the watch's event stream says something changed (the stream already sends
//! only changes), so a series is a step function: a value holds until the next point.

use deploy_sdk::rollout::RolloutEvent;
use deploy_sdk::targets::TargetCounts;
use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Timeline {
    /// The deployments table whenever it changed: one row per deployment.
    pub tasks: Vec<TasksPoint>,
    /// Target health per target group and deployment whenever it changed.
    pub targets: Vec<TargetsPoint>,
    /// Service events and stopped tasks, as the watch saw them.
    pub events: Vec<EventPoint>,
    /// The weights of the listener rules ECS rewrites (blue/green, linear, canary).
    pub weights: Vec<WeightsPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TasksPoint {
    pub at_seconds: f64,
    pub deployment_id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    /// `family:revision`.
    pub revision: String,
    pub desired: i32,
    pub pending: i32,
    pub running: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetsPoint {
    pub at_seconds: f64,
    pub target_group_arn: String,
    /// Null: targets whose task could not be matched to a deployment.
    pub deployment_id: Option<String>,
    /// initial, healthy, unhealthy, draining, unused, unavailable.
    #[serde(flatten)]
    pub counts: TargetCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventPoint {
    /// When the watch saw it (ECS's own time may be on another clock).
    pub at_seconds: f64,
    /// `service_event` or `task_stopped`.
    pub kind: &'static str,
    /// ECS's words.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsPoint {
    pub at_seconds: f64,
    /// `production` (the first rule of each change) or `test`.
    pub listener: &'static str,
    pub rule_arn: String,
    pub groups: Vec<GroupWeightJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupWeightJson {
    pub target_group_arn: String,
    pub weight: i32,
}

impl Timeline {
    /// Records what `event` changed, seen `at` seconds since the deploy began.
    pub fn observe(&mut self, event: &RolloutEvent, at: f64) {
        match event {
            RolloutEvent::Deployments(rows) => self.tasks.extend(rows.iter().map(|d| TasksPoint {
                at_seconds: at,
                deployment_id: d.id.clone(),
                status: d.status.clone(),
                revision: d.revision().to_owned(),
                desired: d.desired,
                pending: d.pending,
                running: d.running,
            })),
            RolloutEvent::TargetHealth(groups) => {
                for group in groups {
                    for (deployment, c) in &group.by_deployment {
                        self.targets.push(TargetsPoint {
                            at_seconds: at,
                            target_group_arn: group.target_group_arn.clone(),
                            deployment_id: deployment.clone(),
                            counts: c.clone(),
                        });
                    }
                }
            }
            RolloutEvent::ServiceEvent { message, .. } => self.event(at, "service_event", message),
            RolloutEvent::TaskStopped(task) => {
                self.event(at, "task_stopped", &format!("stopped task {task}"))
            }
            RolloutEvent::TrafficWeights(rules) => {
                self.weights.extend(rules.iter().enumerate().map(|(i, r)| {
                    WeightsPoint {
                        at_seconds: at,
                        listener: if i == 0 { "production" } else { "test" },
                        rule_arn: r.rule_arn.clone(),
                        groups: r
                            .groups
                            .iter()
                            .map(|g| GroupWeightJson {
                                target_group_arn: g.target_group_arn.clone(),
                                weight: g.weight,
                            })
                            .collect(),
                    }
                }))
            }
            _ => {}
        }
    }

    fn event(&mut self, at: f64, kind: &'static str, message: &str) {
        self.events.push(EventPoint {
            at_seconds: at,
            kind,
            message: message.to_owned(),
        });
    }

    /// Adds a later watch's series (a rollback after the rollout).
    pub fn extend(&mut self, other: Timeline) {
        self.tasks.extend(other.tasks);
        self.targets.extend(other.targets);
        self.events.extend(other.events);
        self.weights.extend(other.weights);
    }
}

#[cfg(test)]
mod tests {
    use super::Timeline;
    use deploy_sdk::rollout::RolloutEvent;
    use deploy_sdk::traffic::{GroupWeight, RuleWeights};

    #[test]
    fn events_and_weights_land_on_the_time_axis_in_order() {
        let mut timeline = Timeline::default();
        timeline.observe(
            &RolloutEvent::ServiceEvent {
                at: None,
                message: "(service s) has started 1 tasks".into(),
            },
            2.5,
        );
        timeline.observe(
            &RolloutEvent::TrafficWeights(vec![RuleWeights {
                rule_arn: "rule".into(),
                groups: vec![GroupWeight {
                    target_group_arn: "blue".into(),
                    weight: 90,
                }],
            }]),
            4.0,
        );
        timeline.observe(&RolloutEvent::Retrying { error: "x".into() }, 5.0);
        assert_eq!(timeline.events.len(), 1);
        assert_eq!(timeline.events[0].at_seconds, 2.5);
        assert_eq!(timeline.events[0].kind, "service_event");
        assert_eq!(timeline.weights[0].groups[0].weight, 90);
        assert!(timeline.tasks.is_empty() && timeline.targets.is_empty());
    }
}
