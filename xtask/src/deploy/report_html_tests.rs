use super::render;
use crate::deploy::report::{LifecycleStageJson, Report, Stage, TrafficJson};
use crate::timeline::{EventPoint, GroupWeightJson, TasksPoint, WeightsPoint};

fn stage(name: &str, started_at_seconds: f64, seconds: f64) -> Stage {
    Stage {
        name: name.into(),
        started_at_seconds,
        seconds,
    }
}

fn tasks(at: f64, id: &str, revision: &str, running: i32) -> TasksPoint {
    TasksPoint {
        at_seconds: at,
        deployment_id: id.into(),
        status: "PRIMARY".into(),
        revision: revision.into(),
        desired: 2,
        pending: 0,
        running,
    }
}

fn deployed() -> Report {
    let mut report = Report {
        outcome: "deployed".into(),
        service: "hello-ecs".into(),
        cluster: "hello".into(),
        deployment_id: Some("ecs-svc/2".into()),
        strategy: Some("rolling".into()),
        stages: vec![stage("build", 0.0, 2.0), stage("roll", 2.0, 6.0)],
        traffic: Some(TrafficJson {
            url: "http://127.0.0.1:1/hello/verify".into(),
            started_at_seconds: 2.0,
            seconds: 3.0,
            requests: 9,
            new: 4,
            old: 4,
            failed: 1,
            errors: Default::default(),
            per_second: vec![[0, 3, 0], [2, 1, 1], [2, 0, 0]],
        }),
        ..Report::default()
    };
    report.timeline.tasks = vec![
        tasks(2.5, "ecs-svc/1", "hello:1", 2),
        tasks(2.5, "ecs-svc/2", "hello:2", 0),
        tasks(5.0, "ecs-svc/2", "hello:2", 2),
    ];
    report
}

#[test]
fn a_deploy_draws_every_chart_on_one_page_with_nothing_from_the_network() {
    let page = render(&deployed());
    for id in [
        r#"id="stages""#,
        r#"id="traffic""#,
        r#"id="tasks""#,
        r#"id="targets""#,
        r#"id="events""#,
        r#"id="outcome""#,
    ] {
        assert!(page.contains(id), "{id} missing");
    }
    assert_eq!(page.matches(r#"class="stage-bar"#).count(), 2);
    assert_eq!(
        page.matches(r#"class="traffic-bar traffic-failed""#)
            .count(),
        1
    );
    assert_eq!(
        page.matches(r#"class="traffic-bar traffic-new""#).count(),
        2
    );
    assert_eq!(page.matches(r#"class="tasks-line"#).count(), 2);
    assert!(page.contains("hello:2 (new)") && page.contains("hello:1 (old)"));
    // The old deployment left the table at 5.0 s: its line falls to zero (y 106) there.
    let old_line = page
        .split("<path")
        .find(|p| p.contains("hello:1 (old): running"))
        .expect("the old deployment's line");
    assert!(old_line.contains(" V106.0 H"), "{old_line}");
    assert!(
        !page.contains(r#"id="lifecycle""#),
        "no lifecycle for rolling"
    );
    for outside in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(outside), "{outside} in the page");
    }
    assert!(page.contains("prefers-color-scheme: dark") && page.contains("@media print"));
}

#[test]
fn strings_from_aws_are_escaped() {
    let mut report = deployed();
    report.error = Some(r#"<img src=x onerror="alert(1)">"#.into());
    report.timeline.events.push(EventPoint {
        at_seconds: 3.0,
        kind: "service_event",
        message: "(service <b>hello</b>) has reached a steady state & 'more'".into(),
    });
    let page = render(&report);
    assert!(
        !page.contains("<img") && !page.contains("<b>hello"),
        "unescaped"
    );
    assert!(page.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"));
    assert!(
        page.contains(
            "&lt;b&gt;hello&lt;/b&gt;) has reached a steady state &amp; &#x27;more&#x27;"
        )
    );
    assert_eq!(
        page.matches(r#"class="event-mark service-event""#).count(),
        1
    );
}

#[test]
fn an_empty_traffic_series_says_why_instead_of_drawing() {
    let mut report = deployed();
    report.traffic = None;
    report.traffic_not_sampled = Some("no URL to ask (--no-verify)".into());
    let page = render(&report);
    assert!(page.contains(r#"id="traffic""#));
    assert!(!page.contains("traffic-bar"));
    assert!(page.contains("not sampled: no URL to ask (--no-verify)"));
}

#[test]
fn a_failed_deploy_without_verification_shows_its_reason_and_no_verify() {
    let report = Report {
        outcome: "failed".into(),
        exit_code: 1,
        reason: Some("tasks failed to start".into()),
        stages: vec![stage("roll", 0.5, 4.0)],
        ..Report::default()
    };
    let page = render(&report);
    assert!(page.contains(r#"id="outcome" class="bad""#));
    assert!(page.contains("tasks failed to start"));
    assert!(page.contains("not verified"));
    assert!(page.contains("no answers sampled"));
    assert!(page.contains("no deployments seen"));
}

#[test]
fn a_canary_draws_its_lifecycle_stages_and_production_weights() {
    let mut report = deployed();
    report.strategy = Some("canary".into());
    report.lifecycle_stages = LifecycleStageJson::timeline(
        &[
            ("SCALE_UP".into(), 2.0),
            ("PRODUCTION_TRAFFIC_SHIFT".into(), 4.0),
        ],
        7.0,
    );
    let weights = |at: f64, blue: i32, green: i32| WeightsPoint {
        at_seconds: at,
        listener: "production",
        rule_arn: "rule".into(),
        groups: vec![
            GroupWeightJson {
                target_group_arn: "arn:aws:elasticloadbalancing:r:1:targetgroup/blue/1".into(),
                weight: blue,
            },
            GroupWeightJson {
                target_group_arn: "arn:aws:elasticloadbalancing:r:1:targetgroup/green/2".into(),
                weight: green,
            },
        ],
    };
    report.timeline.weights = vec![
        weights(2.0, 100, 0),
        weights(4.5, 90, 10),
        weights(6.0, 0, 100),
    ];
    let page = render(&report);
    assert_eq!(page.matches(r#"class="lifecycle-stage"#).count(), 2);
    assert_eq!(page.matches(r#"class="weight-line"#).count(), 2);
    assert!(page.contains("production traffic to green"));
}
