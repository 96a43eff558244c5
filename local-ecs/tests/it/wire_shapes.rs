//! Every answer local-ecs gives, held against AWS's own API models (botocore's
//! `service-2.json` for ECS, ECR, ELBv2 and CloudWatch at a pinned version): the SDK clients
//! talk through a recording proxy while a real rollout runs — a healthy deployment, a forced
//! new one (draining targets), a crashing revision (FAILED, stopped tasks, a rollback), a
//! blue/green service held by a PAUSE hook and a canary rolled back during its bake —
//! then every read operation and a set of errors. Each recorded answer is checked by its
//! operation's name, so an operation local-ecs gains joins the suite by being called here.
//! Values outside a shape's range (the 1 s health-check interval) are printed as notes.

mod blue_green;
mod check;
mod models;
mod recorder;
mod scenario;
mod served;
mod wire;
mod xml;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use crate::common;
use crate::common::*;
use check::{Exchange, Findings, Model, Protocol};

/// The four models, installed and read once per test process.
fn models() -> &'static HashMap<&'static str, Model> {
    static MODELS: OnceLock<HashMap<&'static str, Model>> = OnceLock::new();
    MODELS.get_or_init(|| {
        let data = models::ensure_installed();
        models::SERVICES
            .iter()
            .map(|(service, version)| {
                (
                    *service,
                    Model::new(service, models::load(&data, service, version)),
                )
            })
            .collect()
    })
}

/// Checks every exchange against its service's model.
fn check_all(exchanges: &[Exchange]) -> Findings {
    let models = models();
    let mut findings = Findings::default();
    for ex in exchanges {
        match models.get(ex.service.as_str()) {
            Some(model) => model.check(ex, &mut findings),
            None => {
                findings
                    .failures
                    .insert(format!("{}: no model", ex.service));
            }
        }
    }
    findings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_a_rollout_matches_the_aws_models() {
    tokio::task::spawn_blocking(models)
        .await
        .expect("install the models");
    // A blue/green minute lasts a second (`serve --minute-seconds 1`).
    let timing = local_ecs::Timing {
        minute: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let mut env = Env::start_with_timing(timing).await;
    let proxy = recorder::Recorder::start(env.port).await;
    let config = sdk_config(&proxy.endpoint(), "us-east-1", &env.credentials).await;
    env.ecs = aws_sdk_ecs::Client::new(&config);
    env.ecr = aws_sdk_ecr::Client::new(&config);
    env.elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    env.cw = aws_sdk_cloudwatch::Client::new(&config);

    let stack = scenario::rollout(&env).await;
    blue_green::deployments(&env).await;
    scenario::reads(&env, &stack).await;
    scenario::changes(&env, &stack).await;
    scenario::raw_cloudwatch(&env, proxy.port).await;
    scenario::errors(&env, &stack).await;
    scenario::teardown(&env).await;

    let recorded = proxy.recorded();
    let findings = check_all(&recorded);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for ex in &recorded {
        let kind = if ex.status >= 300 { " (error)" } else { "" };
        *counts
            .entry(format!("{} {}{kind}", ex.service, ex.operation))
            .or_default() += 1;
    }
    eprintln!(
        "{} answers, {} values checked against botocore's models:",
        recorded.len(),
        findings.values
    );
    for (operation, n) in &counts {
        eprintln!("  {operation} ×{n}");
    }
    for note in &findings.notes {
        eprintln!("note: {note}");
    }
    let everything: String = recorded
        .iter()
        .map(|ex| String::from_utf8_lossy(&ex.body))
        .collect();
    for state in [
        "IN_PROGRESS",
        "FAILED",
        "draining",
        "STOPPED",
        "ROLLBACK_SUCCESSFUL",
        "\"strategy\":\"BLUE_GREEN\"",
        "\"strategy\":\"CANARY\"",
        "\"canaryConfiguration\"",
        "\"lifecycleHooks\"",
        "\"advancedConfiguration\"",
        "\"lifecycleStage\":\"POST_TEST_TRAFFIC_SHIFT\"",
        "\"lifecycleStage\":\"BAKE_TIME\"",
        "\"status\":\"AWAITING_ACTION\"",
        "\"status\":\"SUCCEEDED\"",
        "<Weight>90</Weight>",
        "<Weight>10</Weight>",
    ] {
        assert!(everything.contains(state), "no answer carried {state}");
    }
    for operation in ["ContinueServiceDeployment", "StopServiceDeployment"] {
        assert!(
            recorded
                .iter()
                .any(|ex| ex.operation == operation && ex.status == 200),
            "no successful {operation} was recorded"
        );
    }
    let recorded_operations: BTreeSet<(String, String)> = recorded
        .iter()
        .map(|ex| (ex.service.clone(), ex.operation.clone()))
        .collect();
    let uncalled: Vec<String> = served::operations(&env, models())
        .await
        .difference(&recorded_operations)
        .map(|(service, operation)| format!("{service} {operation}"))
        .collect();
    assert!(
        uncalled.is_empty(),
        "local-ecs serves operations the suite never calls (call them in wire_shapes/scenario.rs): {uncalled:?}"
    );
    assert!(
        findings.failures.is_empty(),
        "{} answers differ from the AWS models:\n{}",
        findings.failures.len(),
        findings
            .failures
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    env.stop().await;
}

/// Checks one hand-written answer: (failures, notes).
fn check_one(
    service: &str,
    operation: &str,
    status: u16,
    body: &str,
) -> (Vec<String>, Vec<String>) {
    let protocol = match service {
        "elbv2" => Protocol::Query,
        _ => Protocol::Json,
    };
    let content_type = match protocol {
        Protocol::Query => "text/xml",
        _ => "application/x-amz-json-1.1",
    };
    let ex = Exchange {
        service: service.into(),
        operation: operation.into(),
        protocol,
        status,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("x-amzn-requestid".into(), "r".into()),
        ],
        body: body.as_bytes().to_vec(),
    };
    let findings = check_all(&[ex]);
    (
        findings.failures.into_iter().collect(),
        findings.notes.into_iter().collect(),
    )
}

/// A DescribeServices answer with one deployment; `deployment` replaces its members.
fn describe_services(deployment: &str) -> String {
    format!(
        r#"{{"services":[{{"serviceName":"web","runningCount":2,"createdAt":1764500000.5,
        "deployments":[{{"id":"ecs-svc/1","status":"PRIMARY",{deployment}}}]}}],"failures":[]}}"#
    )
}

#[test]
fn a_correct_answer_passes() {
    let (failures, notes) = check_one(
        "ecs",
        "DescribeServices",
        200,
        &describe_services(r#""rolloutState":"IN_PROGRESS""#),
    );
    assert_eq!((failures, notes), (vec![], vec![]));
}

#[test]
fn a_renamed_member_fails() {
    let (failures, _) = check_one(
        "ecs",
        "DescribeServices",
        200,
        &describe_services(r#""rolloutStatus":"IN_PROGRESS""#),
    );
    assert_eq!(
        failures,
        [
            "ecs DescribeServices (200): $.services[].deployments[].rolloutStatus: not a member of Deployment"
        ]
    );
}

#[test]
fn a_wrong_type_fails() {
    let body = describe_services(r#""runningCount":"2","createdAt":"2025-11-30T00:00:00Z""#);
    let (failures, _) = check_one("ecs", "DescribeServices", 200, &body);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures[0].contains(".createdAt: expected epoch seconds (a number), got a string"),
        "{failures:?}"
    );
    assert!(
        failures[1].contains(".runningCount: expected integer, got a string"),
        "{failures:?}"
    );
}

#[test]
fn an_invalid_enum_value_fails() {
    let body = r#"{"serviceDeployments":[{"serviceDeploymentArn":"a","status":"DONE"}]}"#;
    let (failures, _) = check_one("ecs", "ListServiceDeployments", 200, body);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with(
        "ecs ListServiceDeployments (200): $.serviceDeployments[].status: \"DONE\" is not a value of the enum"
    ), "{failures:?}");
}

#[test]
fn a_null_a_missing_required_member_and_a_float_count_fail() {
    let body = r#"{"nextToken":null,"imageIds":[{"imageTag":"v1"}],"failures":[{"failureCode":"ImageNotFound","failureReason":1.5}]}"#;
    let (failures, _) = check_one("ecr", "ListImages", 200, body);
    assert!(
        failures.iter().any(|f| f.contains("$.nextToken: null")),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.contains("$.failures: not a member of ListImagesResponse")),
        "{failures:?}"
    );
    let (failures, _) = check_one(
        "ecs",
        "DescribeServices",
        200,
        &describe_services(r#""desiredCount":2.5"#),
    );
    assert!(
        failures
            .iter()
            .any(|f| f.contains(".desiredCount: expected integer")),
        "{failures:?}"
    );
}

#[test]
fn aws_query_answers_are_checked_element_by_element() {
    let answer = |health: &str| {
        format!(
            r#"<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeTargetHealthResult><TargetHealthDescriptions><member><Target><Id>10.0.0.1</Id><Port>8080</Port></Target>{health}</member></TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeTargetHealthResponse>"#
        )
    };
    let ok = answer(
        "<TargetHealth><State>draining</State><Reason>Target.DeregistrationInProgress</Reason></TargetHealth>",
    );
    assert_eq!(
        check_one("elbv2", "DescribeTargetHealth", 200, &ok),
        (vec![], vec![])
    );
    let bad = answer("<TargetHealth><State>stopping</State><Port>x</Port></TargetHealth>");
    let (failures, _) = check_one("elbv2", "DescribeTargetHealth", 200, &bad);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures[0].contains("TargetHealth.Port: not a member of TargetHealth"),
        "{failures:?}"
    );
    assert!(
        failures[1].contains("TargetHealth.State: \"stopping\" is not a value"),
        "{failures:?}"
    );
    let unwrapped = ok
        .replace("<member>", "<item>")
        .replace("</member>", "</item>");
    let (failures, _) = check_one("elbv2", "DescribeTargetHealth", 200, &unwrapped);
    assert!(
        failures[0].contains("a list holds <item> where AWS sends <member>"),
        "{failures:?}"
    );
}

#[test]
fn a_value_outside_the_range_is_a_note_not_a_failure() {
    let body = r#"<DescribeTargetGroupsResponse><DescribeTargetGroupsResult><TargetGroups><member><TargetGroupName>t</TargetGroupName><HealthCheckIntervalSeconds>1</HealthCheckIntervalSeconds></member></TargetGroups></DescribeTargetGroupsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeTargetGroupsResponse>"#;
    let (failures, notes) = check_one("elbv2", "DescribeTargetGroups", 200, body);
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        notes,
        [
            "elbv2 DescribeTargetGroups (200): $.DescribeTargetGroupsResult.TargetGroups[].HealthCheckIntervalSeconds = 1 outside the model's range [5, 300]"
        ]
    );
}

#[test]
fn error_codes_must_be_modelled_for_the_operation() {
    let modelled = r#"{"__type":"ClusterNotFoundException","message":"Cluster not found."}"#;
    assert_eq!(
        check_one("ecs", "DescribeServices", 400, modelled),
        (vec![], vec![])
    );
    let other = r#"{"__type":"ServiceNotFoundException","message":"x"}"#;
    let (failures, _) = check_one("ecs", "DescribeServices", 400, other);
    assert!(
        failures[0].contains("[ServiceNotFoundException]: not an error of this operation"),
        "{failures:?}"
    );
    let query = |code: &str| {
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )
    };
    assert_eq!(
        check_one(
            "elbv2",
            "DescribeTargetHealth",
            400,
            &query("TargetGroupNotFound")
        ),
        (vec![], vec![])
    );
    let (failures, _) = check_one(
        "elbv2",
        "DescribeTargetHealth",
        400,
        &query("TargetGroupNotFoundException"),
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
}

#[test]
fn cbor_timestamps_are_tagged_epoch_seconds() {
    use ciborium::Value as C;
    let alarm = |updated: C| {
        C::Map(vec![(
            C::Text("MetricAlarms".into()),
            C::Array(vec![C::Map(vec![
                (C::Text("AlarmName".into()), C::Text("a".into())),
                (C::Text("StateValue".into()), C::Text("OK".into())),
                (C::Text("StateUpdatedTimestamp".into()), updated),
            ])]),
        )])
    };
    let check = |value: C| {
        let mut body = Vec::new();
        ciborium::into_writer(&value, &mut body).expect("CBOR");
        let ex = Exchange {
            service: "cloudwatch".into(),
            operation: "DescribeAlarms".into(),
            protocol: Protocol::Cbor,
            status: 200,
            headers: vec![
                ("content-type".into(), "application/cbor".into()),
                ("x-amzn-requestid".into(), "r".into()),
            ],
            body,
        };
        check_all(&[ex]).failures.into_iter().collect::<Vec<_>>()
    };
    assert!(check(alarm(C::Tag(1, Box::new(C::Float(1764500000.25))))).is_empty());
    let failures = check(alarm(C::Text("2025-11-30T00:00:00Z".into())));
    assert!(
        failures[0].contains("StateUpdatedTimestamp: expected a tag-1 epoch timestamp"),
        "{failures:?}"
    );
}
