//! Restarting local-ecs: services, definitions, images and listeners come back from the
//! state directory and their tasks are started again; no task outlives a shutdown.

use crate::common::*;

fn process_alive(pid: i32) -> bool {
    // A reaped process is gone from /proc; a zombie would still be listed as Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_brings_services_and_tasks_back() {
    let mut env = Env::start().await;
    let stack = stack(&env, "restart", 0).await;
    let image = push_hello(&env, REPO, "v1").await;
    // A container health check that really runs: the image's own binary.
    let td = register(
        &env,
        "restart",
        &image,
        &[("GREETING", "again")],
        Some(vec![
            "CMD".into(),
            "/usr/local/bin/hello-service".into(),
            "healthcheck".into(),
        ]),
    )
    .await;
    let created = create_service(&env, &stack, "restart", &td, 1, (100, 200), None).await;
    wait_completed(&env, "restart", "restart", &primary_id(&created)).await;
    let task = wait_for("a HEALTHY task", || async {
        alive_tasks(&env, "restart", "restart")
            .await
            .into_iter()
            .find(|t| t.health_status() == Some(&aws_sdk_ecs::types::HealthStatus::Healthy))
    })
    .await;
    assert_eq!(
        task.containers()[0].health_status(),
        Some(&aws_sdk_ecs::types::HealthStatus::Healthy)
    );
    let pid: i32 = task.containers()[0].runtime_id().unwrap().parse().unwrap();
    assert!(process_alive(pid));
    let endpoint_file = env.running().state_dir().join("endpoint");
    assert_eq!(
        std::fs::read_to_string(&endpoint_file).unwrap().trim(),
        env.endpoint
    );

    // Shut down: every task stops, nothing is left running, the endpoint file goes.
    let port = env.port;
    env.stop().await;
    assert!(!process_alive(pid), "task process {pid} outlived local-ecs");
    assert!(!endpoint_file.exists());
    assert!(
        http_get(stack.listener_port, "/ping").await.is_err(),
        "the listener is closed"
    );

    // Start again on the same state directory, on another port: the task definition names
    // its image with the old port, and it must still pull.
    let dir = std::mem::replace(&mut env.dir, tempfile::tempdir().unwrap());
    let mut env = Env::start_in(dir, 0).await;
    assert_ne!(env.port, port);
    let service = describe(&env, "restart", "restart").await;
    assert_eq!(service.status(), Some("ACTIVE"));
    assert_eq!(service.task_definition(), Some(td.as_str()));
    let listeners = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&stack.load_balancer_arn)
        .send()
        .await
        .expect("DescribeListeners");
    assert_eq!(
        listeners.listeners()[0].port(),
        Some(stack.listener_port as i32),
        "the listener keeps its port"
    );
    let images = env
        .ecr
        .describe_images()
        .repository_name(REPO)
        .send()
        .await
        .expect("DescribeImages");
    assert_eq!(images.image_details().len(), 1);
    wait_for("the task to run again and serve", || async {
        let tasks = alive_tasks(&env, "restart", "restart").await;
        let answer = http_get(stack.listener_port, "/hello/back").await.ok()?;
        (tasks.len() == 1 && answer.status == 200 && answer.body.starts_with("again back"))
            .then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_local_ecs_leaves_no_task_behind() {
    use std::io::BufRead;
    let state = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_local-ecs"))
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn local-ecs");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line.trim().rsplit(' ').next().unwrap().to_owned();
    let env = Env::external(&endpoint, state.path()).await;
    env.ecs
        .create_cluster()
        .cluster_name("crash")
        .send()
        .await
        .unwrap();
    let image = push_hello(&env, REPO, "v1").await;
    let td = register(&env, "crash", &image, &[], None).await;
    env.ecs
        .create_service()
        .cluster("crash")
        .service_name("crash")
        .task_definition(&td)
        .desired_count(1)
        .send()
        .await
        .expect("CreateService");
    let task = wait_for("a RUNNING task", || async {
        alive_tasks(&env, "crash", "crash")
            .await
            .into_iter()
            .find(|t| t.last_status() == Some("RUNNING"))
    })
    .await;
    let pid: i32 = task.containers()[0].runtime_id().unwrap().parse().unwrap();
    assert!(process_alive(pid));

    // SIGKILL: no chance to clean up; PR_SET_PDEATHSIG takes the task down with it.
    server.kill().unwrap();
    server.wait().unwrap();
    wait_for("the task process to die with local-ecs", || async {
        (!process_alive(pid)).then_some(())
    })
    .await;
}

/// Service deployments survive a restart; a state directory written before they existed
/// still loads, and its services start new service deployments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_deployments_persist_and_old_state_loads() {
    let mut env = Env::start().await;
    env.ecs
        .create_cluster()
        .cluster_name("old")
        .send()
        .await
        .unwrap();
    let image = format!("{}/hello:v1", env.registry());
    let td = register(&env, "old", &image, &[], None).await;
    let created = env
        .ecs
        .create_service()
        .cluster("old")
        .service_name("old")
        .task_definition(&td)
        .desired_count(0)
        .send()
        .await
        .expect("CreateService");
    let arn = created
        .service()
        .and_then(|s| s.current_service_deployment())
        .unwrap()
        .to_owned();
    let successful = || async {
        let out = env
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(&arn)
            .send()
            .await
            .ok()?;
        (out.service_deployments().first()?.status()
            == Some(&aws_sdk_ecs::types::ServiceDeploymentStatus::Successful))
        .then_some(())
    };
    wait_for("the deployment to succeed", successful).await;
    env.stop().await;

    let dir = std::mem::replace(&mut env.dir, tempfile::tempdir().unwrap());
    let mut env = Env::start_in(dir, 0).await;
    let service = describe(&env, "old", "old").await;
    assert_eq!(service.current_service_deployment(), Some(arn.as_str()));
    let out = env
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.service_deployments()[0].status(),
        Some(&aws_sdk_ecs::types::ServiceDeploymentStatus::Successful)
    );
    let state_file = env.running().state_dir().join("state.json");
    env.stop().await;

    // Strip every field this state gained with service deployments.
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    state.as_object_mut().unwrap().remove("alarms");
    for service in state["services"].as_array_mut().unwrap() {
        let service = service.as_object_mut().unwrap();
        for key in ["controller", "alarms", "revisions", "service_deployments"] {
            service.remove(key);
        }
        for d in service["deployments"].as_array_mut().unwrap() {
            d.as_object_mut().unwrap().remove("revision_arn");
        }
        if let Some(c) = service["last_completed"].as_object_mut() {
            c.remove("revision_arn");
        }
    }
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let dir = std::mem::replace(&mut env.dir, tempfile::tempdir().unwrap());
    let mut env = Env::start_in(dir, 0).await;
    let service = describe(&env, "old", "old").await;
    assert_eq!(service.current_service_deployment(), None);
    let updated = env
        .ecs
        .update_service()
        .cluster("old")
        .service("old")
        .force_new_deployment(true)
        .send()
        .await
        .expect("UpdateService on old state");
    let newer = updated
        .service()
        .and_then(|s| s.current_service_deployment())
        .expect("a new service deployment")
        .to_owned();
    let out = env
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(&newer)
        .send()
        .await
        .unwrap();
    assert!(out.failures().is_empty(), "{out:?}");
    env.stop().await;
}
