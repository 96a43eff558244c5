//! `cargo xtask deploy --local` end to end: a real build (the `local-deploy` profile), a real OCI image pushed to
//! local-ecs's registry, real rolling updates of real hello-service processes behind a real
//! load-balancing proxy — the way a user runs it, exit codes and JSON report included.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tests::{LocalStack, addr_of, greeting_at, http_get, with_stack};

/// Waits until 20 requests in a row through the load balancer succeed.
fn wait_serving(addr: std::net::SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut streak = 0;
    while streak < 20 {
        assert!(
            Instant::now() < deadline,
            "the service did not come back within 120 s"
        );
        streak = if matches!(http_get(addr, "/ping"), Ok((200, _))) {
            streak + 1
        } else {
            0
        };
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until every target of the service is healthy and they all belong to one deployment.
fn wait_healthy(stack: &LocalStack) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = stack.xtask(&["status", "--local"]);
        let targets: Vec<&str> = status
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("targets of "))
            .collect();
        if targets.len() == 1 && targets[0].ends_with(": 2 healthy") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the targets did not become healthy within 120 s:\n{}",
            status.stdout
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_deploys_with_different_greetings_the_second_verified() {
    with_stack(|stack| {
        let page = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-report-rolling.html");
        let _ = std::fs::remove_file(&page);
        let run = stack.deploy(&[
            "--env",
            "GREETING=second",
            "--report",
            page.to_str().unwrap(),
        ]);
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        let report = run.report();
        assert_eq!(report["outcome"], "deployed", "{report:#}");
        assert_eq!(report["exit_code"], 0);
        let old = report["old_task_definition"]
            .as_str()
            .expect("old revision named");
        let new = report["new_task_definition"]
            .as_str()
            .expect("new revision named");
        assert_ne!(old, new);
        assert!(new.contains(":task-definition/hello-ecs:"), "{new}");
        assert!(
            report["deployment_id"]
                .as_str()
                .is_some_and(|d| d.starts_with("ecs-svc/")),
            "{report:#}"
        );
        assert!(
            report["image"]["uri"]
                .as_str()
                .is_some_and(|u| u.contains("/hello-ecr-repo@sha256:")),
            "{report:#}"
        );
        let stages: Vec<&str> = report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["build", "image", "push", "roll", "verify"]);
        let verify = &report["verify"];
        assert_eq!(verify["converged"], true, "{verify:#}");
        assert!(verify["new"].as_u64().unwrap() >= 10);
        assert_eq!(greeting_at(report["url"].as_str().unwrap()), "second");
        // The image was already in the registry: nothing to upload.
        assert_eq!(report["image"]["uploaded_blobs"], 0, "{report:#}");
        // Traffic through the roll stage: sampled, counted per second, none failed.
        let traffic = &report["traffic"];
        let requests = traffic["requests"].as_u64().expect("traffic sampled");
        assert!(requests > 0, "{traffic:#}");
        assert_eq!(traffic["failed"], 0, "{traffic:#}");
        let per_second: u64 = traffic["per_second"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s.as_array().unwrap())
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(per_second, requests, "{traffic:#}");
        // The roll's time budget: predicted before the roll, set against what the watch saw.
        let budget = &report["budget"];
        assert!(
            budget["predicted_seconds"]
                .as_f64()
                .is_some_and(|s| s > 0.0),
            "{budget:#}"
        );
        let phases = budget["phases"].as_array().expect("phases");
        assert_eq!(phases.len(), 4, "{budget:#}");
        assert!(
            phases
                .iter()
                .all(|p| p["actual_seconds"].as_f64().is_some()),
            "every milestone was seen: {budget:#}"
        );
        assert!(
            run.stdout.contains("requests during the rollout, 0 failed")
                || run.stderr.contains("requests during the rollout, 0 failed"),
            "{}",
            run.stderr
        );
        // --report: the same deploy as a page, drawn by a real browser.
        let rendered = tests::chromium::assert_report_renders(
            &page,
            &[
                r#"class="stage-bar"#,
                r#"class="traffic-bar traffic-new"#,
                r#"class="tasks-line"#,
                r#"class="target-segment"#,
                r#"class="event-mark"#,
                r#"id="outcome" class="ok""#,
            ],
        );
        let events = report["timeline"]["events"].as_array().expect("timeline");
        assert!(!events.is_empty(), "{report:#}");
        assert_eq!(
            rendered.dom.matches(r#"class="event-mark"#).count(),
            events.len(),
            "one mark per event of the JSON report"
        );
    })
}

#[test]
fn a_rolling_update_under_load_drops_no_request() {
    with_stack(|stack| {
        // Make sure local-ecs runs, then find the load balancer.
        let up = stack.xtask(&["local", "up"]);
        assert_eq!(up.code, Some(0), "{}", up.stderr);
        let url = stack.url();
        let addr = addr_of(&url);
        // A restarted local-ecs starts the service's tasks again: load begins once their targets
        // are healthy (before that the balancer only fails open to them, and a deploy may
        // replace them at once, as ECS replaces tasks that never became healthy).
        wait_serving(addr);
        wait_healthy(stack);
        let stop = Arc::new(AtomicBool::new(false));
        let began_load = Instant::now();
        let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        // Four clients, each paced at one request per 8 ms: about 500 requests/s offered.
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (stop, ok, bad, failures) =
                    (stop.clone(), ok.clone(), bad.clone(), failures.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        match http_get(addr, "/hello/load") {
                            Ok((200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                            other => {
                                let at = began_load.elapsed().as_secs_f64();
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("at {at:.2}s: {other:?}"));
                                bad.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                        std::thread::sleep(
                            Duration::from_millis(8).saturating_sub(started.elapsed()),
                        );
                    }
                })
            })
            .collect();
        let began = Instant::now();
        let run = stack.deploy(&["--env", "GREETING=under-load"]);
        let elapsed = began.elapsed();
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        let (ok, bad) = (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
        let rate = (ok + bad) as f64 / elapsed.as_secs_f64();
        assert_eq!(
            bad,
            0,
            "{bad} failed requests of {}: {:?}
the deploy said:
{}",
            ok + bad,
            &failures.lock().unwrap()[..bad.min(5) as usize],
            run.stderr
        );
        assert!(rate >= 200.0, "the load was only {rate:.0} requests/s");
        assert_eq!(greeting_at(&url), "under-load");
    })
}

#[test]
fn a_broken_revision_is_rolled_back_and_the_old_one_keeps_serving() {
    with_stack(|stack| {
        let before = stack.deploy(&["--env", "GREETING=steady"]);
        assert_eq!(before.code, Some(0), "{}", before.stderr);
        let steady = before.report();
        let steady_td = steady["new_task_definition"].as_str().unwrap().to_owned();

        let run = stack.deploy(&["--env", "GREETING=steady", "--env", "PORT=not-a-port"]);
        assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
        let report = run.report();
        assert_eq!(report["outcome"], "rolled_back", "{report:#}");
        assert_eq!(report["exit_code"], 1);
        assert!(
            report["reason"]
                .as_str()
                .unwrap()
                .contains("circuit breaker"),
            "{report:#}"
        );
        let stopped = report["stopped_tasks"].as_array().unwrap();
        assert!(
            stopped
                .iter()
                .any(|t| t.as_str().unwrap().contains("exited 2")),
            "{report:#}"
        );
        assert!(
            report["rollback"]["outcome"]
                .as_str()
                .unwrap()
                .starts_with("completed"),
            "{report:#}"
        );
        assert!(
            run.stderr.contains("ROLLED BACK") && run.stderr.contains("look further"),
            "{}",
            run.stderr
        );

        let status = stack.xtask(&["status", "--local"]);
        let runs = status.stdout.lines().next().unwrap_or_default().to_owned();
        let steady_revision = steady_td.rsplit('/').next().unwrap();
        assert!(
            runs.ends_with(&format!("task definition {steady_revision}")),
            "{runs} (expected {steady_revision})"
        );
        assert_eq!(greeting_at(&stack.url()), "steady");
    })
}

/// What a deploy changes: the family's revisions, the service's task definition and its
/// deployments.
fn snapshot(stack: &LocalStack) -> (Vec<String>, String, usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ecs = stack.ecs().await;
        let families = ecs
            .list_task_definitions()
            .family_prefix("hello-ecs")
            .send()
            .await
            .unwrap();
        let service = ecs
            .describe_services()
            .cluster("dev-cluster")
            .services("hello-ecs")
            .send()
            .await
            .unwrap();
        let service = &service.services()[0];
        (
            families.task_definition_arns().to_vec(),
            service.task_definition().unwrap().to_owned(),
            service.deployments().len(),
        )
    })
}

#[test]
fn a_dry_run_changes_nothing() {
    with_stack(|stack| {
        let up = stack.xtask(&["local", "up"]);
        assert_eq!(up.code, Some(0), "{}", up.stderr);
        let snapshot = || snapshot(stack);
        let before = snapshot();
        let run = stack.deploy(&["--dry-run", "--env", "GREETING=never"]);
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.report()["outcome"], "dry_run");
        assert!(
            run.stderr.contains("env GREETING:") && run.stderr.contains("-> never"),
            "the diff is shown:\n{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("UpdateService: cluster=dev-cluster service=hello-ecs"),
            "{}",
            run.stderr
        );
        assert_eq!(
            snapshot(),
            before,
            "a dry run registered or updated something"
        );
        assert_ne!(greeting_at(&stack.url()), "never");
    })
}

/// `cargo xtask plan`: the budget of the local service's settings (1 s deregistration delay,
/// 2 tasks, 100/200), in text and JSON, and nothing registered or updated.
#[test]
fn plan_predicts_the_roll_from_the_services_settings_and_changes_nothing() {
    with_stack(|stack| {
        let up = stack.xtask(&["local", "up"]);
        assert_eq!(up.code, Some(0), "{}", up.stderr);
        let before = snapshot(stack);
        let text = stack.xtask(&["plan", "--local"]);
        assert_eq!(text.code, Some(0), "{}\n{}", text.stdout, text.stderr);
        assert!(
            text.stdout.contains("roll budget: about "),
            "{}",
            text.stdout
        );
        let json = stack.xtask(&[
            "plan",
            "--local",
            "--output",
            "json",
            "--desired-count",
            "4",
        ]);
        assert_eq!(json.code, Some(0), "{}\n{}", json.stdout, json.stderr);
        let plan = json.report();
        assert_eq!(plan["service"], "dev-cluster/hello-ecs", "{plan:#}");
        let settings = &plan["budget"]["settings"];
        assert_eq!(settings["desired"], 4, "{plan:#}");
        assert_eq!(settings["deregistration_delay_seconds"], 1.0, "{plan:#}");
        assert_eq!(settings["maximum_percent"], 200, "{plan:#}");
        let predicted = plan["budget"]["predicted_seconds"]
            .as_f64()
            .expect("predicted");
        let phases = plan["budget"]["phases"].as_array().expect("phases");
        assert_eq!(
            phases.last().map(|p| &p["predicted_seconds"]),
            Some(&plan["budget"]["predicted_seconds"])
        );
        assert!(predicted > 0.0 && predicted < 60.0, "{plan:#}");
        assert!(plan["suggestions"].is_array(), "{plan:#}");
        assert_eq!(
            snapshot(stack),
            before,
            "plan registered or updated something"
        );
    })
}

#[test]
fn bad_configuration_exits_2_naming_what_is_wrong() {
    with_stack(|stack| {
        let run = stack.deploy(&["--service", "no-such-service", "--no-verify"]);
        assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("\"no-such-service\""), "{}", run.stderr);
        let run = stack.deploy(&["--container", "hello-server"]);
        assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("\"hello-server\"") && run.stderr.contains("it has: hello-ecs"),
            "{}",
            run.stderr
        );
        let run = stack.deploy(&["--env", "NOT VALID"]);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(run.stderr.contains("NOT VALID"), "{}", run.stderr);
    })
}

/// Issue 10, point 2: every flag is checked before anything is built, registered or updated.
#[test]
fn bad_flags_exit_2_and_change_nothing() {
    with_stack(|stack| {
        let up = stack.xtask(&["local", "up"]);
        assert_eq!(up.code, Some(0), "{}", up.stderr);
        let before = snapshot(stack);
        for (flags, names) in [
            (&["--url", "ftp://x"][..], "--url"),
            (&["--verify-path", "noslash"][..], "--verify-path"),
            (&["--timeout", "0"][..], "--timeout"),
            (&["--verify-timeout", "0"][..], "--verify-timeout"),
            (&["--desired-count=-1"][..], "--desired-count"),
            (
                &["--report", "/no-such-dir/deploy.html"][..],
                "/no-such-dir",
            ),
        ] {
            let run = stack.deploy(flags);
            assert_eq!(
                run.code,
                Some(2),
                "{flags:?}\n{}\n{}",
                run.stdout,
                run.stderr
            );
            assert!(run.stderr.contains(names), "{flags:?}: {}", run.stderr);
        }
        let run = stack.xtask(&["rollback", "--local", "--to", "hello-ecs:9999"]);
        assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("hello-ecs:9999") && run.stderr.contains("no such task definition"),
            "{}",
            run.stderr
        );
        // A service with no load balancer and no --url: nowhere to verify, known up front.
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let no_lb = |create: bool| {
            runtime.block_on(async {
                let ecs = stack.ecs().await;
                if create {
                    ecs.create_service()
                        .cluster("dev-cluster")
                        .service_name("hello-no-lb")
                        .task_definition(before.1.as_str())
                        .desired_count(0)
                        .send()
                        .await
                        .expect("CreateService without a load balancer");
                } else {
                    let _ = ecs
                        .delete_service()
                        .cluster("dev-cluster")
                        .service("hello-no-lb")
                        .force(true)
                        .send()
                        .await;
                }
            })
        };
        no_lb(true);
        let run = stack.deploy(&["--service", "hello-no-lb"]);
        no_lb(false);
        assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("load balancer") && run.stderr.contains("pass the URL"),
            "{}",
            run.stderr
        );
        assert_eq!(
            snapshot(stack),
            before,
            "a bad flag registered or updated something"
        );
    })
}

/// Issue 10, point 1: a build whose health check passes but whose users get 500 is rolled
/// back, and the old build is seen answering again.
#[test]
fn a_build_that_fails_verification_is_rolled_back_and_the_old_build_answers() {
    with_stack(|stack| {
        let before = stack.deploy(&["--env", "GREETING=trusted"]);
        assert_eq!(before.code, Some(0), "{}", before.stderr);
        let trusted_td = before.report()["new_task_definition"]
            .as_str()
            .unwrap()
            .to_owned();

        let run = stack.deploy(&[
            "--env",
            "GREETING=faulty",
            "--env",
            "HELLO_FAULT_STATUS=500",
            "--verify-timeout",
            "8",
        ]);
        assert_eq!(run.code, Some(3), "{}\n{}", run.stdout, run.stderr);
        let report = run.report();
        assert_eq!(report["outcome"], "verification_failed", "{report:#}");
        assert_eq!(report["verify"]["converged"], false, "{report:#}");
        assert!(
            report["verify"]["errors"].as_u64().unwrap() > 0,
            "{report:#}"
        );
        let rollback = &report["rollback"];
        assert_eq!(rollback["to"], trusted_td.as_str(), "{report:#}");
        assert!(
            rollback["outcome"]
                .as_str()
                .unwrap()
                .starts_with("completed"),
            "{report:#}"
        );
        assert_eq!(rollback["old_build_answers"], true, "{report:#}");
        let revision = trusted_td.rsplit('/').next().unwrap();
        assert!(
            run.stderr.contains(&format!("rolled back to {revision}"))
                && run.stderr.contains("the old build answers again"),
            "{}",
            run.stderr
        );
        assert_eq!(greeting_at(&stack.url()), "trusted");
    })
}

#[test]
fn local_logs_show_local_ecs_and_the_containers_output() {
    with_stack(|stack| {
        let up = stack.xtask(&["local", "up"]);
        assert_eq!(up.code, Some(0), "{}", up.stderr);
        // A restarted local-ecs starts the service's tasks again; their logs appear as they run.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let logs = stack.xtask(&["local", "logs", "--lines", "5"]);
            assert_eq!(logs.code, Some(0), "{}\n{}", logs.stdout, logs.stderr);
            assert!(
                logs.stdout.starts_with("==> local-ecs ("),
                "{}",
                logs.stdout
            );
            let container_output = logs
                .stdout
                .split("==> task ")
                .skip(1)
                .filter(|section| section.contains(" container hello-ecs\n"))
                .any(|section| section.lines().skip(1).any(|l| l.starts_with('{')));
            if container_output {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no task's JSON log lines within 120 s:\n{}",
                logs.stdout
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

/// A deploy that starts local-ecs again (after `local down`) waits until the service serves
/// before it rolls: none of the production requests sampled through the roll fails (before,
/// the first second after a restart answered 503: no target yet).
#[test]
fn a_deploy_right_after_a_restart_waits_for_the_service_to_serve() {
    with_stack(|stack| {
        let down = stack.xtask(&["local", "down"]);
        assert_eq!(down.code, Some(0), "{}{}", down.stdout, down.stderr);
        let run = stack.deploy(&["--env", "GREETING=after a restart"]);
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr
                .contains("waiting for the local services to serve again"),
            "{}",
            run.stderr
        );
        let traffic = &run.report()["traffic"];
        assert!(traffic["requests"].as_u64().unwrap_or(0) > 0, "{traffic:#}");
        assert_eq!(traffic["failed"], 0, "{traffic:#}");
    })
}
