//! A realistic DescribeTaskDefinition answer (secrets, health check, log configuration,
//! volumes, placement, tags, …) goes through the real SDK deserializer and comes back out as
//! a RegisterTaskDefinition request: everything registrable kept, read-only fields dropped,
//! only the image changed. Checked on the wire, with StaticReplayClient.

use aws_smithy_runtime::client::http::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use deploy_sdk::taskdef::{self, ContainerChanges, NewRevision};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/describe-task-definition.json");
const NEW_IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-ecr-repo@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn json_response(body: String) -> http::Response<SdkBody> {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/x-amz-json-1.1")
        .body(SdkBody::from(body))
        .unwrap()
}

fn request() -> http::Request<SdkBody> {
    http::Request::builder()
        .uri("https://ecs.eu-west-1.amazonaws.com/")
        .body(SdkBody::empty())
        .unwrap()
}

fn ecs_client(replay: &StaticReplayClient) -> aws_sdk_ecs::Client {
    let config = aws_sdk_ecs::Config::builder()
        .with_test_defaults()
        .region(aws_sdk_ecs::config::Region::new("eu-west-1"))
        .http_client(replay.clone())
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

#[tokio::test]
async fn a_realistic_task_definition_round_trips_with_only_the_image_changed() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let registered = serde_json::json!({ "taskDefinition": {
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-ecs:8",
        "family": "hello-ecs", "revision": 8
    }});
    let replay = StaticReplayClient::new(vec![
        ReplayEvent::new(request(), json_response(FIXTURE.to_owned())),
        ReplayEvent::new(request(), json_response(registered.to_string())),
    ]);
    let ecs = ecs_client(&replay);

    let current = taskdef::describe(&ecs, "hello-ecs:7").await.unwrap();
    assert_eq!(current.tags.len(), 2);
    let plan = NewRevision::plan(
        current,
        &ContainerChanges::default().image("hello-ecs", NEW_IMAGE),
    )
    .unwrap();
    assert_eq!(plan.changes.len(), 1);
    let arn = plan.register(&ecs).await.unwrap();
    assert_eq!(
        arn,
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/hello-ecs:8"
    );

    let requests: Vec<_> = replay.actual_requests().collect();
    assert_eq!(requests.len(), 2);
    let describe: Value = serde_json::from_slice(requests[0].body().bytes().unwrap()).unwrap();
    assert_eq!(
        describe["include"],
        serde_json::json!(["TAGS"]),
        "tags are asked for"
    );
    assert_eq!(
        requests[1].headers().get("x-amz-target"),
        Some("AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition")
    );
    let sent: Value = serde_json::from_slice(requests[1].body().bytes().unwrap()).unwrap();

    let mut expected = fixture["taskDefinition"].clone();
    let fields = expected.as_object_mut().unwrap();
    for read_only in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        assert!(
            fields.remove(read_only).is_some(),
            "fixture lacks {read_only}"
        );
        assert!(
            sent.get(read_only).is_none(),
            "read-only {read_only} was sent"
        );
    }
    fields.insert("tags".into(), fixture["tags"].clone());
    expected["containerDefinitions"][0]["image"] = Value::String(NEW_IMAGE.into());
    assert_eq!(
        sent, expected,
        "the request differs from the described definition beyond the image"
    );
}

#[tokio::test]
async fn nothing_is_registered_when_the_image_is_already_there() {
    let replay = StaticReplayClient::new(vec![ReplayEvent::new(
        request(),
        json_response(FIXTURE.to_owned()),
    )]);
    let ecs = ecs_client(&replay);
    let current = taskdef::describe(&ecs, "hello-ecs:7").await.unwrap();
    let same = current.image_of("hello-ecs").unwrap().to_owned();
    let plan = NewRevision::plan(
        current,
        &ContainerChanges::default().image("hello-ecs", same),
    )
    .unwrap();
    assert!(!plan.is_change());
    assert_eq!(
        replay.actual_requests().count(),
        1,
        "only the describe went out"
    );
}
