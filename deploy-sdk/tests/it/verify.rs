//! `verify` against wiremock servers that play the load balancer during a rollout: each
//! request gets the next answer of a script (old build, new build, 5xx…), so what `verify`
//! sees depends on the request count, never on the clock. And `discover_url` against a
//! wiremock server that plays both AWS endpoints (ECS in awsJson 1.1, ELBv2 in awsQuery/XML),
//! so the real SDK serializers and deserializers run on realistic wire bodies.
//!
//! Timing assertions are relations and lower bounds only (a `sleep` lasts at least its
//! duration; a loaded CI machine may make anything slower).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deploy_sdk::service::ServiceRef;
use deploy_sdk::verify::{
    Answer, Expectation, Fleet, FleetHealth, FleetSource, SecondCounts, VerifyOptions,
    VerifyReport, discover_endpoint, discover_url, verify,
};
use deploy_sdk::{AwsOptions, Clients, Error};
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const VERSION_HEADER: &str = "x-app-version";
const OLD: &str = "0.1.0-3f2a9c1";
const NEW: &str = "0.1.0-8d41e07";
/// A build still answering from an even older deployment.
const OLDER: &str = "0.1.0-1b7e550";
const OLD_GREETING: &str = "Hello";
const NEW_GREETING: &str = "G&#x27;day"; // "G'day", HTML-escaped as hello-service sends it

// ---------- the service behind the load balancer, scripted by request count ----------

/// One scripted answer and how `verify` must classify it.
#[derive(Clone)]
struct Step {
    reply: ResponseTemplate,
    answer: Answer,
}

/// A hello-service answer from `build` with `greeting`.
fn hello(build: &str, greeting: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header(VERSION_HEADER, build)
        .set_body_raw(
            format!("{greeting} verify<br>\n<i>1800000000000</i>\n"),
            "text/html; charset=utf-8",
        )
}

/// The old build (classified under a header expectation).
fn old() -> Step {
    built_by(OLD)
}

/// Another build than the new one.
fn built_by(build: &str) -> Step {
    Step {
        reply: hello(build, OLD_GREETING),
        answer: Answer::Old {
            build: Some(build.to_owned()),
        },
    }
}

/// The new build.
fn new() -> Step {
    Step {
        reply: hello(NEW, NEW_GREETING),
        answer: Answer::New,
    }
}

/// A status the load balancer (or a failing task) sends.
fn status(code: u16) -> Step {
    Step {
        reply: ResponseTemplate::new(code).set_body_raw(
            format!("<html><body><h1>{code}</h1></body></html>"),
            "text/html",
        ),
        answer: Answer::Error(format!("HTTP {code}")),
    }
}

fn times(n: usize, step: Step) -> Vec<Step> {
    vec![step; n]
}

/// What happens after the last step.
#[derive(Clone, Copy)]
enum Tail {
    /// The last step forever (the rollout is over).
    RepeatLast,
    /// The whole script again (a pattern that never settles).
    Cycle,
}

/// Answers the n-th request with the n-th step. Cloned into the mock; the clones share the
/// request counter.
#[derive(Clone)]
struct Script {
    steps: Arc<Vec<Step>>,
    tail: Tail,
    served: Arc<AtomicUsize>,
}

impl Script {
    fn new(parts: impl IntoIterator<Item = Vec<Step>>, tail: Tail) -> Script {
        let steps: Vec<Step> = parts.into_iter().flatten().collect();
        assert!(!steps.is_empty());
        Script {
            steps: Arc::new(steps),
            tail,
            served: Arc::default(),
        }
    }

    fn step(&self, n: usize) -> &Step {
        let len = self.steps.len();
        match self.tail {
            Tail::RepeatLast => &self.steps[n.min(len - 1)],
            Tail::Cycle => &self.steps[n % len],
        }
    }

    /// The classifications of the first `n` answers.
    fn expected(&self, n: usize) -> Vec<Answer> {
        (0..n).map(|i| self.step(i).answer.clone()).collect()
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        self.step(n).reply.clone()
    }
}

/// A server answering `GET /hello/verify` from `script`, and that URL.
async fn serve(script: &Script) -> (MockServer, String) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/hello/verify"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let url = format!("{}/hello/verify", server.uri());
    (server, url)
}

/// Fast polling: these servers answer in microseconds.
fn options(consecutive: u32, interval_ms: u64, timeout_ms: u64) -> VerifyOptions {
    VerifyOptions {
        consecutive,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        request_timeout: Duration::from_secs(2),
        // One target (see `OneTarget`): the streak is K.
        streak_per_target: 1,
        ..VerifyOptions::default()
    }
}

/// Target health of a service with one target, ours: these tests are about the answers.
struct OneTarget;

impl Fleet for OneTarget {
    async fn observe(&mut self) -> deploy_sdk::Result<FleetHealth> {
        Ok(FleetHealth {
            source: FleetSource::TargetHealth,
            in_service: 1,
            others_in_service: 0,
        })
    }
}

/// Generous for scripts that converge by request count: only a broken `verify` hits it.
const NO_TIMEOUT_MS: u64 = 20_000;

/// What `on_answer` saw: each answer with the running totals after it.
struct Seen {
    answers: Vec<Answer>,
    totals: Vec<SecondCounts>,
}

async fn run(url: &str, expect: &Expectation, options: &VerifyOptions) -> (VerifyReport, Seen) {
    let mut seen = Seen {
        answers: Vec::new(),
        totals: Vec::new(),
    };
    let report = verify(url, expect, options, &mut OneTarget, |answer, totals| {
        seen.answers.push(answer.clone());
        seen.totals.push(*totals);
    })
    .await
    .expect("verify runs");
    check_bookkeeping(&report, &seen);
    (report, seen)
}

/// What must hold for every report: the live totals step by one per answer and end at the
/// report's; the buckets add up to the totals; the last bucket is the second of the end.
fn check_bookkeeping(report: &VerifyReport, seen: &Seen) {
    let mut running = SecondCounts::default();
    for (answer, totals) in seen.answers.iter().zip(&seen.totals) {
        match answer {
            Answer::New => running.new += 1,
            Answer::Old { .. } => running.old += 1,
            Answer::Error(_) => running.errors += 1,
        }
        assert_eq!(*totals, running, "running totals after {answer:?}");
    }
    assert_eq!(report.totals, running, "report totals = what on_answer saw");
    let summed = report
        .per_second
        .iter()
        .fold(SecondCounts::default(), |acc, s| SecondCounts {
            new: acc.new + s.new,
            old: acc.old + s.old,
            errors: acc.errors + s.errors,
        });
    assert_eq!(
        summed, report.totals,
        "per-second buckets add up to the totals"
    );
    assert_eq!(
        report.old_builds.values().sum::<u32>(),
        report.totals.old,
        "every old answer is attributed to a build"
    );
    assert_eq!(
        report.errors.values().sum::<u32>(),
        report.totals.errors,
        "every error is described"
    );
    assert!(report.per_second.len() as u64 <= report.elapsed.as_secs() + 1);
    if let Some(done) = report.converged_after {
        assert!(report.converged);
        assert!(done <= report.elapsed);
        assert!(report.first_new_after.is_some_and(|first| first <= done));
        // The converging answer is the last one, so its second is the last bucket.
        assert_eq!(report.per_second.len() as u64, done.as_secs() + 1);
        assert!(report.per_second.last().unwrap().new >= 1);
    } else {
        assert!(!report.converged);
    }
    assert_eq!(report.first_new_after.is_some(), report.totals.new > 0);
}

fn header_expectation() -> Expectation {
    Expectation::header(VERSION_HEADER, NEW)
}

fn counts(new: u32, old: u32, errors: u32) -> SecondCounts {
    SecondCounts { new, old, errors }
}

fn map(entries: &[(&str, u32)]) -> BTreeMap<String, u32> {
    entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

// ---------- convergence during a rollout ----------

#[tokio::test]
async fn a_rollout_converges_once_only_the_new_build_answers() {
    const INTERVAL_MS: u64 = 25;
    const K: u32 = 5;
    let unknown = Step {
        // A success without the header: counted as another build, named "unknown".
        reply: ResponseTemplate::new(200).set_body_string("Hello verify"),
        answer: Answer::Old { build: None },
    };
    // 40 old answers, then a mix (never K new in a row), then only the new build.
    let mix = vec![
        new(),
        old(),
        new(),
        new(),
        built_by(OLDER),
        new(),
        unknown,
        new(),
        new(),
        new(),
        new(),
        old(),
    ];
    let script = Script::new([times(40, old()), mix, vec![new()]], Tail::RepeatLast);
    let (server, url) = serve(&script).await;

    let (report, seen) = run(
        &url,
        &header_expectation(),
        &options(K, INTERVAL_MS, NO_TIMEOUT_MS),
    )
    .await;

    assert!(report.converged, "{report}");
    let answered = 40 + 12 + K as usize;
    assert_eq!(seen.answers, script.expected(answered));
    assert_eq!(
        received(&server).await,
        answered,
        "stops polling once converged"
    );
    assert_eq!(report.totals, counts(8 + K, 40 + 4, 0));
    assert_eq!(
        report.old_builds,
        map(&[(OLD, 42), (OLDER, 1), ("unknown", 1)])
    );
    assert!(report.errors.is_empty());
    assert_eq!(report.required, K);
    assert_eq!(report.url, url);

    // Every request but the first follows a sleep of one interval, so answer n + 1 comes at
    // least n intervals after the start, and m answers later at least m intervals later.
    let interval = Duration::from_millis(INTERVAL_MS);
    let first = report.first_new_after.unwrap();
    let done = report.converged_after.unwrap();
    assert!(first >= interval * 40, "first new after {first:?}");
    assert!(
        done >= first + interval * (12 - 1 + K),
        "converged after {done:?}"
    );
    // The first new answer came after a second or more: the buckets before it hold old
    // answers only, and its bucket has it.
    let first_second = first.as_secs() as usize;
    assert!(first_second >= 1);
    assert!(report.per_second.len() >= 2);
    assert!(
        report.per_second[..first_second]
            .iter()
            .all(|s| s.new == 0 && s.errors == 0),
        "{:?}",
        report.per_second
    );
    assert!(report.per_second[first_second].new >= 1);

    let text = report.to_string();
    assert!(
        text.starts_with(
            "new build answered 5 times in a row (13 new, 44 old, 0 errors; first new after "
        ),
        "{text}"
    );
    assert!(report.into_result().is_ok());
}

#[tokio::test]
async fn five_hundreds_are_errors_that_reset_the_streak() {
    const K: u32 = 4;
    // The 503 comes from a new task failing: it carries the new header and is still an error.
    let failing_new_task = Step {
        reply: ResponseTemplate::new(503).insert_header(VERSION_HEADER, NEW),
        answer: Answer::Error("HTTP 503".into()),
    };
    let script = Script::new(
        [
            times(3, old()),
            times(2, status(502)),
            times(K as usize - 1, new()),
            vec![failing_new_task],
            times(K as usize - 1, new()),
            vec![status(503)],
            vec![new()],
        ],
        Tail::RepeatLast,
    );
    let (server, url) = serve(&script).await;

    let (report, seen) = run(&url, &header_expectation(), &options(K, 2, NO_TIMEOUT_MS)).await;

    assert!(report.converged, "{report}");
    // Had an error not reset the streak, K new answers would have come after the first 503.
    let answered = 3 + 2 + 3 + 1 + 3 + 1 + 4;
    assert_eq!(seen.answers, script.expected(answered));
    assert_eq!(received(&server).await, answered);
    assert_eq!(report.totals, counts(10, 3, 4));
    assert_eq!(report.errors, map(&[("HTTP 502", 2), ("HTTP 503", 2)]));
    assert_eq!(report.old_builds, map(&[(OLD, 3)]));
    let text = report.to_string();
    assert!(text.contains("(10 new, 3 old, 4 errors"), "{text}");
    assert!(
        text.contains("2× HTTP 502") && text.contains("2× HTTP 503"),
        "{text}"
    );
}

#[tokio::test]
async fn convergence_needs_k_new_answers_in_a_row() {
    // Two new answers, one old, forever: a load balancer still spreading requests over both.
    let script = Script::new([vec![new(), new(), old()]], Tail::Cycle);
    let (server, url) = serve(&script).await;

    let (report, seen) = run(&url, &header_expectation(), &options(3, 2, 500)).await;

    assert!(!report.converged, "{report}");
    assert_eq!(report.converged_after, None);
    let answered = seen.answers.len();
    assert!(answered >= 4, "only {answered} answers in 500 ms");
    assert_eq!(seen.answers, script.expected(answered));
    assert_eq!(received(&server).await, answered);
    let longest = seen
        .answers
        .split(|a| *a != Answer::New)
        .map(<[Answer]>::len)
        .max();
    assert_eq!(longest, Some(2));
    assert_eq!(report.totals.old as usize, answered / 3);
    assert_eq!(report.totals.new as usize, answered - answered / 3);
    assert!(report.first_new_after.is_some());
    assert!(matches!(
        report.into_result(),
        Err(Error::VerificationFailed { .. })
    ));

    // The same pattern satisfies K = 2, on the second answer.
    let script = Script::new([vec![new(), new(), old()]], Tail::Cycle);
    let (_server, url) = serve(&script).await;
    let (report, seen) = run(&url, &header_expectation(), &options(2, 2, NO_TIMEOUT_MS)).await;
    assert!(report.converged);
    assert_eq!(seen.answers, vec![Answer::New, Answer::New]);
}

#[tokio::test]
async fn a_new_build_that_never_appears_times_out_with_the_figures() {
    let script = Script::new([vec![old()]], Tail::RepeatLast);
    let (server, url) = serve(&script).await;
    let timeout = Duration::from_millis(200);

    let (report, seen) = run(
        &url,
        &header_expectation(),
        &options(3, 5, timeout.as_millis() as u64),
    )
    .await;

    assert!(!report.converged);
    assert!(report.elapsed >= timeout);
    assert_eq!(report.first_new_after, None);
    assert_eq!(report.converged_after, None);
    let n = seen.answers.len() as u32;
    assert!(n >= 1);
    assert_eq!(received(&server).await, n as usize);
    assert_eq!(script.served(), n as usize);
    assert_eq!(report.totals, counts(0, n, 0));
    assert_eq!(report.old_builds, map(&[(OLD, n)]));

    let err = report.into_result().unwrap_err();
    let Error::VerificationFailed { url: failed, .. } = &err else {
        panic!("expected VerificationFailed, got {err:?}")
    };
    assert_eq!(*failed, url);
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "verification of {url} failed: no convergence within"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("(0 new, {n} old, 0 errors)")),
        "{message}"
    );
}

// ---------- what identifies the new build ----------

#[tokio::test]
async fn the_new_greeting_in_the_body_identifies_the_new_build() {
    // Body only: the header is not looked at, so old answers have no build name.
    let old_body = Step {
        reply: hello(OLD, OLD_GREETING),
        answer: Answer::Old { build: None },
    };
    let script = Script::new([times(3, old_body), vec![new()]], Tail::RepeatLast);
    let (_server, url) = serve(&script).await;

    let (report, seen) = run(
        &url,
        &Expectation::body(NEW_GREETING),
        &options(3, 2, NO_TIMEOUT_MS),
    )
    .await;

    assert!(report.converged, "{report}");
    assert_eq!(seen.answers, script.expected(6));
    assert_eq!(report.totals, counts(3, 3, 0));
    assert_eq!(report.old_builds, map(&[("unknown", 3)]));
}

#[tokio::test]
async fn header_and_body_must_both_match() {
    let expect = Expectation {
        body_contains: Some(NEW_GREETING.into()),
        header: Some((VERSION_HEADER.into(), NEW.into())),
        unlike: false,
    };
    // The new image with the old greeting (its environment not updated yet), and the old
    // image with the new greeting: neither is the new build.
    let new_image_old_greeting = Step {
        reply: hello(NEW, OLD_GREETING),
        answer: Answer::Old {
            build: Some(NEW.into()),
        },
    };
    let old_image_new_greeting = Step {
        reply: hello(OLD, NEW_GREETING),
        answer: Answer::Old {
            build: Some(OLD.into()),
        },
    };
    let script = Script::new(
        [
            vec![old(), new_image_old_greeting, old_image_new_greeting],
            vec![new()],
        ],
        Tail::RepeatLast,
    );
    let (_server, url) = serve(&script).await;

    let (report, seen) = run(&url, &expect, &options(2, 2, NO_TIMEOUT_MS)).await;

    assert!(report.converged, "{report}");
    assert_eq!(seen.answers, script.expected(5));
    assert_eq!(report.totals, counts(2, 3, 0));
    assert_eq!(report.old_builds, map(&[(OLD, 2), (NEW, 1)]));
}

#[tokio::test]
async fn a_refused_connection_is_an_error_answer() {
    // A port bound but not listening: connections are refused, and while the socket is
    // held no other test's server can take the port.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hello/verify");

    let (report, seen) = run(&url, &header_expectation(), &options(1, 5, 150)).await;

    assert!(!report.converged);
    let n = seen.answers.len() as u32;
    assert!(n >= 1);
    assert_eq!(report.totals, counts(0, 0, n));
    assert_eq!(report.errors, map(&[("connection failed", n)]));
    let message = report.into_result().unwrap_err().to_string();
    assert!(message.contains(&url), "{message}");
    assert!(
        message.contains(&format!("{n}× connection failed")),
        "{message}"
    );
    drop(socket);
}

#[tokio::test]
async fn a_request_that_outlasts_its_timeout_is_an_error_answer() {
    let slow = Step {
        reply: new().reply.set_delay(Duration::from_millis(400)),
        answer: Answer::Error("timeout".into()),
    };
    let script = Script::new([vec![slow]], Tail::RepeatLast);
    let (_server, url) = serve(&script).await;
    let options = VerifyOptions {
        request_timeout: Duration::from_millis(50),
        ..options(1, 5, 120)
    };

    let (report, seen) = run(&url, &header_expectation(), &options).await;

    assert!(!report.converged, "a late answer is no answer: {report}");
    assert_eq!(seen.answers, script.expected(seen.answers.len()));
    assert_eq!(report.totals.new, 0);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let script = Script::new([vec![new()]], Tail::RepeatLast);
    let (server, url) = serve(&script).await;
    let fast = options(3, 2, 200);

    let nothing = verify(
        &url,
        &Expectation::default(),
        &fast,
        &mut OneTarget,
        |_, _| {},
    )
    .await;
    assert!(
        matches!(&nothing, Err(Error::InvalidInput { problem, .. }) if problem.contains("nothing identifies the new build")),
        "{nothing:?}"
    );
    let no_scheme = url.trim_start_matches("http://").to_owned();
    let bare = verify(
        &no_scheme,
        &header_expectation(),
        &fast,
        &mut OneTarget,
        |_, _| {},
    )
    .await;
    assert!(matches!(bare, Err(Error::InvalidInput { .. })), "{bare:?}");
    assert_eq!(received(&server).await, 0);
}

// ---------- discover_url: DescribeServices, then the ELBv2 describes ----------

const CLUSTER: &str = "dev-cluster";
const SERVICE: &str = "hello-ecs";
const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello-ecs-tg/6d0ecf831eec9f09";
/// Another service's target group behind the same load balancer.
const OTHER_TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/billing-tg/1a2b3c4d5e6f7a8b";
const LB: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/dev-alb/50dc6c495c0c9188";
const DNS: &str = "dev-alb-1234567890.us-east-1.elb.amazonaws.com";
const ELB_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

fn listener_arn(id: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/dev-alb/50dc6c495c0c9188/{id}"
    )
}

/// The decoded fields of an awsQuery form body. The body is a query string, so the request
/// URL with the body as its query parses it.
fn form(request: &Request) -> Vec<(String, String)> {
    let mut url = request.url.clone();
    url.set_query(std::str::from_utf8(&request.body).ok());
    url.query_pairs().into_owned().collect()
}

/// Matches an awsQuery request that has `key=value` in its form.
fn form_field(key: &'static str, value: String) -> impl Fn(&Request) -> bool + Send + Sync {
    move |request| form(request).iter().any(|(k, v)| k == key && *v == value)
}

/// A wiremock server playing both AWS endpoints, as `AWS_ENDPOINT_URL` would point there.
struct Aws {
    server: MockServer,
}

impl Aws {
    async fn start() -> Aws {
        Aws {
            server: MockServer::start().await,
        }
    }

    async fn clients(&self) -> Clients {
        Clients::load(&AwsOptions {
            endpoint_url: Some(self.server.uri()),
            dummy_credentials: true,
            region: Some("us-east-1".into()),
            ..Default::default()
        })
        .await
    }

    /// `ecs:DescribeServices` of our service answers with these `loadBalancers`.
    async fn service(&self, load_balancers: serde_json::Value) {
        let service = serde_json::json!({
            "serviceArn": format!("arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/{SERVICE}"),
            "serviceName": SERVICE,
            "clusterArn": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}"),
            "loadBalancers": load_balancers,
            "serviceRegistries": [],
            "status": "ACTIVE",
            "desiredCount": 2,
            "runningCount": 2,
            "pendingCount": 0,
            "launchType": "FARGATE",
            "platformVersion": "LATEST",
            "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:7",
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": { "enable": true, "rollback": true },
                "maximumPercent": 200,
                "minimumHealthyPercent": 100
            },
            "deployments": [{
                "id": "ecs-svc/1111111111111111111",
                "status": "PRIMARY",
                "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:7",
                "desiredCount": 2, "pendingCount": 0, "runningCount": 2, "failedTasks": 0,
                "createdAt": 1_800_000_000.123, "updatedAt": 1_800_000_300.456,
                "launchType": "FARGATE",
                "rolloutState": "COMPLETED",
                "rolloutStateReason": "ECS deployment ecs-svc/1111111111111111111 completed."
            }],
            "events": [],
            "createdAt": 1_790_000_000.0,
            "healthCheckGracePeriodSeconds": 30,
            "schedulingStrategy": "REPLICA"
        });
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header(
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.DescribeServices",
            ))
            .and(body_partial_json(
                serde_json::json!({ "cluster": CLUSTER, "services": [SERVICE] }),
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(
                        serde_json::json!({ "services": [service], "failures": [] }).to_string(),
                        "application/x-amz-json-1.1",
                    )
                    .insert_header("x-amzn-requestid", "5d6f4b6e-0000-4000-8000-000000000001"),
            )
            .expect(1)
            .mount(&self.server)
            .await;
    }

    /// ELBv2 `action` with form field `key=value` answers with `result` (the inside of
    /// `<{action}Result>`), `calls` times.
    async fn elb(&self, action: &str, key: &'static str, value: &str, result: &str, calls: u64) {
        self.elb_page(action, key, value, None, result, calls).await;
    }

    /// Like [`Aws::elb`], for the page the request's `Marker` asks for (`None`: the first).
    async fn elb_page(
        &self,
        action: &str,
        key: &'static str,
        value: &str,
        marker: Option<&'static str>,
        result: &str,
        calls: u64,
    ) {
        let body = format!(
            r#"<{action}Response xmlns="{ELB_NS}">
  <{action}Result>
{result}
  </{action}Result>
  <ResponseMetadata>
    <RequestId>8e3b1c52-0000-4000-8000-000000000002</RequestId>
  </ResponseMetadata>
</{action}Response>
"#
        );
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string_contains(format!("Action={action}&")))
            .and(form_field(key, value.to_owned()))
            .and(move |request: &Request| {
                let asked = form(request).into_iter().find(|(k, _)| k == "Marker");
                asked.map(|(_, v)| v).as_deref() == marker
            })
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/xml"))
            .expect(calls)
            .mount(&self.server)
            .await;
    }

    /// Our target group, attached to `load_balancers`.
    async fn target_group(&self, load_balancers: &[&str]) {
        let arns: String = load_balancers
            .iter()
            .map(|arn| format!("<member>{arn}</member>"))
            .collect();
        let result = format!(
            r#"    <TargetGroups>
      <member>
        <TargetGroupArn>{TG}</TargetGroupArn>
        <TargetGroupName>hello-ecs-tg</TargetGroupName>
        <Protocol>HTTP</Protocol>
        <Port>8080</Port>
        <VpcId>vpc-0a1b2c3d4e5f67890</VpcId>
        <HealthCheckProtocol>HTTP</HealthCheckProtocol>
        <HealthCheckPort>traffic-port</HealthCheckPort>
        <HealthCheckEnabled>true</HealthCheckEnabled>
        <HealthCheckIntervalSeconds>5</HealthCheckIntervalSeconds>
        <HealthCheckTimeoutSeconds>4</HealthCheckTimeoutSeconds>
        <HealthyThresholdCount>2</HealthyThresholdCount>
        <UnhealthyThresholdCount>2</UnhealthyThresholdCount>
        <HealthCheckPath>/ping</HealthCheckPath>
        <Matcher><HttpCode>200</HttpCode></Matcher>
        <LoadBalancerArns>{arns}</LoadBalancerArns>
        <TargetType>ip</TargetType>
        <ProtocolVersion>HTTP1</ProtocolVersion>
        <IpAddressType>ipv4</IpAddressType>
      </member>
    </TargetGroups>"#
        );
        self.elb(
            "DescribeTargetGroups",
            "TargetGroupArns.member.1",
            TG,
            &result,
            1,
        )
        .await;
    }

    /// The load balancer, `calls` times.
    async fn load_balancer(&self, calls: u64) {
        let result = format!(
            r#"    <LoadBalancers>
      <member>
        <LoadBalancerArn>{LB}</LoadBalancerArn>
        <DNSName>{DNS}</DNSName>
        <CanonicalHostedZoneId>Z35SXDOTRQ7X7K</CanonicalHostedZoneId>
        <CreatedTime>2026-05-01T09:30:00.120Z</CreatedTime>
        <LoadBalancerName>dev-alb</LoadBalancerName>
        <Scheme>internet-facing</Scheme>
        <VpcId>vpc-0a1b2c3d4e5f67890</VpcId>
        <State><Code>active</Code></State>
        <Type>application</Type>
        <AvailabilityZones>
          <member><ZoneName>us-east-1a</ZoneName><SubnetId>subnet-0123456789abcdef0</SubnetId><LoadBalancerAddresses/></member>
          <member><ZoneName>us-east-1b</ZoneName><SubnetId>subnet-0fedcba9876543210</SubnetId><LoadBalancerAddresses/></member>
        </AvailabilityZones>
        <SecurityGroups><member>sg-0123456789abcdef0</member></SecurityGroups>
        <IpAddressType>ipv4</IpAddressType>
      </member>
    </LoadBalancers>"#
        );
        self.elb(
            "DescribeLoadBalancers",
            "LoadBalancerArns.member.1",
            LB,
            &result,
            calls,
        )
        .await;
    }

    /// The load balancer's listeners (`<member>` elements).
    async fn listeners(&self, members: &[String], calls: u64) {
        let result = format!("    <Listeners>\n{}\n    </Listeners>", members.concat());
        self.elb("DescribeListeners", "LoadBalancerArn", LB, &result, calls)
            .await;
    }

    /// The rules of one listener (`<member>` elements).
    async fn rules(&self, listener: &str, members: &[String], calls: u64) {
        let result = format!("    <Rules>\n{}\n    </Rules>", members.concat());
        self.elb("DescribeRules", "ListenerArn", listener, &result, calls)
            .await;
    }

    /// No DescribeRules call at all.
    async fn no_rules(&self) {
        Mock::given(body_string_contains("Action=DescribeRules&"))
            .respond_with(ResponseTemplate::new(400))
            .expect(0)
            .mount(&self.server)
            .await;
    }

    /// No ELBv2 call at all.
    async fn no_elb(&self) {
        Mock::given(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(ResponseTemplate::new(400))
            .expect(0)
            .mount(&self.server)
            .await;
    }
}

fn ecs_target_group(tg: &str) -> serde_json::Value {
    serde_json::json!([{ "targetGroupArn": tg, "containerName": SERVICE, "containerPort": 8080 }])
}

/// A forward action as ELBv2 describes one made with `TargetGroupArn`: both forms.
fn forward(tg: &str) -> String {
    format!(
        "<member><Type>forward</Type><TargetGroupArn>{tg}</TargetGroupArn><ForwardConfig>\
         <TargetGroups><member><TargetGroupArn>{tg}</TargetGroupArn><Weight>1</Weight></member></TargetGroups>\
         <TargetGroupStickinessConfig><Enabled>false</Enabled></TargetGroupStickinessConfig>\
         </ForwardConfig></member>"
    )
}

/// The 404 our CloudFormation gives paths no service claims.
fn fixed_404() -> String {
    "<member><Type>fixed-response</Type><FixedResponseConfig><MessageBody>not found</MessageBody>\
     <StatusCode>404</StatusCode><ContentType>text/plain</ContentType></FixedResponseConfig></member>"
        .to_owned()
}

fn redirect_to_https() -> String {
    "<member><Type>redirect</Type><RedirectConfig><Protocol>HTTPS</Protocol><Port>443</Port>\
     <Host>#{host}</Host><Path>/#{path}</Path><Query>#{query}</Query><StatusCode>HTTP_301</StatusCode>\
     </RedirectConfig></member>"
        .to_owned()
}

fn listener(arn: &str, protocol: &str, port: u16, default_actions: &str) -> String {
    let tls = if protocol == "HTTPS" {
        "<Certificates><member><CertificateArn>arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-0000-4000-8000-000000000003</CertificateArn></member></Certificates>\
         <SslPolicy>ELBSecurityPolicy-TLS13-1-2-2021-06</SslPolicy>"
    } else {
        ""
    };
    format!(
        "      <member><ListenerArn>{arn}</ListenerArn><LoadBalancerArn>{LB}</LoadBalancerArn>\
         <Port>{port}</Port><Protocol>{protocol}</Protocol>{tls}\
         <DefaultActions>{default_actions}</DefaultActions></member>\n"
    )
}

/// A path-pattern rule, as our CloudFormation's `ListenerRule`.
fn path_rule(listener: &str, priority: u32, pattern: &str, actions: &str) -> String {
    format!(
        "      <member><RuleArn>{}</RuleArn><Priority>{priority}</Priority>\
         <Conditions><member><Field>path-pattern</Field><Values><member>{pattern}</member></Values>\
         <PathPatternConfig><Values><member>{pattern}</member></Values></PathPatternConfig></member></Conditions>\
         <Actions>{actions}</Actions><IsDefault>false</IsDefault></member>\n",
        listener.replace(":listener/", ":listener-rule/") + &format!("/{priority:016x}")
    )
}

/// The listener's default rule (DescribeRules lists it last).
fn default_rule(listener: &str, actions: &str) -> String {
    format!(
        "      <member><RuleArn>{}</RuleArn><Priority>default</Priority><Conditions/>\
         <Actions>{actions}</Actions><IsDefault>true</IsDefault></member>\n",
        listener.replace(":listener/", ":listener-rule/") + "/default"
    )
}

fn hello_service() -> ServiceRef {
    ServiceRef::new(CLUSTER, SERVICE)
}

#[tokio::test]
async fn discovers_the_http_listener_that_forwards_by_default() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[LB]).await;
    aws.load_balancer(1).await;
    aws.listeners(
        &[listener(
            &listener_arn("f2f7dc8efc522ab2"),
            "HTTP",
            80,
            &forward(TG),
        )],
        1,
    )
    .await;
    aws.no_rules().await;

    let url = discover_url(&aws.clients().await, &hello_service()).await;

    assert_eq!(url.unwrap(), format!("http://{DNS}"));
}

#[tokio::test]
async fn discovers_the_https_listener_behind_a_redirect() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[LB]).await;
    aws.load_balancer(1).await;
    // Production: port 80 redirects, 443 forwards.
    aws.listeners(
        &[
            listener(
                &listener_arn("f2f7dc8efc522ab2"),
                "HTTP",
                80,
                &redirect_to_https(),
            ),
            listener(
                &listener_arn("0467ef3c8400ae65"),
                "HTTPS",
                443,
                &forward(TG),
            ),
        ],
        1,
    )
    .await;
    aws.no_rules().await;

    let url = discover_url(&aws.clients().await, &hello_service()).await;

    assert_eq!(url.unwrap(), format!("https://{DNS}"));
}

#[tokio::test]
async fn discovers_the_listener_whose_rule_forwards_to_the_service() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[LB]).await;
    aws.load_balancer(1).await;
    // Both listeners answer 404 by default; a rule on 8080 serves another service, a rule
    // on 80 serves ours (as infra/04-service.yaml adds it).
    let admin = listener_arn("9c2d1f7a3b4e5d60");
    let public = listener_arn("f2f7dc8efc522ab2");
    aws.listeners(
        &[
            listener(&admin, "HTTP", 8080, &fixed_404()),
            listener(&public, "HTTP", 80, &fixed_404()),
        ],
        1,
    )
    .await;
    aws.rules(
        &admin,
        &[
            path_rule(&admin, 5, "/billing/*", &forward(OTHER_TG)),
            default_rule(&admin, &fixed_404()),
        ],
        1,
    )
    .await;
    aws.rules(
        &public,
        &[
            path_rule(&public, 5, "/billing/*", &forward(OTHER_TG)),
            path_rule(&public, 10, "/hello/*", &forward(TG)),
            default_rule(&public, &fixed_404()),
        ],
        1,
    )
    .await;

    let url = discover_url(&aws.clients().await, &hello_service()).await;

    assert_eq!(url.unwrap(), format!("http://{DNS}"), "port 80, not 8080");
}

/// A host-header rule (wildcard first, then a literal name) with a path, both in the
/// `Values` of old and in `HostHeaderConfig`, as ELBv2 returns them.
fn host_rule(listener: &str, priority: u32, hosts: &[&str], actions: &str) -> String {
    let values: String = hosts
        .iter()
        .map(|h| format!("<member>{h}</member>"))
        .collect();
    format!(
        "      <member><RuleArn>{}</RuleArn><Priority>{priority}</Priority>\
         <Conditions><member><Field>host-header</Field><Values>{values}</Values>\
         <HostHeaderConfig><Values>{values}</Values></HostHeaderConfig></member>\
         <member><Field>path-pattern</Field><Values><member>/hello/*</member></Values></member></Conditions>\
         <Actions>{actions}</Actions><IsDefault>false</IsDefault></member>\n",
        listener.replace(":listener/", ":listener-rule/") + &format!("/{priority:016x}")
    )
}

#[tokio::test]
async fn an_https_listener_with_a_host_rule_gives_the_host_name_to_send() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[LB]).await;
    aws.load_balancer(1).await;
    let https = listener_arn("0467ef3c8400ae65");
    aws.listeners(&[listener(&https, "HTTPS", 443, &fixed_404())], 1)
        .await;
    aws.rules(
        &https,
        &[
            host_rule(&https, 5, &["billing.example.com"], &forward(OTHER_TG)),
            host_rule(
                &https,
                10,
                &["*.hello.example.com", "hello.example.com"],
                &forward(TG),
            ),
            default_rule(&https, &fixed_404()),
        ],
        1,
    )
    .await;

    let endpoint = discover_endpoint(&aws.clients().await, &hello_service())
        .await
        .unwrap();

    assert_eq!(endpoint.url, format!("https://{DNS}"));
    assert_eq!(endpoint.host.as_deref(), Some("hello.example.com"));
}

#[tokio::test]
async fn a_listener_on_another_port_keeps_its_port() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[LB]).await;
    aws.load_balancer(1).await;
    let public = listener_arn("f2f7dc8efc522ab2");
    aws.listeners(&[listener(&public, "HTTP", 8080, &fixed_404())], 1)
        .await;
    aws.rules(
        &public,
        &[
            path_rule(&public, 10, "/hello/*", &forward(TG)),
            default_rule(&public, &fixed_404()),
        ],
        1,
    )
    .await;

    let url = discover_url(&aws.clients().await, &hello_service()).await;

    assert_eq!(url.unwrap(), format!("http://{DNS}:8080"));
}

#[tokio::test]
async fn a_target_group_without_a_load_balancer_is_reported() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[]).await;
    aws.load_balancer(0).await;

    let err = discover_url(&aws.clients().await, &hello_service())
        .await
        .unwrap_err();

    assert!(matches!(err, Error::NoLoadBalancer(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(TG), "{message}");
    assert!(
        message.contains("not attached to a load balancer"),
        "{message}"
    );
    assert!(message.contains("pass the URL explicitly"), "{message}");
}

#[tokio::test]
async fn no_listener_forwarding_to_the_target_group_is_reported() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[LB]).await;
    aws.load_balancer(1).await;
    let public = listener_arn("f2f7dc8efc522ab2");
    aws.listeners(&[listener(&public, "HTTP", 80, &fixed_404())], 1)
        .await;
    aws.rules(
        &public,
        &[
            path_rule(&public, 5, "/billing/*", &forward(OTHER_TG)),
            default_rule(&public, &fixed_404()),
        ],
        1,
    )
    .await;

    let err = discover_url(&aws.clients().await, &hello_service())
        .await
        .unwrap_err();

    assert!(matches!(err, Error::NoLoadBalancer(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(LB) && message.contains(TG), "{message}");
}

#[tokio::test]
async fn a_service_without_a_load_balancer_is_reported() {
    let aws = Aws::start().await;
    aws.service(serde_json::json!([])).await;
    aws.no_elb().await;

    let err = discover_url(&aws.clients().await, &hello_service())
        .await
        .unwrap_err();

    assert!(matches!(err, Error::NoLoadBalancer(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("dev-cluster/hello-ecs"), "{message}");
    assert!(message.contains("no load balancer"), "{message}");
    assert!(message.contains("pass the URL explicitly"), "{message}");
}

#[tokio::test]
async fn listeners_and_rules_on_later_pages_are_found() {
    let aws = Aws::start().await;
    aws.service(ecs_target_group(TG)).await;
    aws.target_group(&[LB]).await;
    aws.load_balancer(1).await;
    let admin = listener_arn("9c2d1f7a3b4e5d60");
    let public = listener_arn("f2f7dc8efc522ab2");
    // A shared load balancer: its listeners and rules come a page at a time.
    aws.elb_page(
        "DescribeListeners",
        "LoadBalancerArn",
        LB,
        None,
        &format!(
            "<Listeners>{}</Listeners><NextMarker>listeners-2</NextMarker>",
            listener(&admin, "HTTP", 8080, &fixed_404())
        ),
        1,
    )
    .await;
    aws.elb_page(
        "DescribeListeners",
        "LoadBalancerArn",
        LB,
        Some("listeners-2"),
        &format!(
            "<Listeners>{}</Listeners>",
            listener(&public, "HTTP", 80, &fixed_404())
        ),
        1,
    )
    .await;
    aws.rules(&admin, &[default_rule(&admin, &fixed_404())], 1)
        .await;
    aws.elb_page(
        "DescribeRules",
        "ListenerArn",
        &public,
        None,
        &format!(
            "<Rules>{}</Rules><NextMarker>rules-2</NextMarker>",
            path_rule(&public, 5, "/billing/*", &forward(OTHER_TG))
        ),
        1,
    )
    .await;
    aws.elb_page(
        "DescribeRules",
        "ListenerArn",
        &public,
        Some("rules-2"),
        &format!(
            "<Rules>{}{}</Rules>",
            path_rule(&public, 10, "/hello/*", &forward(TG)),
            default_rule(&public, &fixed_404())
        ),
        1,
    )
    .await;

    let url = discover_url(&aws.clients().await, &hello_service()).await;

    assert_eq!(url.unwrap(), format!("http://{DNS}"));
}

#[tokio::test]
async fn zero_consecutive_answers_prove_nothing() {
    // Only errors: "0 in a row" must not turn the first error into a success.
    let script = Script::new([vec![status(503)]], Tail::RepeatLast);
    let (server, url) = serve(&script).await;

    let zero = verify(
        &url,
        &header_expectation(),
        &options(0, 2, 200),
        &mut OneTarget,
        |_, _| {},
    )
    .await;

    assert!(
        matches!(&zero, Err(Error::InvalidInput { problem, .. }) if problem.contains("at least 1")),
        "{zero:?}"
    );
    assert_eq!(received(&server).await, 0);
}

/// A server on 127.0.0.1 that sends the new build's status and headers, then closes the
/// connection long before the body it announced is complete: a task dying mid-answer.
async fn truncating_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read the whole request head first, so closing sends FIN rather than RST
                // and the client does get the status line and headers.
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                     {VERSION_HEADER}: {NEW}\r\ncontent-length: 1000\r\n\r\n{NEW_GREETING} ve"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}/hello/verify")
}

#[tokio::test]
async fn an_answer_cut_off_mid_body_is_an_error() {
    let url = truncating_server().await;

    let (report, seen) = run(&url, &header_expectation(), &options(2, 5, 200)).await;

    assert!(!report.converged, "{report}");
    let n = seen.answers.len() as u32;
    assert!(n >= 1);
    assert_eq!(report.totals, counts(0, 0, n), "{:?}", report.errors);
    assert!(
        report.errors.keys().all(|e| e.contains("body")),
        "{:?}",
        report.errors
    );
}

// ---------- traffic through a rollout ----------

#[tokio::test]
async fn traffic_sampling_counts_every_request_until_stopped() {
    let script = Script::new(
        [times(3, old()), vec![status(502)], times(1, new())],
        Tail::RepeatLast,
    );
    let (_server, url) = serve(&script).await;
    let options = deploy_sdk::verify::TrafficOptions {
        per_second: 50,
        ..Default::default()
    };
    let watched = script.clone();
    // Stops once the server has answered 8 requests; those in flight are still counted.
    let stop = async move {
        while watched.served() < 8 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let report = deploy_sdk::verify::sample_traffic(&url, &header_expectation(), &options, stop)
        .await
        .unwrap();
    let served = script.served();
    assert!(served >= 8);
    assert_eq!(report.requests() as usize, served, "{report:?}");
    let expected = script.expected(served);
    let count = |want: fn(&Answer) -> bool| expected.iter().filter(|a| want(a)).count() as u32;
    assert_eq!(
        report.totals.old,
        count(|a| matches!(a, Answer::Old { .. }))
    );
    assert_eq!(report.totals.errors, 1);
    assert_eq!(report.totals.new, count(|a| *a == Answer::New));
    assert_eq!(report.errors, map(&[("HTTP 502", 1)]));
    let per_second: u32 = report
        .per_second
        .iter()
        .map(|s| s.new + s.old + s.errors)
        .sum();
    assert_eq!(per_second, report.requests());
}
