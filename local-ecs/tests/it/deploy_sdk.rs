//! deploy-sdk's Deployer against local-ecs, as `cargo xtask deploy` will use it: a good
//! revision completes, a crashing one is reported as rolled back (never as success), and
//! the URL discovered from the load balancer serves the build that should be there.

use crate::common::*;
use deploy_sdk::deploy::{DeployRequest, Deployer};
use deploy_sdk::rollout::{Outcome, RolloutEvent, WatchOptions};
use deploy_sdk::service::ServiceRef;
use deploy_sdk::taskdef::ContainerChanges;
use futures::StreamExt;

async fn deploy(deployer: &Deployer, changes: ContainerChanges) -> Outcome {
    let request = DeployRequest::new(ServiceRef::new("sdk", "sdk"), changes);
    let prepared = deployer.prepare(&request).await.expect("prepare");
    let started = deployer.start(&prepared, &request).await.expect("start");
    assert!(started.is_new);
    let options = WatchOptions {
        timeout: DEADLINE,
        ..WatchOptions::default()
    };
    let mut events = std::pin::pin!(deployer.watch(started, options));
    let mut outcome = None;
    while let Some(event) = events.next().await {
        if let RolloutEvent::Outcome(o) = event.expect("watch") {
            outcome = Some(o);
        }
    }
    outcome.expect("an outcome")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployer_reads_local_ecs_as_ecs() {
    let mut env = Env::start().await;
    let stack = stack(&env, "sdk", 0).await;
    let image = push_hello(&env, REPO, "v1").await;
    let td = register(&env, "sdk", &image, &[("GREETING", "v1")], None).await;
    let created = create_service(&env, &stack, "sdk", &td, 2, (100, 200), Some(true)).await;
    wait_completed(&env, "sdk", "sdk", &primary_id(&created)).await;

    let clients = deploy_sdk::Clients::load(&deploy_sdk::AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(env.endpoint.clone()),
        static_credentials: Some(deploy_sdk::StaticCredentials::new(
            env.credentials.access_key_id(),
            env.credentials.secret_access_key(),
        )),
        ..Default::default()
    })
    .await;
    let deployer = Deployer::new(clients);

    let good = deploy(
        &deployer,
        ContainerChanges::default().env("web", "GREETING", "v2"),
    )
    .await;
    assert!(matches!(good, Outcome::Completed { .. }), "{good:?}");
    let url = deployer
        .discover_url(&ServiceRef::new("sdk", "sdk"))
        .await
        .expect("discover the load balancer URL");
    assert_eq!(url, format!("http://127.0.0.1:{}", stack.listener_port));
    let answer = http_get(stack.listener_port, "/hello/sdk").await.unwrap();
    assert!(answer.body.starts_with("v2 sdk"), "{answer:?}");

    let bad = deploy(
        &deployer,
        ContainerChanges::default().env("web", "GREETING", " "),
    )
    .await;
    match bad {
        Outcome::RolledBack { stopped_tasks, .. } => {
            assert!(!stopped_tasks.is_empty());
        }
        other => panic!("a crashing revision must be reported as rolled back: {other:?}"),
    }
    let answer = http_get(stack.listener_port, "/hello/sdk").await.unwrap();
    assert!(answer.body.starts_with("v2 sdk"), "{answer:?}");
    env.stop().await;
}
