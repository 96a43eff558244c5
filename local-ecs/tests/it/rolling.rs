//! Rolling updates through the real AWS SDK clients, with real hello-service processes and
//! real HTTP through the listener: the minimumHealthyPercent / maximumPercent arithmetic.

use crate::common::*;

/// Answers that are not a 200 (or errors), as readable lines.
fn failures(answers: &[Result<Answer, String>]) -> Vec<String> {
    answers
        .iter()
        .filter_map(|a| match a {
            Ok(a) if a.status == 200 => None,
            Ok(a) => Some(format!("{}: {}", a.status, a.body.trim())),
            Err(e) => Some(e.clone()),
        })
        .collect()
}

/// Rolls `service` from GREETING=v1 to GREETING=v2 under load and returns what was seen.
async fn roll(
    env: &Env,
    stack: &Stack,
    service: &str,
    desired: i32,
    bounds: (i32, i32),
) -> (usize, usize, Vec<Result<Answer, String>>) {
    let image = push_hello(env, REPO, "v1").await;
    let v1 = register(env, service, &image, &[("GREETING", "v1")], None).await;
    let created = create_service(env, stack, service, &v1, desired, bounds, Some(true)).await;
    wait_completed(env, &stack.cluster, service, &primary_id(&created)).await;
    wait_for("every target healthy", || async {
        let states = target_states(env, &stack.target_group_arn).await;
        (states.len() == desired as usize && states.iter().all(|(_, s, _)| s == "healthy"))
            .then_some(())
    })
    .await;

    let load = Load::start(stack.listener_port, "/hello/rolling");
    let observer = Observer::start(env, stack, service);
    let v2 = register(env, service, &image, &[("GREETING", "v2")], None).await;
    let updated = env
        .ecs
        .update_service()
        .cluster(&stack.cluster)
        .service(service)
        .task_definition(&v2)
        .send()
        .await
        .expect("UpdateService")
        .service()
        .unwrap()
        .clone();
    // The new deployment is PRIMARY in UpdateService's own answer.
    let primary = &updated.deployments()[0];
    assert_eq!(primary.status(), Some("PRIMARY"));
    assert_eq!(primary.task_definition(), Some(v2.as_str()));
    assert_eq!(
        updated.deployments().len(),
        2,
        "the old deployment stays ACTIVE"
    );
    let id = primary.id().unwrap().to_owned();
    let done = wait_completed(env, &stack.cluster, service, &id).await;
    assert_eq!(done.task_definition(), Some(v2.as_str()));
    // The listener now answers from v2 only.
    wait_for("v2 to answer through the listener", || async {
        let answer = http_get(stack.listener_port, "/hello/after").await.ok()?;
        (answer.status == 200 && answer.body.starts_with("v2 after")).then_some(())
    })
    .await;
    let (peak, fewest) = observer.finish().await;
    let answers = load.finish().await;
    let events = events(&describe(env, &stack.cluster, service).await);
    assert!(
        events
            .iter()
            .any(|e| e == &format!("(service {service}) (deployment {id}) deployment completed.")),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e == &format!("(service {service}) has reached a steady state.")),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with(&format!(
            "(service {service}) has begun draining connections on 1 tasks."
        ))),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with(&format!(
            "(service {service}) deregistered 1 targets in (target-group {})",
            stack.target_group_arn
        ))),
        "{events:#?}"
    );
    // Every task that stopped was replaced by the rollout; none crashed or failed a check.
    for task in stopped_tasks(env, &stack.cluster, service).await {
        assert_eq!(
            task.stopped_reason(),
            Some(format!("Scaling activity initiated by (deployment {id})").as_str()),
            "{task:#?}"
        );
        assert_eq!(
            task.containers()[0].exit_code(),
            Some(0),
            "drained and exited cleanly"
        );
    }
    (peak, fewest, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_2_min_100_max_200_keeps_serving_without_errors() {
    let mut env = Env::start().await;
    let stack = stack(&env, "surge", 1).await;
    let (peak, fewest, answers) = roll(&env, &stack, "surge", 2, (100, 200)).await;
    assert!(peak <= 4, "at most 4 tasks at the peak, saw {peak}");
    assert!(
        peak >= 3,
        "the rollout should start new tasks before stopping old ones (peak {peak})"
    );
    assert!(
        fewest >= 2,
        "never fewer than 2 healthy targets, saw {fewest}"
    );
    assert!(
        answers.len() > 20,
        "the load ran ({} answers)",
        answers.len()
    );
    let bad = failures(&answers);
    assert!(
        bad.is_empty(),
        "{} of {} answers were not 200: {bad:#?}",
        bad.len(),
        answers.len()
    );
    assert!(answers.iter().flatten().any(|a| a.body.starts_with("v1 ")));
    assert!(answers.iter().flatten().any(|a| a.body.starts_with("v2 ")));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_4_min_50_max_100_replaces_in_place() {
    let mut env = Env::start().await;
    let stack = stack(&env, "inplace", 1).await;
    let (peak, fewest, answers) = roll(&env, &stack, "inplace", 4, (50, 100)).await;
    assert!(peak <= 4, "never more than 4 tasks, saw {peak}");
    assert!(
        fewest >= 2,
        "never fewer than 2 healthy targets, saw {fewest}"
    );
    assert!(answers.iter().flatten().any(|a| a.body.starts_with("v2 ")));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_3_min_100_max_125_stalls() {
    let mut env = Env::start().await;
    let stack = stack(&env, "stall", 1).await;
    let image = push_hello(&env, REPO, "v1").await;
    let v1 = register(&env, "stall", &image, &[("GREETING", "v1")], None).await;
    let created = create_service(&env, &stack, "stall", &v1, 3, (100, 125), None).await;
    wait_completed(&env, "stall", "stall", &primary_id(&created)).await;
    let v2 = register(&env, "stall", &image, &[("GREETING", "v2")], None).await;
    let updated = env
        .ecs
        .update_service()
        .cluster("stall")
        .service("stall")
        .task_definition(&v2)
        .send()
        .await
        .expect("UpdateService");
    let id = primary_id(updated.service().unwrap());
    let stall = "(service stall) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.";
    let service = wait_for("the stall event", || async {
        let s = describe(&env, "stall", "stall").await;
        events(&s).iter().any(|e| e == stall).then_some(s)
    })
    .await;
    let primary = &service.deployments()[0];
    assert_eq!(primary.id(), Some(id.as_str()));
    assert_eq!(primary.running_count(), 0, "nothing may start");
    assert_eq!(
        primary.rollout_state(),
        Some(&aws_sdk_ecs::types::DeploymentRolloutState::InProgress)
    );
    assert_eq!(service.running_count(), 3, "nothing may stop");
    assert_eq!(alive_tasks(&env, "stall", "stall").await.len(), 3);
    // Still serving v1.
    let answer = http_get(stack.listener_port, "/hello/x")
        .await
        .expect("GET");
    assert_eq!(answer.status, 200);
    assert!(answer.body.starts_with("v1 x"), "{answer:?}");

    // Loosening the bounds lets the deployment finish.
    env.ecs
        .update_service()
        .cluster("stall")
        .service("stall")
        .deployment_configuration(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(200)
                .build(),
        )
        .send()
        .await
        .expect("UpdateService bounds");
    let after = describe(&env, "stall", "stall").await;
    assert_eq!(
        primary_id(&after),
        id,
        "changing the bounds starts no new deployment"
    );
    wait_completed(&env, "stall", "stall", &id).await;
    env.stop().await;
}
