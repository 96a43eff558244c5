//! AWS omits an absent member rather than send `null` (awsJson) or an empty element
//! (awsQuery): read over raw HTTP, the last page of every paginated list has no `nextToken`
//! member at all (a client paging while `"nextToken" in response` stops there), no answer
//! carries a `null`, and a healthy target's `TargetHealth` has no `Reason` element.

use crate::common::*;
use serde_json::{Value, json};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";

/// Calls an awsJson 1.1 operation over raw HTTP, signed for `service` (`ecs`, `ecr`);
/// returns the raw body after checking the status is 200.
async fn call_json(env: &Env, service: &str, target: &str, input: &Value) -> String {
    let request = env.signed_request(
        service,
        "/",
        &[
            ("x-amz-target", target),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        input.to_string().as_bytes(),
    );
    let raw = send_raw(env.port, &request).await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{target}: {raw}");
    body(&raw).to_owned()
}

/// The body of a raw HTTP answer.
fn body(raw: &str) -> &str {
    raw.split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_else(|| panic!("no body in {raw:?}"))
}

/// Where `value` holds a `null`, as JSON paths.
fn nulls(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(path.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nulls(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                nulls(member, &format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// Parses a raw JSON answer and checks that it has no `null` anywhere.
fn without_nulls(what: &str, raw: &str) -> Value {
    let value: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{what}: {e}: {raw}"));
    let mut found = Vec::new();
    nulls(&value, "$", &mut found);
    assert!(found.is_empty(), "{what} sends null at {found:?}: {raw}");
    value
}

/// Pages `op` (`input` plus `maxResults: per_page`) to its last page: no page has a `null`,
/// every page but the last has a `nextToken`, the last has no `nextToken` member at all.
/// Returns the items of `list` across the pages and how many pages there were.
async fn page_to_the_end(
    env: &Env,
    (service, prefix, op): (&str, &str, &str),
    input: Value,
    per_page: i64,
    list: &str,
) -> (Vec<Value>, usize) {
    let target = format!("{prefix}.{op}");
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for page in 1.. {
        let mut request = input.clone();
        request["maxResults"] = json!(per_page);
        if let Some(token) = &token {
            request["nextToken"] = json!(token);
        }
        let raw = call_json(env, service, &target, &request).await;
        let answer = without_nulls(&format!("{op} page {page}"), &raw);
        let listed = answer[list]
            .as_array()
            .unwrap_or_else(|| panic!("{op} page {page} has no {list} list: {raw}"));
        items.extend(listed.iter().cloned());
        match answer.get("nextToken") {
            Some(Value::String(next)) => token = Some(next.clone()),
            Some(other) => panic!("{op} page {page}: nextToken {other}"),
            None => {
                assert!(!raw.contains("nextToken"), "{op} last page: {raw}");
                return (items, page);
            }
        }
        assert!(page < 50, "{op} never reaches its last page");
    }
    unreachable!("the loop returns on the last page")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_page_of_every_list_has_no_next_token_member() {
    let mut env = Env::start().await;
    for cluster in ["a", "b"] {
        env.ecs
            .create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .expect("CreateCluster");
    }
    let image = format!("{}/hello:v1", env.registry());
    for _ in 0..3 {
        register(&env, "web", &image, &[], None).await;
    }
    for repo in ["r1", "r2", "r3"] {
        env.ecr
            .create_repository()
            .repository_name(repo)
            .send()
            .await
            .expect("CreateRepository");
    }
    let (clusters, pages) = page_to_the_end(
        &env,
        ("ecs", ECS, "ListClusters"),
        json!({}),
        1,
        "clusterArns",
    )
    .await;
    assert_eq!((clusters.len(), pages), (2, 2));
    let (definitions, pages) = page_to_the_end(
        &env,
        ("ecs", ECS, "ListTaskDefinitions"),
        json!({"familyPrefix": "web"}),
        2,
        "taskDefinitionArns",
    )
    .await;
    assert_eq!((definitions.len(), pages), (3, 2));
    let (services, _) = page_to_the_end(
        &env,
        ("ecs", ECS, "ListServices"),
        json!({"cluster": "a"}),
        10,
        "serviceArns",
    )
    .await;
    assert!(services.is_empty());
    // An empty list is a present member: `[]`, not omitted.
    let raw = call_json(
        &env,
        "ecs",
        &format!("{ECS}.ListTasks"),
        &json!({"cluster": "a"}),
    )
    .await;
    assert_eq!(without_nulls("ListTasks", &raw), json!({"taskArns": []}));
    let (repositories, pages) = page_to_the_end(
        &env,
        ("ecr", ECR, "DescribeRepositories"),
        json!({}),
        2,
        "repositories",
    )
    .await;
    assert_eq!((repositories.len(), pages), (3, 2));
    let (images, _) = page_to_the_end(
        &env,
        ("ecr", ECR, "DescribeImages"),
        json!({"repositoryName": "r1"}),
        5,
        "imageDetails",
    )
    .await;
    assert!(images.is_empty());
    env.stop().await;
}

/// Whether an XML document has an element with nothing in it (`<Name></Name>`).
fn empty_elements(xml: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in xml.match_indices("</") {
        let name: String = xml[at + 2..].chars().take_while(|c| *c != '>').collect();
        if xml[..at].ends_with(&format!("<{name}>")) {
            found.push(name);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_service_answers_without_nulls_or_empty_elements() {
    let mut env = Env::start().await;
    let stack = stack(&env, "n", 1).await;
    let image = push_hello(&env, REPO, "v1").await;
    let td = register(&env, "web", &image, &[], None).await;
    create_service(&env, &stack, "web", &td, 1, (100, 200), Some(true)).await;
    create_service(&env, &stack, "idle", &td, 0, (100, 200), None).await;
    wait_for("the target to be healthy", || async {
        let states = target_states(&env, &stack.target_group_arn).await;
        (states.len() == 1 && states[0].1 == "healthy").then_some(())
    })
    .await;

    let (services, pages) = page_to_the_end(
        &env,
        ("ecs", ECS, "ListServices"),
        json!({"cluster": "n"}),
        1,
        "serviceArns",
    )
    .await;
    assert_eq!((services.len(), pages), (2, 2));
    let (tasks, _) = page_to_the_end(
        &env,
        ("ecs", ECS, "ListTasks"),
        json!({"cluster": "n"}),
        1,
        "taskArns",
    )
    .await;
    assert_eq!(tasks.len(), 1);
    let (images, _) = page_to_the_end(
        &env,
        ("ecr", ECR, "DescribeImages"),
        json!({"repositoryName": REPO}),
        1,
        "imageDetails",
    )
    .await;
    assert_eq!(images.len(), 1);
    let described = json!({"cluster": "n", "services": services});
    let raw = call_json(&env, "ecs", &format!("{ECS}.DescribeServices"), &described).await;
    without_nulls("DescribeServices", &raw);
    let raw = call_json(
        &env,
        "ecs",
        &format!("{ECS}.DescribeTasks"),
        &json!({"cluster": "n", "tasks": tasks}),
    )
    .await;
    without_nulls("DescribeTasks", &raw);

    // awsQuery: a healthy target has no Reason and no Description, not empty elements.
    let form = format!(
        "Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn={}",
        stack
            .target_group_arn
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    let request = env.signed_request(
        "elasticloadbalancing",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    let raw = send_raw(env.port, &request).await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let xml = body(&raw);
    assert!(
        xml.contains("<TargetHealth><State>healthy</State></TargetHealth>"),
        "{xml}"
    );
    assert!(!xml.contains("Reason") && !xml.contains("null"), "{xml}");
    assert_eq!(empty_elements(xml), Vec::<String>::new(), "{xml}");
    env.stop().await;
}
