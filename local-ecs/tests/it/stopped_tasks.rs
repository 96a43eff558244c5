//! Only the newest stopped tasks of a service are kept: the older ones leave ListTasks and
//! DescribeTasks (and their directories are removed) as new ones stop.

use crate::common::{sdk_config, wait_for};
use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus};
use local_ecs::{Config, LocalEcs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_keeps_only_its_newest_stopped_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path()).with_port(0);
    config.timing.stopped_tasks_per_service = 2;
    let running = LocalEcs::start(config).await.expect("start local-ecs");
    let ecs = aws_sdk_ecs::Client::new(
        &sdk_config(running.endpoint(), "us-east-1", running.credentials()).await,
    );
    ecs.create_cluster()
        .cluster_name("keep")
        .send()
        .await
        .unwrap();
    // An image that is not there: every task fails to start, and the service (no circuit
    // breaker) keeps starting new ones.
    let missing = format!("127.0.0.1:{}/keep:missing", running.port());
    let td = ecs
        .register_task_definition()
        .family("keep")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(missing)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTaskDefinition");
    let td = td.task_definition().unwrap().task_definition_arn().unwrap();
    ecs.create_service()
        .cluster("keep")
        .service_name("keep")
        .task_definition(td)
        .desired_count(1)
        .send()
        .await
        .expect("CreateService");
    let first_stopped = wait_for("a stopped task", || async {
        stopped(&ecs).await.into_iter().next()
    })
    .await;
    wait_for("five failed tasks", || async {
        let out = ecs
            .describe_services()
            .cluster("keep")
            .services("keep")
            .send()
            .await
            .ok()?;
        let failed = out
            .services()
            .first()?
            .deployments()
            .first()?
            .failed_tasks();
        (failed >= 5).then_some(())
    })
    .await;
    // Pruning is a scheduler pass after the stop: wait for it (it never comes without it).
    wait_for("only the newest 2 stopped tasks", || async {
        let kept = stopped(&ecs).await;
        (kept.len() <= 2 && !kept.contains(&first_stopped)).then_some(())
    })
    .await;
    let described = ecs
        .describe_tasks()
        .cluster("keep")
        .tasks(&first_stopped)
        .send()
        .await
        .unwrap();
    assert!(described.tasks().is_empty(), "{described:?}");
    assert_eq!(described.failures()[0].reason(), Some("MISSING"));
    running.shutdown().await;
}

/// The service's stopped tasks' ARNs.
async fn stopped(ecs: &aws_sdk_ecs::Client) -> Vec<String> {
    ecs.list_tasks()
        .cluster("keep")
        .service_name("keep")
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .map(|out| out.task_arns().to_vec())
        .unwrap_or_default()
}
