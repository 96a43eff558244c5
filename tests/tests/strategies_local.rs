//! `cargo xtask deploy --local --strategy S`: blue/green and canary deployments run by
//! local-ecs (a minute lasts a second), verified on test traffic before production traffic
//! moves. Production traffic is sampled through the whole roll (`report.traffic`); the stages
//! come from the ServiceDeployment. One shared stack for the file; every test names its
//! strategy, so they may run in any order.

// The lifecycle stages, in ECS's order.
use deploy_sdk::rollout::LIFECYCLE_STAGES as ORDER;
use serde_json::Value;
use tests::{Run, with_stack};

fn show(run: &Run) -> String {
    format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr)
}

/// The report's lifecycle stages, checked to be in ECS's order on the deploy's time axis.
fn stages(report: &Value) -> Vec<(String, f64, f64)> {
    let stages: Vec<(String, f64, f64)> = report["lifecycle_stages"]
        .as_array()
        .expect("lifecycle_stages")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_owned(),
                s["started_at_seconds"].as_f64().expect("start"),
                s["ended_at_seconds"].as_f64().expect("end"),
            )
        })
        .collect();
    let positions: Vec<usize> = stages
        .iter()
        .map(|(name, _, _)| ORDER.iter().position(|o| o == name).expect("a known stage"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{stages:?}");
    assert!(
        stages.iter().all(|(_, start, end)| start <= end),
        "{stages:?}"
    );
    assert!(
        stages.windows(2).all(|w| w[0].2 <= w[1].1 + 1e-9),
        "{stages:?}"
    );
    stages
}

fn stage<'a>(stages: &'a [(String, f64, f64)], name: &str) -> &'a (String, f64, f64) {
    stages
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {stages:?}"))
}

#[test]
fn blue_green_passes_the_test_traffic_gate_then_moves_production_without_a_failed_request() {
    with_stack(|stack| {
        let run = stack.deploy(&[
            "--strategy",
            "blue-green",
            "--bake-minutes",
            "2",
            "--env",
            "GREETING=green",
        ]);
        assert_eq!(run.code, Some(0), "{}", show(&run));
        let report = run.report();
        assert_eq!(report["strategy"], "blue/green", "{}", show(&run));
        assert_eq!(
            report["test_traffic_gate"]["result"], "passed",
            "{report:#}"
        );
        assert_eq!(report["traffic"]["failed"], 0, "{report:#}");
        assert!(report["traffic"]["new"].as_u64().unwrap() > 0, "{report:#}");
        let stages = stages(&report);
        let gate_at = report["test_traffic_gate"]["started_at_seconds"]
            .as_f64()
            .unwrap();
        let held = stage(&stages, "POST_TEST_TRAFFIC_SHIFT");
        assert!(
            held.1 <= gate_at && gate_at <= held.2,
            "{stages:?} gate at {gate_at}"
        );
        stage(&stages, "BAKE_TIME");
        // Nothing is paused or in progress now: both commands say so.
        for command in ["continue", "abort"] {
            let answered = stack.xtask(&[command, "--local"]);
            assert_eq!(answered.code, Some(2), "{command}: {}", show(&answered));
            assert!(
                answered.stderr.contains("not in progress"),
                "{}",
                show(&answered)
            );
        }
    });
}

#[test]
fn a_build_failing_on_test_traffic_is_rolled_back_before_production_sees_it() {
    with_stack(|stack| {
        let run = stack.deploy(&[
            "--strategy",
            "blue-green",
            "--env",
            "HELLO_FAULT_STATUS=500",
            // Every build of this tree has the same version: the greeting tells them apart.
            "--env",
            "GREETING=faulty",
            "--verify-timeout",
            "3",
        ]);
        assert_eq!(run.code, Some(1), "{}", show(&run));
        assert!(run.stderr.contains("test-traffic gate"), "{}", show(&run));
        let report = run.report();
        assert_eq!(
            report["test_traffic_gate"]["result"], "failed",
            "{report:#}"
        );
        assert_eq!(report["outcome"], "rolled_back", "{report:#}");
        // Production was sampled through the whole roll: not one answer from the new build,
        // not one failure (its answers would be 500s).
        let traffic = &report["traffic"];
        assert!(traffic["old"].as_u64().unwrap() > 0, "{report:#}");
        assert_eq!(
            (&traffic["new"], &traffic["failed"]),
            (&0.into(), &0.into()),
            "{report:#}"
        );
        let stages = stages(&report);
        assert!(
            !stages
                .iter()
                .any(|(n, _, _)| n == "PRODUCTION_TRAFFIC_SHIFT"),
            "{stages:?}"
        );
    });
}

#[test]
fn a_canary_gets_its_share_of_production_traffic_during_its_bake() {
    with_stack(|stack| {
        let page =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-report-canary.html");
        let _ = std::fs::remove_file(&page);
        let run = stack.deploy(&[
            "--strategy",
            "canary",
            "--canary-percent",
            "25",
            "--canary-bake-minutes",
            "8",
            "--env",
            "GREETING=canary",
            "--report",
            page.to_str().unwrap(),
        ]);
        assert_eq!(run.code, Some(0), "{}", show(&run));
        let report = run.report();
        assert_eq!(report["strategy"], "canary (25% for 8 min)", "{report:#}");
        assert_eq!(report["traffic"]["failed"], 0, "{report:#}");
        let stages = stages(&report);
        let (_, from, to) = stage(&stages, "PRODUCTION_TRAFFIC_SHIFT");
        // The whole seconds of sampling inside the canary's bake (stage edges left out).
        let traffic = &report["traffic"];
        let began = traffic["started_at_seconds"].as_f64().unwrap();
        let (mut new, mut old) = (0, 0);
        for (second, counts) in traffic["per_second"].as_array().unwrap().iter().enumerate() {
            let at = began + second as f64;
            if at >= from + 1.0 && at + 1.0 <= to - 1.0 {
                new += counts[0].as_u64().unwrap();
                old += counts[1].as_u64().unwrap();
            }
        }
        assert!(
            new + old >= 12,
            "too few samples ({new} new, {old} old): {stages:?}"
        );
        let share = 100.0 * new as f64 / (new + old) as f64;
        assert!(
            (share - 25.0).abs() <= 10.0,
            "canary share {share:.1}% ({new}/{})",
            new + old
        );
        // The budget counts the 8 min canary bake (8 s here: a local-ecs minute lasts 1 s).
        let budget = &report["budget"];
        let causes: Vec<&str> = budget["causes"]
            .as_array()
            .expect("budget causes")
            .iter()
            .filter_map(|c| c["cause"].as_str())
            .collect();
        assert!(causes.contains(&"step_bakes"), "{budget:#}");
        assert!(
            budget["predicted_seconds"].as_f64().unwrap_or(0.0) >= 8.0,
            "{budget:#}"
        );
        // --report: the lifecycle stages and the production weights drawn by a real browser.
        let weights = report["timeline"]["weights"].as_array().expect("timeline");
        assert!(weights.len() >= 2, "the weights moved: {report:#}");
        tests::chromium::assert_report_renders(
            &page,
            &[
                r#"class="stage-bar"#,
                r#"class="traffic-bar traffic-new"#,
                r#"class="lifecycle-stage"#,
                r#"class="weight-line"#,
                r#"class="tasks-line"#,
                r#"class="event-mark"#,
            ],
        );
    });
}

/// On AWS (here: local-ecs through `--endpoint-url`, without `--local`, so nothing is
/// bootstrapped) a non-rolling strategy for a service without the blue/green wiring is exit 2
/// before anything is registered or updated.
#[test]
fn without_the_wiring_a_strategy_switch_on_aws_is_refused_before_anything_changes() {
    with_stack(|stack| {
        let up = stack.xtask(&["local", "up"]);
        assert_eq!(up.code, Some(0), "{}", show(&up));
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let ecs = runtime.block_on(stack.ecs());
        let revisions = || {
            runtime
                .block_on(
                    ecs.list_task_definitions()
                        .family_prefix("hello-ecs")
                        .send(),
                )
                .expect("ListTaskDefinitions")
                .task_definition_arns()
                .len()
        };
        let main = runtime
            .block_on(
                ecs.describe_services()
                    .cluster("dev-cluster")
                    .services("hello-ecs")
                    .send(),
            )
            .expect("DescribeServices");
        let main = &main.services()[0];
        // A second service on the same target group with no tasks (it serves nothing) and no
        // blue/green wiring, whatever the main service has by now.
        let lb = &main.load_balancers()[0];
        let plain_lb = aws_sdk_ecs::types::LoadBalancer::builder()
            .set_target_group_arn(lb.target_group_arn().map(str::to_owned))
            .set_container_name(lb.container_name().map(str::to_owned))
            .set_container_port(lb.container_port())
            .build();
        let created = ecs
            .create_service()
            .cluster("dev-cluster")
            .service_name("plain")
            .task_definition(main.task_definition().expect("a task definition"))
            .desired_count(0)
            .load_balancers(plain_lb);
        runtime
            .block_on(created.send())
            .expect("CreateService plain");
        let before = revisions();
        let credentials = stack.credentials();
        let run: Run = tests::xtask_command(&["deploy", "--output", "json"])
            .args(["--endpoint-url", &stack.endpoint(), "--region", "us-east-1"])
            .args(["--service", "plain", "--strategy", "canary", "--no-verify"])
            .args(["--image", "127.0.0.1:5000/hello:v1"])
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                credentials.secret_access_key.expose(),
            )
            .output()
            .expect("run cargo xtask")
            .into();
        let _ = runtime.block_on(
            ecs.delete_service()
                .cluster("dev-cluster")
                .service("plain")
                .force(true)
                .send(),
        );
        assert_eq!(run.code, Some(2), "{}", show(&run));
        assert!(
            run.stderr.contains("advancedConfiguration"),
            "{}",
            show(&run)
        );
        assert_eq!(revisions(), before, "a revision was registered");
        assert_eq!(run.report()["registered_new_revision"], false);
    });
}

/// The production answers [new, old] in the whole seconds of sampling inside `from..to`
/// (seconds since the deploy began).
fn answers_within(report: &Value, from: f64, to: f64) -> (u64, u64) {
    let traffic = &report["traffic"];
    let began = traffic["started_at_seconds"].as_f64().unwrap();
    let (mut new, mut old) = (0, 0);
    for (second, counts) in traffic["per_second"].as_array().unwrap().iter().enumerate() {
        let at = began + second as f64;
        if at >= from && at + 1.0 <= to {
            new += counts[0].as_u64().unwrap();
            old += counts[1].as_u64().unwrap();
        }
    }
    (new, old)
}

/// Linear, 50 % steps 8 s apart: no failed request, and half of production on the new build
/// during the first step. The window: the report gives the first step's start (when the watch
/// first saw PRODUCTION_TRAFFIC_SHIFT, within its 1 s poll after the gate's CONTINUE, so at
/// most a second late); its end as reported is the watch's next poll after the last step,
/// which backs off to several seconds, so the step ends at the earlier of that and its start
/// plus the step bake. The whole seconds inside, a second in from each edge, are counted.
#[test]
fn a_linear_deployment_moves_half_of_production_in_its_first_step() {
    const STEP_BAKE_SECONDS: f64 = 8.0;
    with_stack(|stack| {
        let run = stack.deploy(&[
            "--strategy",
            "linear",
            "--step-percent",
            "50",
            "--step-bake-minutes",
            "8",
            "--bake-minutes",
            "0",
            "--env",
            "GREETING=linear",
        ]);
        assert_eq!(run.code, Some(0), "{}", show(&run));
        let report = run.report();
        assert_eq!(report["strategy"], "linear (50% every 8 min)", "{report:#}");
        assert_eq!(report["traffic"]["failed"], 0, "{report:#}");
        let stages = stages(&report);
        // 50 % steps: the first step and its bake, then the last step ends the stage.
        let (_, from, to) = stage(&stages, "PRODUCTION_TRAFFIC_SHIFT");
        let first_step_end = to.min(from + STEP_BAKE_SECONDS);
        let (new, old) = answers_within(&report, from + 1.0, first_step_end - 1.0);
        assert!(
            new + old >= 16,
            "too few samples ({new} new, {old} old): {stages:?}"
        );
        let share = 100.0 * new as f64 / (new + old) as f64;
        assert!(
            (share - 50.0).abs() <= 15.0,
            "first-step share {share:.1}% ({new}/{}): {stages:?} {}",
            new + old,
            report["traffic"]
        );
    });
}

/// `cargo xtask abort` while a blue/green deployment bakes: production is back on blue at once
/// (every answer right after the command is the old build), the deploy watching it exits 1
/// rolled back, and no production request failed on the way.
#[test]
fn abort_during_the_bake_puts_production_back_on_blue_and_the_deploy_says_rolled_back() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    with_stack(|stack| {
        let url = stack.url();
        let before = tests::greeting_at(&url);
        // A 10-minute bake (10 s here): long enough to answer it.
        let mut deploy = tests::xtask_command(&[
            "deploy",
            "--local",
            "--output",
            "json",
            "--strategy",
            "blue-green",
            "--bake-minutes",
            "10",
            "--env",
            "GREETING=aborted",
        ])
        .env("DEPLOY_LOCAL_STATE_DIR", &stack.state_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the deploy");
        let stdout = deploy.stdout.take().expect("stdout");
        let reader =
            std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
        let mut stderr = Vec::new();
        let mut aborted = None;
        for line in BufReader::new(deploy.stderr.take().expect("stderr")).lines() {
            let line = line.unwrap_or_default();
            if aborted.is_none() && line.contains("roll: stage BAKE_TIME") {
                assert_eq!(
                    tests::greeting_at(&url),
                    "aborted",
                    "green serves during the bake"
                );
                let abort = stack.xtask(&["abort", "--local"]);
                assert_eq!(abort.code, Some(0), "{}", show(&abort));
                // At once: no answer from green after the command returned (the rule is
                // rewritten within a scheduler tick).
                let deadline = Instant::now() + Duration::from_secs(2);
                while tests::greeting_at(&url) != before {
                    assert!(Instant::now() < deadline, "production still on green");
                }
                let answers: Vec<String> = (0..20).map(|_| tests::greeting_at(&url)).collect();
                assert!(answers.iter().all(|g| *g == before), "{answers:?}");
                aborted = Some(());
            }
            stderr.push(line);
        }
        let status = deploy.wait().expect("the deploy ends");
        let run = Run {
            code: status.code(),
            stdout: reader.join().expect("stdout reader"),
            stderr: stderr.join("\n"),
        };
        assert!(aborted.is_some(), "never saw BAKE_TIME:\n{}", show(&run));
        assert_eq!(run.code, Some(1), "{}", show(&run));
        let report = run.report();
        assert_eq!(report["outcome"], "rolled_back", "{report:#}");
        assert_eq!(report["traffic"]["failed"], 0, "{report:#}");
        assert_eq!(tests::greeting_at(&url), before);
    });
}
