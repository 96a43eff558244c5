//! Things going wrong, as ECS reports them: a crashing image and the circuit breaker with
//! rollback, a missing image, failing ELB health checks, and a task killed with SIGKILL.

use crate::common::*;
use aws_sdk_ecs::types::DeploymentRolloutState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_image_trips_the_circuit_breaker_and_rolls_back() {
    let mut env = Env::start().await;
    let stack = stack(&env, "breaker", 0).await;
    let image = push_hello(&env, REPO, "v1").await;
    let good = register(&env, "breaker", &image, &[("GREETING", "v1")], None).await;
    let created = create_service(&env, &stack, "breaker", &good, 2, (100, 200), Some(true)).await;
    let first = primary_id(&created);
    wait_completed(&env, "breaker", "breaker", &first).await;

    // A PORT in the container definition is kept, as on ECS: hello-service exits 2 at once.
    let bad = register(
        &env,
        "breaker",
        &image,
        &[("GREETING", "v1"), ("PORT", "not-a-port")],
        None,
    )
    .await;
    let updated = env
        .ecs
        .update_service()
        .cluster("breaker")
        .service("breaker")
        .task_definition(&bad)
        .send()
        .await
        .expect("UpdateService");
    let failed_id = primary_id(updated.service().unwrap());

    let service = wait_for("the circuit breaker to fail the deployment", || async {
        let s = describe(&env, "breaker", "breaker").await;
        let failed = s
            .deployments()
            .iter()
            .find(|d| d.id() == Some(failed_id.as_str()))?;
        (failed.rollout_state() == Some(&DeploymentRolloutState::Failed)).then_some(s)
    })
    .await;
    let failed = service
        .deployments()
        .iter()
        .find(|d| d.id() == Some(failed_id.as_str()))
        .unwrap();
    assert_eq!(
        failed.status(),
        Some("ACTIVE"),
        "the failed deployment is no longer PRIMARY"
    );
    assert_eq!(
        failed.rollout_state_reason(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    assert!(
        failed.failed_tasks() >= 3,
        "threshold clamp(ceil(0.5 × 2), 3, 200) = 3, got {}",
        failed.failed_tasks()
    );
    let rollback = &service.deployments()[0];
    assert_eq!(rollback.status(), Some("PRIMARY"));
    assert_eq!(
        rollback.task_definition(),
        Some(good.as_str()),
        "rolled back to the last COMPLETED revision"
    );
    assert_ne!(
        rollback.id(),
        Some(first.as_str()),
        "a rollback is a new deployment"
    );
    assert_eq!(
        rollback.rollout_state_reason(),
        Some(
            format!("ECS deployment circuit breaker: rolling back to deploymentId {first}.")
                .as_str()
        )
    );
    assert_eq!(service.task_definition(), Some(good.as_str()));
    let messages = events(&service);
    assert!(
        messages.contains(&format!(
            "(service breaker) (deployment {failed_id}) deployment failed: tasks failed to start."
        )),
        "{messages:#?}"
    );
    assert!(
        messages.contains(&format!(
            "(service breaker) rolling back to deployment {first}"
        )),
        "{messages:#?}"
    );

    let rollback_id = rollback.id().unwrap().to_owned();
    wait_completed(&env, "breaker", "breaker", &rollback_id).await;

    // The failed tasks: exited with code 2, recorded as ECS records them.
    let stopped = stopped_tasks(&env, "breaker", "breaker").await;
    // (Tasks still starting when the breaker tripped were stopped by the scheduler.)
    let crashed: Vec<_> = stopped
        .iter()
        .filter(|t| t.started_by() == Some(failed_id.as_str()))
        .filter(|t| {
            t.stop_code() == Some(&aws_sdk_ecs::types::TaskStopCode::EssentialContainerExited)
        })
        .collect();
    assert!(crashed.len() >= 3, "{stopped:#?}");
    for task in &crashed {
        assert_eq!(
            task.stopped_reason(),
            Some("Essential container in task exited")
        );
        assert_eq!(task.containers()[0].exit_code(), Some(2));
        assert_eq!(task.group(), Some("service:breaker"));
    }
    // Its log says why (the awslogs stand-in).
    let task_id = crashed[0].task_arn().unwrap();
    let logs = env.running().task_log_paths(task_id);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].0, "web");
    let text = std::fs::read_to_string(&logs[0].1).unwrap();
    assert!(text.contains("invalid PORT"), "{text}");

    // Still serving the previous revision.
    let answer = http_get(stack.listener_port, "/hello/after")
        .await
        .expect("GET");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.starts_with("v1 after"), "{answer:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_tag_is_a_cannot_pull_container_error() {
    let mut env = Env::start().await;
    env.ecs
        .create_cluster()
        .cluster_name("pull")
        .send()
        .await
        .unwrap();
    push_hello(&env, REPO, "v1").await;
    let missing = format!("{}/{REPO}:does-not-exist", env.registry());
    let td = register(&env, "pull", &missing, &[], None).await;
    // The breaker trips, but with no COMPLETED deployment there is nothing to roll back to.
    env.ecs
        .create_service()
        .cluster("pull")
        .service_name("pull")
        .task_definition(&td)
        .desired_count(1)
        .deployment_configuration(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    aws_sdk_ecs::types::DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateService");
    let service = wait_for("the deployment to fail", || async {
        let s = describe(&env, "pull", "pull").await;
        (s.deployments()[0].rollout_state() == Some(&DeploymentRolloutState::Failed)).then_some(s)
    })
    .await;
    assert_eq!(
        service.deployments().len(),
        1,
        "no rollback without a COMPLETED deployment"
    );
    assert_eq!(service.deployments()[0].status(), Some("PRIMARY"));
    let stopped = stopped_tasks(&env, "pull", "pull").await;
    assert!(stopped.len() >= 3, "{stopped:#?}");
    for task in &stopped {
        assert_eq!(
            task.stop_code(),
            Some(&aws_sdk_ecs::types::TaskStopCode::TaskFailedToStart)
        );
        let reason = task.stopped_reason().unwrap();
        assert!(reason.starts_with("CannotPullContainerError: "), "{reason}");
        assert!(reason.contains("does-not-exist: not found"), "{reason}");
        let container = &task.containers()[0];
        assert_eq!(container.reason(), Some(reason));
        assert_eq!(container.exit_code(), None);
        assert_eq!(container.last_status(), Some("STOPPED"));
    }
    // A FAILED deployment launches nothing more.
    let count = stopped.len();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(stopped_tasks(&env, "pull", "pull").await.len(), count);
    assert!(alive_tasks(&env, "pull", "pull").await.is_empty());

    // An image from any other registry cannot be pulled here either.
    let elsewhere = register(
        &env,
        "elsewhere",
        "public.ecr.aws/docker/library/nginx:latest",
        &[],
        None,
    )
    .await;
    let run = env
        .ecs
        .create_service()
        .cluster("pull")
        .service_name("elsewhere")
        .task_definition(&elsewhere)
        .desired_count(1)
        .send()
        .await
        .expect("CreateService");
    assert_eq!(run.service().unwrap().desired_count(), 1);
    let task = wait_for("a stopped task", || async {
        stopped_tasks(&env, "pull", "elsewhere")
            .await
            .into_iter()
            .next()
    })
    .await;
    let reason = task.stopped_reason().unwrap();
    assert!(
        reason.starts_with("CannotPullContainerError: ")
            && reason.contains("pulls only from its own registry"),
        "{reason}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_checks_get_a_task_replaced() {
    let mut env = Env::start().await;
    let stack = stack(&env, "unhealthy", 0).await;
    let image = push_hello(&env, REPO, "v1").await;
    let td = register(&env, "unhealthy", &image, &[], None).await;
    let created = create_service(&env, &stack, "unhealthy", &td, 1, (100, 200), None).await;
    wait_completed(&env, "unhealthy", "unhealthy", &primary_id(&created)).await;
    let original = alive_tasks(&env, "unhealthy", "unhealthy").await;
    assert_eq!(original.len(), 1);
    let original = original[0].task_arn().unwrap().to_owned();

    // A grace period keeps a new task's failing target visible (and the task running) for a
    // few seconds; the original task is long past it.
    env.ecs
        .update_service()
        .cluster("unhealthy")
        .service("unhealthy")
        .health_check_grace_period_seconds(4)
        .send()
        .await
        .expect("UpdateService grace period");
    // The health check now asks for a path the app answers 404.
    env.elb
        .modify_target_group()
        .target_group_arn(&stack.target_group_arn)
        .health_check_path("/does-not-exist")
        .send()
        .await
        .expect("ModifyTargetGroup");
    let task = wait_for("the unhealthy task to be stopped", || async {
        let tasks = describe_tasks(&env, "unhealthy", std::slice::from_ref(&original)).await;
        tasks
            .into_iter()
            .find(|t| t.last_status() == Some("STOPPED"))
    })
    .await;
    assert_eq!(
        task.stopped_reason(),
        Some(
            format!(
                "Task failed ELB health checks in (target-group {})",
                stack.target_group_arn
            )
            .as_str()
        )
    );
    assert_eq!(
        task.stop_code(),
        Some(&aws_sdk_ecs::types::TaskStopCode::ServiceSchedulerInitiated)
    );
    // The replacement fails too, visibly: unhealthy, yet kept during its grace period.
    let states = wait_for("a target to turn unhealthy", || async {
        let states = target_states(&env, &stack.target_group_arn).await;
        states
            .iter()
            .any(|(_, s, _)| s == "unhealthy")
            .then_some(states)
    })
    .await;
    let (_, _, reason) = states.iter().find(|(_, s, _)| s == "unhealthy").unwrap();
    assert_eq!(reason.as_deref(), Some("Target.ResponseCodeMismatch"));
    let service = describe(&env, "unhealthy", "unhealthy").await;
    let messages = events(&service);
    assert!(
        messages.iter().any(|m| m.contains(&format!("is unhealthy in (target-group {}) due to (reason Health checks failed with these codes: [404]).", stack.target_group_arn))),
        "{messages:#?}"
    );

    // Replaced; once the check is fixed, the replacement stays and the service is steady.
    env.elb
        .modify_target_group()
        .target_group_arn(&stack.target_group_arn)
        .health_check_path("/ping")
        .send()
        .await
        .expect("ModifyTargetGroup");
    wait_for("a healthy replacement", || async {
        let tasks = alive_tasks(&env, "unhealthy", "unhealthy").await;
        let states = target_states(&env, &stack.target_group_arn).await;
        let replaced = tasks.len() == 1 && tasks[0].task_arn() != Some(original.as_str());
        (replaced && states.iter().filter(|(_, s, _)| s == "healthy").count() == 1).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_task_is_stopped_with_its_exit_code_and_replaced() {
    let mut env = Env::start().await;
    let stack = stack(&env, "killed", 0).await;
    let image = push_hello(&env, REPO, "v1").await;
    let td = register(&env, "killed", &image, &[], None).await;
    let created = create_service(&env, &stack, "killed", &td, 2, (100, 200), Some(true)).await;
    let id = primary_id(&created);
    wait_completed(&env, "killed", "killed", &id).await;
    let tasks = alive_tasks(&env, "killed", "killed").await;
    let victim = tasks[0].clone();
    let pid: i32 = victim.containers()[0]
        .runtime_id()
        .expect("runtimeId is the pid")
        .parse()
        .unwrap();
    let bindings = victim.containers()[0].network_bindings();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].bind_ip(), Some("127.0.0.1"));
    assert_eq!(bindings[0].container_port(), Some(8080));
    let host_port = bindings[0].host_port().unwrap();
    assert!(
        http_get(host_port as u16, "/ping")
            .await
            .is_ok_and(|a| a.status == 200)
    );

    // SAFETY: kill(2) on the task's own process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let arn = victim.task_arn().unwrap().to_owned();
    let stopped = wait_for("the killed task to be STOPPED", || async {
        describe_tasks(&env, "killed", std::slice::from_ref(&arn))
            .await
            .into_iter()
            .find(|t| t.last_status() == Some("STOPPED"))
    })
    .await;
    assert_eq!(
        stopped.containers()[0].exit_code(),
        Some(137),
        "128 + SIGKILL"
    );
    assert_eq!(
        stopped.stop_code(),
        Some(&aws_sdk_ecs::types::TaskStopCode::EssentialContainerExited)
    );
    assert_eq!(
        stopped.stopped_reason(),
        Some("Essential container in task exited")
    );
    assert_eq!(stopped.desired_status(), Some("STOPPED"));

    // Replaced by the same deployment; a kill after steady state is no deployment failure.
    let service = wait_for("a replacement", || async {
        let s = describe(&env, "killed", "killed").await;
        let alive = alive_tasks(&env, "killed", "killed").await;
        let healthy = target_states(&env, &stack.target_group_arn)
            .await
            .iter()
            .filter(|(_, s, _)| s == "healthy")
            .count();
        (alive.len() == 2
            && healthy == 2
            && alive.iter().all(|t| t.task_arn() != Some(arn.as_str())))
        .then_some(s)
    })
    .await;
    assert_eq!(primary_id(&service), id);
    assert_eq!(
        service.deployments()[0].rollout_state(),
        Some(&DeploymentRolloutState::Completed)
    );
    assert_eq!(service.deployments()[0].failed_tasks(), 0);

    // StopTask: the user's reason, and another replacement.
    let victim = alive_tasks(&env, "killed", "killed").await[0]
        .task_arn()
        .unwrap()
        .to_owned();
    let answer = env
        .ecs
        .stop_task()
        .cluster("killed")
        .task(&victim)
        .reason("testing StopTask")
        .send()
        .await
        .expect("StopTask");
    assert_eq!(answer.task().unwrap().desired_status(), Some("STOPPED"));
    let stopped = wait_for("the stopped task", || async {
        describe_tasks(&env, "killed", std::slice::from_ref(&victim))
            .await
            .into_iter()
            .find(|t| t.last_status() == Some("STOPPED"))
    })
    .await;
    assert_eq!(
        stopped.stop_code(),
        Some(&aws_sdk_ecs::types::TaskStopCode::UserInitiated)
    );
    assert_eq!(stopped.stopped_reason(), Some("testing StopTask"));
    assert_eq!(
        stopped.containers()[0].exit_code(),
        Some(0),
        "hello-service drains and exits 0 on SIGTERM"
    );
    wait_for("two tasks again", || async {
        (alive_tasks(&env, "killed", "killed").await.len() == 2).then_some(())
    })
    .await;

    // Scaling in stops a task of the same deployment; no new deployment.
    let scaled = env
        .ecs
        .update_service()
        .cluster("killed")
        .service("killed")
        .desired_count(1)
        .send()
        .await
        .expect("UpdateService desiredCount");
    assert_eq!(primary_id(scaled.service().unwrap()), id);
    wait_for("one task", || async {
        let alive = alive_tasks(&env, "killed", "killed").await;
        let s = describe(&env, "killed", "killed").await;
        (alive.len() == 1 && s.running_count() == 1).then_some(())
    })
    .await;
    let reasons: Vec<String> = stopped_tasks(&env, "killed", "killed")
        .await
        .iter()
        .filter_map(|t| t.stopped_reason().map(str::to_owned))
        .collect();
    assert!(
        reasons.contains(&format!("Scaling activity initiated by (deployment {id})")),
        "{reasons:#?}"
    );
    env.stop().await;
}
