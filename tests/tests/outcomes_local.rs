//! The outcome of `cargo xtask deploy --local` is right in the hard cases: a deployment alarm
//! that fires mid-rollout, another client's UpdateService during the watch, a rollback after a
//! failed deployment, a service deployed by CodeDeploy, and an old task still answering behind
//! the load balancer. Each test puts the shared stack back as it found it.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_ecs::types::{
    DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController,
    DeploymentControllerType, ServiceDeploymentStatus,
};
use tests::{LocalStack, Run, addr_of, greeting_at, http_get, with_stack};

const CLUSTER: &str = "dev-cluster";
const SERVICE: &str = "hello-ecs";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

/// local-ecs runs and the service answers through the load balancer.
fn up(stack: &LocalStack) -> String {
    let up = stack.xtask(&["local", "up"]);
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    let url = stack.url();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !matches!(http_get(addr_of(&url), "/ping"), Ok((200, _))) {
        assert!(Instant::now() < deadline, "the service did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    url
}

fn assert_code(run: &Run, code: i32) {
    assert_eq!(
        run.code,
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

async fn service(ecs: &aws_sdk_ecs::Client) -> aws_sdk_ecs::types::Service {
    ecs.describe_services()
        .cluster(CLUSTER)
        .services(SERVICE)
        .send()
        .await
        .expect("DescribeServices")
        .services()
        .first()
        .cloned()
        .expect("the service")
}

/// Changes the service's deployment configuration (UpdateService replaces all of it).
async fn configure(
    ecs: &aws_sdk_ecs::Client,
    change: impl FnOnce(DeploymentConfiguration) -> DeploymentConfiguration,
) {
    let current = service(ecs)
        .await
        .deployment_configuration()
        .cloned()
        .expect("a deployment configuration");
    ecs.update_service()
        .cluster(CLUSTER)
        .service(SERVICE)
        .deployment_configuration(change(current))
        .send()
        .await
        .expect("UpdateService");
}

fn alarms(name: Option<&str>) -> DeploymentAlarms {
    DeploymentAlarms::builder()
        .set_alarm_names(Some(name.map(str::to_owned).into_iter().collect()))
        .enable(name.is_some())
        .rollback(name.is_some())
        .build()
        .expect("alarms")
}

/// An alarm on the load balancer's 5xx count. A 600 s period makes local-ecs bake a completed
/// rolling deployment for 10 s (600 s / its default divisor 60), so the deployment stays
/// IN_PROGRESS long enough for a test to act during it.
async fn put_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .metric_name("HTTPCode_Target_5XX_Count")
        .namespace("AWS/ApplicationELB")
        .statistic(Statistic::Sum)
        .period(600)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
}

/// The service's deployments watch `alarm` (created, in OK) and roll back when it fires.
async fn watch_alarm(ecs: &aws_sdk_ecs::Client, cw: &aws_sdk_cloudwatch::Client, alarm: &str) {
    put_alarm(cw, alarm).await;
    set_alarm(cw, alarm, StateValue::Ok).await;
    configure(ecs, |mut c| {
        c.alarms = Some(alarms(Some(alarm)));
        c
    })
    .await;
}

async fn set_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue) {
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .expect("SetAlarmState");
}

/// Waits for a service deployment created after `since` to be IN_PROGRESS: its ARN.
async fn in_progress_since(ecs: &aws_sdk_ecs::Client, since: SystemTime) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed = ecs
            .list_service_deployments()
            .cluster(CLUSTER)
            .service(SERVICE)
            .send()
            .await
            .expect("ListServiceDeployments");
        let found = listed.service_deployments().iter().find(|d| {
            d.status() == Some(&ServiceDeploymentStatus::InProgress)
                && d.created_at()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .is_some_and(|t| t >= since)
        });
        if let Some(arn) = found.and_then(|d| d.service_deployment_arn()) {
            return arn.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no new deployment went IN_PROGRESS"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status_of(ecs: &aws_sdk_ecs::Client, arn: &str) -> Option<ServiceDeploymentStatus> {
    ecs.describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .expect("DescribeServiceDeployments")
        .service_deployments()
        .first()
        .and_then(|d| d.status())
        .cloned()
}

/// Puts the service's deployment configuration back when the test ends, even by a panic.
struct RestoreConfig<'a> {
    stack: &'a LocalStack,
    config: DeploymentConfiguration,
}

impl Drop for RestoreConfig<'_> {
    fn drop(&mut self) {
        let config = self.config.clone();
        runtime().block_on(async {
            let ecs = self.stack.ecs().await;
            configure(&ecs, |_| config).await;
        });
    }
}

fn keep_config(stack: &LocalStack) -> RestoreConfig<'_> {
    let config = runtime().block_on(async {
        service(&stack.ecs().await)
            .await
            .deployment_configuration()
            .cloned()
            .expect("a deployment configuration")
    });
    RestoreConfig { stack, config }
}

#[test]
fn an_alarm_during_a_deploy_rolls_it_back_and_names_the_alarm() {
    with_stack(|stack| {
        let url = up(stack);
        let before = greeting_at(&url);
        let rt = runtime();
        let (ecs, cw) = rt.block_on(async { (stack.ecs().await, stack.cloudwatch().await) });
        let _restore = keep_config(stack);
        let alarm = "e2e-hello-5xx";
        rt.block_on(watch_alarm(&ecs, &cw, alarm));

        let since = SystemTime::now();
        let (run, arn) = std::thread::scope(|scope| {
            let deploy = scope.spawn(|| stack.deploy(&["--env", "GREETING=alarmed"]));
            let arn = rt.block_on(async {
                let arn = in_progress_since(&ecs, since).await;
                set_alarm(&cw, alarm, StateValue::Alarm).await;
                arn
            });
            (deploy.join().expect("deploy thread"), arn)
        });
        rt.block_on(set_alarm(&cw, alarm, StateValue::Ok));

        assert_code(&run, 1);
        let report = run.report();
        assert_eq!(report["outcome"], "rolled_back", "{report:#}");
        let reason = report["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(alarm),
            "the reason names the alarm: {report:#}"
        );
        assert_eq!(
            report["rollout"]["judged_by"], "service_deployments",
            "{report:#}"
        );
        assert_eq!(greeting_at(&url), before, "the old build serves again");
        assert_eq!(
            rt.block_on(status_of(&ecs, &arn)),
            Some(ServiceDeploymentStatus::RollbackSuccessful)
        );
    })
}

#[test]
fn another_clients_update_during_the_watch_is_superseded_not_a_rollback() {
    with_stack(|stack| {
        let url = up(stack);
        let rt = runtime();
        let (ecs, cw) = rt.block_on(async { (stack.ecs().await, stack.cloudwatch().await) });
        let _restore = keep_config(stack);
        // A quiet alarm holds our deployment IN_PROGRESS for its bake, for the other client to
        // act in.
        let alarm = "e2e-hello-quiet";
        rt.block_on(watch_alarm(&ecs, &cw, alarm));
        let theirs = rt
            .block_on(service(&ecs))
            .task_definition()
            .unwrap()
            .to_owned();

        let since = SystemTime::now();
        let (run, other_id) = std::thread::scope(|scope| {
            let deploy = scope.spawn(|| stack.deploy(&["--env", "GREETING=mine"]));
            let other_id = rt.block_on(async {
                in_progress_since(&ecs, since).await;
                // During the watch: after the deploy's first poll, which follows its
                // UpdateService at once (the bake holds the deployment IN_PROGRESS for 10 s).
                tokio::time::sleep(Duration::from_secs(2)).await;
                let out = ecs
                    .update_service()
                    .cluster(CLUSTER)
                    .service(SERVICE)
                    .task_definition(&theirs)
                    .force_new_deployment(true)
                    .send()
                    .await
                    .expect("the other client's UpdateService");
                let service = out.service().expect("service");
                service
                    .deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
                    .and_then(|d| d.id())
                    .expect("their deployment")
                    .to_owned()
            });
            (deploy.join().expect("deploy thread"), other_id)
        });

        assert_code(&run, 1);
        let report = run.report();
        assert_eq!(report["outcome"], "superseded", "{report:#}");
        assert_eq!(
            report["superseded_by"]["deployment_id"], other_id,
            "{report:#}"
        );
        let named = report["superseded_by"]["task_definition"]
            .as_str()
            .unwrap_or_default();
        let their_revision = theirs.rsplit('/').next().unwrap();
        assert!(named.ends_with(their_revision), "{named} vs {theirs}");
        assert!(
            report["rollback"].is_null(),
            "nothing rolled back: {report:#}"
        );
        assert!(
            !run.stderr.contains("rolled back to"),
            "never 'rolled back to' another client's revision:\n{}",
            run.stderr
        );

        // The record of our deploy is ours; a rollback refuses to undo someone else's deploy.
        let mine = report["new_task_definition"].as_str().unwrap().to_owned();
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                stack
                    .state_dir
                    .join(format!("last-deploy-{CLUSTER}-{SERVICE}.json")),
            )
            .expect("the last-deploy record"),
        )
        .expect("JSON");
        assert_eq!(record["task_definition"], mine, "{record:#}");
        assert_ne!(record["previous_task_definition"], mine, "{record:#}");
        let rollback = stack.xtask(&["rollback", "--local"]);
        assert_code(&rollback, 2);
        assert!(rollback.stderr.contains("--to"), "{}", rollback.stderr);
        // The other client's deployment goes on to serve.
        let deadline = Instant::now() + Duration::from_secs(120);
        while greeting_at(&url) == "mine" {
            assert!(Instant::now() < deadline, "their revision never served");
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

#[test]
fn a_rollback_after_a_failed_deployment_goes_to_the_last_completed_one() {
    with_stack(|stack| {
        let url = up(stack);
        let steady = stack.deploy(&["--env", "GREETING=completed"]);
        assert_code(&steady, 0);
        let completed = steady.report()["new_task_definition"]
            .as_str()
            .unwrap()
            .to_owned();
        let rt = runtime();
        let ecs = rt.block_on(stack.ecs());
        let _restore = keep_config(stack);
        // A breaker that stops a failing deployment without rolling it back: it stays PRIMARY
        // and FAILED.
        rt.block_on(configure(&ecs, |mut c| {
            c.deployment_circuit_breaker = Some(
                DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(false)
                    .build(),
            );
            c
        }));
        let failed = stack.deploy(&["--env", "PORT=not-a-port", "--rollback-on-failure", "false"]);
        assert_code(&failed, 1);
        let failed_td = failed.report()["new_task_definition"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            rt.block_on(service(&ecs)).task_definition(),
            Some(failed_td.as_str()),
            "the failed deployment stays PRIMARY"
        );

        // Another failing deploy: our rollback skips the FAILED one before it.
        let again = stack.deploy(&["--env", "PORT=still-not-a-port"]);
        assert_code(&again, 1);
        let report = again.report();
        // Whoever rolls back (xtask, or ECS at xtask's StopServiceDeployment) goes to the last
        // COMPLETED revision, not to the FAILED one that was PRIMARY before the deploy.
        assert!(
            report["outcome"] == "failed" || report["outcome"] == "rolled_back",
            "{report:#}"
        );
        let to = report["rollback"]["to"].as_str().unwrap_or_default();
        let completed_revision = completed.rsplit('/').next().unwrap();
        assert!(
            to.ends_with(completed_revision),
            "rolled back to {to}, not the last COMPLETED {completed}: {report:#}"
        );
        assert_eq!(
            rt.block_on(service(&ecs)).task_definition(),
            Some(completed.as_str())
        );
        assert_eq!(greeting_at(&url), "completed");
    })
}

#[test]
fn a_code_deploy_service_exits_2_and_registers_nothing() {
    with_stack(|stack| {
        up(stack);
        let rt = runtime();
        let ecs = rt.block_on(stack.ecs());
        let revisions = || {
            rt.block_on(async {
                ecs.list_task_definitions()
                    .send()
                    .await
                    .expect("ListTaskDefinitions")
                    .task_definition_arns()
                    .len()
            })
        };
        let task_definition = rt
            .block_on(service(&ecs))
            .task_definition()
            .unwrap()
            .to_owned();
        rt.block_on(async {
            let exists = ecs
                .describe_services()
                .cluster(CLUSTER)
                .services("hello-codedeploy")
                .send()
                .await
                .expect("DescribeServices")
                .services()
                .iter()
                .any(|s| s.status() == Some("ACTIVE"));
            if !exists {
                ecs.create_service()
                    .cluster(CLUSTER)
                    .service_name("hello-codedeploy")
                    .task_definition(&task_definition)
                    .desired_count(0)
                    .deployment_controller(
                        DeploymentController::builder()
                            .r#type(DeploymentControllerType::CodeDeploy)
                            .build()
                            .expect("controller"),
                    )
                    .send()
                    .await
                    .expect("CreateService with CODE_DEPLOY");
            }
        });
        let before = revisions();
        let run = stack.deploy(&["--service", "hello-codedeploy"]);
        assert_code(&run, 2);
        assert!(
            run.stderr.contains("CodeDeploy") || run.stdout.contains("CodeDeploy"),
            "says to deploy it with CodeDeploy:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        assert_eq!(revisions(), before, "no task definition registered");
    })
}

/// Deletes a service of the test's when it ends, even by a panic.
struct DeleteService<'a>(&'a LocalStack, &'static str);

impl Drop for DeleteService<'_> {
    fn drop(&mut self) {
        runtime().block_on(async {
            let ecs = self.0.ecs().await;
            let _ = ecs
                .delete_service()
                .cluster(CLUSTER)
                .service(self.1)
                .force(true)
                .send()
                .await;
        });
    }
}

#[test]
fn an_old_task_still_in_the_target_group_is_never_verified() {
    with_stack(|stack| {
        let url = up(stack);
        let rt = runtime();
        let ecs = rt.block_on(stack.ecs());
        let ours = rt.block_on(service(&ecs));
        let old = greeting_at(&url);
        // A straggler of the old build: one task of the running revision, registered in the
        // same target group by a second service.
        let straggler = DeleteService(stack, "hello-straggler");
        rt.block_on(async {
            ecs.create_service()
                .cluster(CLUSTER)
                .service_name("hello-straggler")
                .task_definition(ours.task_definition().unwrap())
                .desired_count(1)
                .set_launch_type(ours.launch_type().cloned())
                .set_network_configuration(ours.network_configuration().cloned())
                .set_load_balancers(Some(ours.load_balancers().to_vec()))
                .send()
                .await
                .expect("CreateService for the straggler");
        });

        let run = stack.deploy(&[
            "--env",
            "GREETING=four-new",
            "--desired-count",
            "4",
            "--verify-timeout",
            "20",
            // The straggler, not the new build, is what this test is about.
            "--rollback-on-failure",
            "false",
        ]);
        assert_code(&run, 3);
        let report = run.report();
        assert_eq!(report["outcome"], "verification_failed", "{report:#}");
        assert_eq!(report["verify"]["converged"], false, "{report:#}");
        assert!(report["rollback"].is_null(), "{report:#}");
        // The straggler really was answering: the old greeting still comes back.
        let deadline = Instant::now() + Duration::from_secs(30);
        while greeting_at(&url) != old {
            assert!(Instant::now() < deadline, "the straggler never answered");
        }

        // Without the straggler the same kind of deploy verifies.
        drop(straggler);
        let run = stack.deploy(&["--env", "GREETING=four-again", "--desired-count", "2"]);
        assert_code(&run, 0);
        assert_eq!(run.report()["verify"]["converged"], true);
    })
}
