use std::collections::BTreeMap;
use std::time::SystemTime;

use super::*;
use crate::service::ServiceRef;
use crate::targets::TargetCounts;

fn d(
    id: &str,
    status: &str,
    td: &str,
    counts: (i32, i32, i32),
    state: Option<&str>,
) -> DeploymentSnapshot {
    DeploymentSnapshot {
        id: id.into(),
        status: status.into(),
        task_definition: td.into(),
        desired: counts.0,
        pending: counts.1,
        running: counts.2,
        failed: 0,
        rollout_state: state.map(DeploymentRolloutState::from),
        rollout_state_reason: state
            .filter(|s| *s == "FAILED")
            .map(|_| "circuit breaker: tasks failed to start".to_owned()),
        created_at: None,
        updated_at: None,
    }
}

fn started(rollback: bool) -> StartedDeployment {
    StartedDeployment {
        service: ServiceRef::new("c", "s"),
        deployment_id: "ours".into(),
        task_definition: "td:2".into(),
        previous_task_definition: Some("td:1".into()),
        created_at: SystemTime::UNIX_EPOCH,
        is_new: true,
        ecs_rolls_back: rollback,
        alarm_names: Vec::new(),
        service_deployment_arn: Some("sd/ours".into()),
        stop_rollback: false,
    }
}

/// Reasons are prose: compare the rest.
fn strip(v: Verdict) -> Verdict {
    match v {
        Verdict::RolledBack {
            to, by, finished, ..
        } => Verdict::RolledBack {
            to,
            by,
            reason: String::new(),
            finished,
        },
        Verdict::Superseded {
            by,
            task_definition,
            ..
        } => Verdict::Superseded {
            by,
            task_definition,
            reason: String::new(),
        },
        Verdict::RollingBack { to, .. } => Verdict::RollingBack {
            to,
            reason: String::new(),
        },
        other => other,
    }
}

#[test]
fn the_table_judge() {
    use Verdict::*;
    let rolled_back = |by: &str| RolledBack {
        to: "td:1".into(),
        by: Some(by.into()),
        reason: String::new(),
        finished: false,
    };
    let superseded = |by: &str, td: &str| Superseded {
        by: by.into(),
        task_definition: Some(td.into()),
        reason: String::new(),
    };
    let cases: Vec<(&str, Vec<DeploymentSnapshot>, bool, Verdict)> = vec![
        (
            "in progress",
            vec![
                d("ours", "PRIMARY", "td:2", (2, 2, 0), Some("IN_PROGRESS")),
                d("old", "ACTIVE", "td:1", (2, 0, 2), Some("COMPLETED")),
            ],
            false,
            InProgress,
        ),
        (
            "completed and primary",
            vec![d("ours", "PRIMARY", "td:2", (2, 0, 2), Some("COMPLETED"))],
            false,
            Completed,
        ),
        (
            "failed, no rollback",
            vec![d("ours", "PRIMARY", "td:2", (2, 0, 0), Some("FAILED"))],
            false,
            Failed {
                reason: "circuit breaker: tasks failed to start".into(),
            },
        ),
        (
            "failed, rollback expected",
            vec![d("ours", "PRIMARY", "td:2", (2, 0, 0), Some("FAILED"))],
            true,
            AwaitingRollback {
                reason: "circuit breaker: tasks failed to start".into(),
            },
        ),
        (
            "rolled back, ours still listed",
            vec![
                d("rb", "PRIMARY", "td:1", (2, 0, 2), Some("IN_PROGRESS")),
                d("ours", "ACTIVE", "td:2", (0, 0, 0), Some("FAILED")),
            ],
            true,
            rolled_back("rb"),
        ),
        (
            "stable on the old revision, ours gone",
            vec![d("rb", "PRIMARY", "td:1", (2, 0, 2), Some("COMPLETED"))],
            true,
            rolled_back("rb"),
        ),
        (
            "ours gone, another revision than the last completed one",
            vec![d("next", "PRIMARY", "td:3", (2, 0, 2), Some("COMPLETED"))],
            true,
            superseded("next", "td:3"),
        ),
        (
            "ours gone, no rollback configured",
            vec![d("rb", "PRIMARY", "td:1", (2, 0, 2), Some("COMPLETED"))],
            false,
            superseded("rb", "td:1"),
        ),
        (
            "superseded by another revision while in progress",
            vec![
                d("next", "PRIMARY", "td:3", (2, 0, 0), Some("IN_PROGRESS")),
                d("ours", "ACTIVE", "td:2", (2, 0, 2), Some("IN_PROGRESS")),
            ],
            true,
            superseded("next", "td:3"),
        ),
        (
            "superseded by the previous revision while in progress: not a rollback",
            vec![
                d("other", "PRIMARY", "td:1", (2, 0, 0), Some("IN_PROGRESS")),
                d("ours", "ACTIVE", "td:2", (2, 0, 2), Some("IN_PROGRESS")),
            ],
            true,
            superseded("other", "td:1"),
        ),
        (
            "superseded, same revision",
            vec![
                d("again", "PRIMARY", "td:2", (2, 0, 0), Some("IN_PROGRESS")),
                d("ours", "ACTIVE", "td:2", (2, 0, 2), None),
            ],
            false,
            superseded("again", "td:2"),
        ),
        (
            "vanished, same revision primary",
            vec![d("again", "PRIMARY", "td:2", (2, 0, 2), Some("COMPLETED"))],
            false,
            superseded("again", "td:2"),
        ),
        (
            "failed without rollback, then replaced",
            vec![
                d("next", "PRIMARY", "td:3", (2, 0, 0), Some("IN_PROGRESS")),
                d("ours", "ACTIVE", "td:2", (0, 0, 0), Some("FAILED")),
            ],
            false,
            Failed {
                reason:
                    "circuit breaker: tasks failed to start; then deployment next (td:3) took over"
                        .into(),
            },
        ),
        (
            "nothing primary",
            vec![d("ours", "ACTIVE", "td:2", (2, 0, 2), Some("IN_PROGRESS"))],
            false,
            Failed {
                reason: "deployment ours is ACTIVE and nothing is PRIMARY".into(),
            },
        ),
        (
            "no rolloutState: alone and full is only a candidate",
            vec![d("ours", "PRIMARY", "td:2", (2, 0, 2), None)],
            false,
            FullStrength,
        ),
        (
            "no rolloutState: old still there",
            vec![
                d("ours", "PRIMARY", "td:2", (2, 0, 2), None),
                d("old", "ACTIVE", "td:1", (0, 0, 1), None),
            ],
            false,
            InProgress,
        ),
        (
            "no rolloutState: not full",
            vec![d("ours", "PRIMARY", "td:2", (2, 1, 1), None)],
            false,
            InProgress,
        ),
    ];
    for (name, table, rollback, want) in cases {
        let got = judge(&table, &started(rollback));
        assert_eq!(strip(got), strip(want), "{name}");
    }
}

#[test]
fn an_alarm_failure_names_the_alarms() {
    let mut started = started(true);
    started.alarm_names = vec!["hello-5xx".into()];
    let mut ours = d("ours", "PRIMARY", "td:2", (2, 0, 2), Some("FAILED"));
    ours.rollout_state_reason = Some("ECS deployment alarm(s) triggered.".into());
    let verdict = judge(&[ours], &started);
    assert_eq!(
        verdict,
        Verdict::AwaitingRollback {
            reason: "ECS deployment alarm(s) triggered. (deployment alarms: hello-5xx)".into()
        }
    );
}

fn facts(status: &str) -> ServiceDeploymentFacts {
    ServiceDeploymentFacts {
        arn: "sd/ours".into(),
        status: ServiceDeploymentStatus::from(status),
        status_reason: None,
        target_task_definition: Some("td:2".into()),
        rollback: None,
        triggered_alarms: Vec::new(),
        circuit_breaker: None,
        current_service_deployment: Some("sd/ours".into()),
        primary: Some(("ours".into(), "td:2".into())),
        stage: StageState::default(),
    }
}

#[test]
fn the_service_deployment_judge() {
    use Verdict::*;
    let rolled_back = ServiceDeploymentFacts {
        rollback: Some(RollbackFacts {
            reason: Some("alarm triggered".into()),
            service_revision_arn: Some("rev/1".into()),
            task_definition: Some("td:1".into()),
        }),
        primary: Some(("rb".into(), "td:1".into())),
        ..facts("ROLLBACK_SUCCESSFUL")
    };
    let other = ServiceDeploymentFacts {
        current_service_deployment: Some("sd/other".into()),
        primary: Some(("next".into(), "td:3".into())),
        ..facts("STOPPED")
    };
    let cases: Vec<(&str, ServiceDeploymentFacts, Verdict)> = vec![
        ("pending", facts("PENDING"), InProgress),
        ("in progress", facts("IN_PROGRESS"), InProgress),
        ("stop requested", facts("STOP_REQUESTED"), InProgress),
        (
            "successful with our revision",
            facts("SUCCESSFUL"),
            Completed,
        ),
        (
            "successful with another revision",
            ServiceDeploymentFacts {
                target_task_definition: Some("td:9".into()),
                ..facts("SUCCESSFUL")
            },
            Failed {
                reason: "service deployment sd/ours succeeded with td:9, not td:2".into(),
            },
        ),
        (
            "stopped by someone, still current",
            ServiceDeploymentFacts {
                status_reason: Some("stopped by user".into()),
                ..facts("STOPPED")
            },
            Failed {
                reason: "stopped by user".into(),
            },
        ),
        (
            "stopped because another deployment started",
            other.clone(),
            Superseded {
                by: "next".into(),
                task_definition: Some("td:3".into()),
                reason: String::new(),
            },
        ),
        (
            "in progress but no longer current",
            ServiceDeploymentFacts {
                status: ServiceDeploymentStatus::InProgress,
                ..other.clone()
            },
            Superseded {
                by: "next".into(),
                task_definition: Some("td:3".into()),
                reason: String::new(),
            },
        ),
        (
            "rolling back",
            ServiceDeploymentFacts {
                status: ServiceDeploymentStatus::RollbackInProgress,
                ..rolled_back.clone()
            },
            RollingBack {
                to: Some("td:1".into()),
                reason: String::new(),
            },
        ),
        (
            "rolled back",
            rolled_back.clone(),
            RolledBack {
                to: "td:1".into(),
                by: Some("rb".into()),
                reason: String::new(),
                finished: true,
            },
        ),
        (
            "rolled back, revision not resolved: the primary's",
            ServiceDeploymentFacts {
                rollback: None,
                ..rolled_back.clone()
            },
            RolledBack {
                to: "td:1".into(),
                by: Some("rb".into()),
                reason: String::new(),
                finished: true,
            },
        ),
        (
            "rollback failed",
            ServiceDeploymentFacts {
                status: ServiceDeploymentStatus::RollbackFailed,
                ..rolled_back.clone()
            },
            Failed {
                reason: "ECS's rollback failed: rollback to td:1: alarm triggered".into(),
            },
        ),
        (
            "a status ECS adds later",
            facts("PAUSED_FOR_REVIEW"),
            InProgress,
        ),
    ];
    for (name, facts, want) in cases {
        let got = judge_service_deployment(&facts, &started(true));
        assert_eq!(strip(got), strip(want), "{name}");
    }
}

#[test]
fn every_reason_ecs_gives_is_kept() {
    let all = ServiceDeploymentFacts {
        status_reason: Some("Service deployment rolled back because of alarms".into()),
        rollback: Some(RollbackFacts {
            reason: Some("ECS deployment alarm(s) triggered".into()),
            service_revision_arn: Some("rev/1".into()),
            task_definition: Some("arn:aws:ecs:r:1:task-definition/hello:1".into()),
        }),
        triggered_alarms: vec!["hello-5xx".into(), "hello-latency".into()],
        circuit_breaker: Some((3, 3)),
        ..facts("ROLLBACK_SUCCESSFUL")
    };
    assert_eq!(
        all.reasons(),
        "Service deployment rolled back because of alarms; rollback to hello:1: ECS deployment \
         alarm(s) triggered; alarms in ALARM: hello-5xx, hello-latency; circuit breaker: 3 \
         failed tasks (threshold 3)"
    );
    assert_eq!(
        facts("STOPPED").reasons(),
        "service deployment sd/ours is STOPPED"
    );
}

#[test]
fn a_stop_rollback_is_done_when_ecs_rolled_back() {
    let mut rollback = started(false);
    rollback.stop_rollback = true;
    rollback.task_definition = "td:1".into();
    let cases = [
        ("ROLLBACK_REQUESTED", Verdict::InProgress),
        ("ROLLBACK_IN_PROGRESS", Verdict::InProgress),
        ("ROLLBACK_SUCCESSFUL", Verdict::Completed),
    ];
    for (status, want) in cases {
        assert_eq!(
            judge_service_deployment(&facts(status), &rollback),
            want,
            "{status}"
        );
    }
    for status in ["ROLLBACK_FAILED", "STOPPED", "SUCCESSFUL"] {
        assert!(
            matches!(
                judge_service_deployment(&facts(status), &rollback),
                Verdict::Failed { .. }
            ),
            "{status}"
        );
    }
    let table = [
        d("rb", "PRIMARY", "td:1", (2, 0, 2), Some("COMPLETED")),
        d("ours", "ACTIVE", "td:2", (0, 0, 0), Some("FAILED")),
    ];
    assert_eq!(judge(&table, &rollback), Verdict::Completed);
}

fn health(ours: TargetCounts) -> Vec<TargetGroupHealth> {
    let mut by_deployment = BTreeMap::new();
    by_deployment.insert(Some("ours".to_owned()), ours);
    vec![TargetGroupHealth {
        target_group_arn: "tg".into(),
        by_deployment,
        unhealthy_reasons: Vec::new(),
    }]
}

#[test]
fn targets_are_ready_when_all_of_ours_are_healthy() {
    let counts = |healthy, initial, unhealthy| TargetCounts {
        healthy,
        initial,
        unhealthy,
        ..TargetCounts::default()
    };
    let cases = [
        ("all healthy", Some(health(counts(2, 0, 0))), true),
        (
            "more healthy than desired",
            Some(health(counts(3, 0, 0))),
            true,
        ),
        ("one still initial", Some(health(counts(2, 1, 0))), false),
        ("one unhealthy", Some(health(counts(2, 0, 1))), false),
        ("too few", Some(health(counts(1, 0, 0))), false),
        (
            "no targets of ours yet",
            Some(health(TargetCounts::default())),
            false,
        ),
        ("no target groups", None, true),
    ];
    for (name, health, want) in cases {
        assert_eq!(targets_ready(health.as_deref(), "ours", 2), want, "{name}");
    }
}

#[test]
fn the_steady_window_needs_two_polls_far_enough_apart() {
    let mut window = SteadyWindow::new(Duration::from_secs(5));
    let t0 = Instant::now();
    let at = |s| t0 + Duration::from_secs(s);
    assert!(!window.observe(true, at(0)));
    assert_eq!(window.ends_at(), Some(at(5)));
    assert!(!window.observe(true, at(3)), "too soon");
    assert!(!window.observe(false, at(4)), "a relapse starts it over");
    assert_eq!(window.ends_at(), None);
    assert!(!window.observe(true, at(6)));
    assert!(window.observe(true, at(11)));
}
