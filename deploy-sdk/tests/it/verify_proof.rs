//! What `verify` accepts as proof, against servers on 127.0.0.1:
//! - four targets behind an NLB-like proxy (a target per connection, round robin), one
//!   answering the old build: ten new answers over one pooled keep-alive connection come
//!   easily — what verification used to accept — while `verify`, a connection per request,
//!   is never satisfied until the straggler is gone;
//! - target health that still shows another deployment's target holds the proof back;
//! - the streak scales with the targets in service;
//! - bodies are read up to the cap; the host name goes out as `Host` and as TLS SNI.
//!
//! Everything is decided by request and reading counts, never by the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use deploy_sdk::verify::{
    Answer, Expectation, Fleet, FleetHealth, FleetSource, SecondCounts, VerifyOptions,
    VerifyReport, verify,
};
use deploy_sdk::{Error, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const VERSION_HEADER: &str = "x-app-version";
const OLD: &str = "0.1.0-3f2a9c1";
const NEW: &str = "0.1.0-8d41e07";
/// Only a broken `verify` runs this long: these scripts end by request count.
const NO_TIMEOUT: Duration = Duration::from_secs(30);

fn hello(build: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header(VERSION_HEADER, build)
        .set_body_string(format!("Hello from {build}"))
}

/// A task of `build` answering `GET /hello/verify`.
async fn task(build: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/hello/verify"))
        .respond_with(hello(build))
        .mount(&server)
        .await;
    server
}

fn expect() -> Expectation {
    Expectation::header(VERSION_HEADER, NEW)
}

fn options() -> VerifyOptions {
    VerifyOptions {
        interval: Duration::from_millis(2),
        timeout: NO_TIMEOUT,
        request_timeout: Duration::from_secs(5),
        ..VerifyOptions::default()
    }
}

async fn run<F: Fleet>(
    url: &str,
    options: &VerifyOptions,
    fleet: &mut F,
) -> (VerifyReport, Vec<Answer>) {
    let mut answers = Vec::new();
    let report = verify(
        url,
        &expect(),
        options,
        fleet,
        |answer, _: &SecondCounts| answers.push(answer.clone()),
    )
    .await
    .expect("verify runs");
    (report, answers)
}

// ---------- an NLB: one target per connection ----------

/// A TCP proxy that sends each new connection to the next target, round robin; the last
/// target (the straggler) leaves the rotation after `straggler_for` connections, as it
/// would once ECS stops it.
struct Nlb {
    url: String,
    connections: Arc<AtomicUsize>,
    straggling: Arc<AtomicBool>,
}

async fn nlb(targets: Vec<String>, straggler_for: usize) -> Nlb {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hello/verify", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let straggling = Arc::new(AtomicBool::new(true));
    let (count, on) = (connections.clone(), straggling.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            if n >= straggler_for {
                on.store(false, Ordering::SeqCst);
            }
            let in_rotation = if n < straggler_for {
                &targets[..]
            } else {
                &targets[..targets.len() - 1]
            };
            let to = in_rotation[n % in_rotation.len()].clone();
            tokio::spawn(async move {
                let mut upstream = TcpStream::connect(to).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    Nlb {
        url,
        connections,
        straggling,
    }
}

/// Target health as the NLB's targets stand: four in service, the straggler another
/// deployment's, until it leaves.
struct NlbTargets(Arc<AtomicBool>);

impl Fleet for NlbTargets {
    async fn observe(&mut self) -> Result<FleetHealth> {
        let straggling = self.0.load(Ordering::SeqCst);
        Ok(FleetHealth {
            source: FleetSource::TargetHealth,
            in_service: if straggling { 4 } else { 3 },
            others_in_service: straggling as u32,
        })
    }
}

/// Three tasks of the new build and, last, one of the old.
async fn four_tasks() -> (Vec<MockServer>, Vec<String>) {
    let servers = vec![
        task(NEW).await,
        task(NEW).await,
        task(NEW).await,
        task(OLD).await,
    ];
    let addresses = servers.iter().map(|s| s.address().to_string()).collect();
    (servers, addresses)
}

#[tokio::test]
async fn a_pooled_connection_sees_one_target_and_would_have_passed() {
    let (_tasks, addresses) = four_tasks().await;
    let lb = nlb(addresses, usize::MAX).await;
    // What verification used to do: a pooled client, ten answers in a row.
    let pooled = reqwest::Client::new();
    for _ in 0..10 {
        let answer = pooled.get(&lb.url).send().await.unwrap();
        assert_eq!(answer.headers()[VERSION_HEADER], NEW);
        answer.bytes().await.unwrap();
    }
    assert_eq!(
        lb.connections.load(Ordering::SeqCst),
        1,
        "one keep-alive connection"
    );
}

#[tokio::test]
async fn four_targets_with_one_straggler_are_never_verified_while_it_answers() {
    const STRAGGLER_FOR: usize = 60;
    let (_tasks, addresses) = four_tasks().await;
    let lb = nlb(addresses, STRAGGLER_FOR).await;
    let mut fleet = NlbTargets(lb.straggling.clone());

    let (report, answers) = run(&lb.url, &options(), &mut fleet).await;

    assert!(report.converged, "{report}");
    // A connection per request: every fourth answer came from the straggler while it was in
    // the rotation, so no streak reached 12 (3 × 4 targets) before it left; the first 12
    // answers after it left proved the deployment.
    assert_eq!(report.required, 12);
    assert_eq!(report.targets, 4);
    assert_eq!(answers.len(), STRAGGLER_FOR + 12, "{report}");
    assert_eq!(lb.connections.load(Ordering::SeqCst), answers.len());
    let old = Answer::Old {
        build: Some(OLD.into()),
    };
    for (n, answer) in answers.iter().enumerate() {
        let straggler_turn = n < STRAGGLER_FOR && n % 4 == 3;
        assert_eq!(*answer == old, straggler_turn, "answer {n}: {answer:?}");
    }
    assert_eq!(report.longest_streak, 12);
    assert_eq!(report.target_health.map(|h| h.others_in_service), Some(0));
    let text = report.to_string();
    assert!(
        text.contains("12 in a row required for 4 targets in service"),
        "{text}"
    );
}

// ---------- target health ----------

/// Four targets in service; one of another deployment for the first `stale` readings.
struct Readings {
    stale: usize,
    taken: usize,
}

impl Fleet for Readings {
    async fn observe(&mut self) -> Result<FleetHealth> {
        self.taken += 1;
        Ok(FleetHealth {
            source: FleetSource::TargetHealth,
            in_service: 4,
            others_in_service: (self.taken <= self.stale) as u32,
        })
    }
}

#[tokio::test]
async fn a_target_of_another_deployment_in_service_holds_the_proof_back() {
    // Every answer is new (the straggler is never reached), yet it is in service.
    let server = task(NEW).await;
    let url = format!("{}/hello/verify", server.uri());
    // A reading before every request.
    let options = VerifyOptions {
        target_health_interval: Duration::ZERO,
        ..options()
    };
    let mut fleet = Readings {
        stale: 20,
        taken: 0,
    };

    let (report, answers) = run(&url, &options, &mut fleet).await;

    assert!(report.converged, "{report}");
    // Twelve in a row after 12 answers, but proven only by the 21st reading, before the
    // 21st request.
    assert_eq!(answers.len(), 21);
    assert_eq!(fleet.taken, 21);
    assert!(answers.iter().all(|a| *a == Answer::New));
    assert_eq!(report.longest_streak, 21);
}

#[tokio::test]
async fn without_a_clean_reading_nothing_is_proven() {
    let server = task(NEW).await;
    let url = format!("{}/hello/verify", server.uri());
    let options = VerifyOptions {
        timeout: Duration::from_millis(300),
        target_health_interval: Duration::ZERO,
        ..options()
    };
    let mut fleet = Readings {
        stale: usize::MAX,
        taken: 0,
    };

    let (report, answers) = run(&url, &options, &mut fleet).await;

    assert!(!report.converged, "{report}");
    assert!(answers.iter().all(|a| *a == Answer::New));
    let message = report.into_result().unwrap_err().to_string();
    assert!(
        message.contains("target health: 1 of 4 targets in service of another deployment"),
        "{message}"
    );
}

/// Fails `failures` times (as `error` makes it), then reads one clean target.
struct Flaky {
    failures: usize,
    error: fn() -> Error,
}

impl Fleet for Flaky {
    async fn observe(&mut self) -> Result<FleetHealth> {
        if self.failures > 0 {
            self.failures -= 1;
            return Err((self.error)());
        }
        Ok(FleetHealth {
            source: FleetSource::TargetHealth,
            in_service: 1,
            others_in_service: 0,
        })
    }
}

#[tokio::test]
async fn target_health_that_fails_is_retried_or_ends_verification() {
    let server = task(NEW).await;
    let url = format!("{}/hello/verify", server.uri());
    let options = VerifyOptions {
        target_health_interval: Duration::ZERO,
        ..options()
    };
    let throttled = || Error::Aws {
        action: "elasticloadbalancing:DescribeTargetHealth".into(),
        code: Some("Throttling".into()),
        kind: Some(aws_smithy_types::retry::ErrorKind::ThrottlingError),
        message: "Rate exceeded".into(),
    };
    let mut flaky = Flaky {
        failures: 3,
        error: throttled,
    };
    let (report, _) = run(&url, &options, &mut flaky).await;
    assert!(report.converged, "{report}");
    assert_eq!(report.target_health_errors.values().sum::<u32>(), 3);

    let denied = || Error::AccessDenied {
        action: "elasticloadbalancing:DescribeTargetHealth".into(),
        message: "not authorized".into(),
    };
    let mut denied = Flaky {
        failures: 1,
        error: denied,
    };
    let result = verify(&url, &expect(), &options, &mut denied, |_, _| {}).await;
    assert!(
        matches!(result, Err(Error::AccessDenied { .. })),
        "{result:?}"
    );
}

// ---------- the streak ----------

/// Answers from a script by request count, then the new build forever.
struct Script {
    answers: Vec<&'static str>,
    served: Arc<AtomicUsize>,
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        hello(self.answers.get(n).copied().unwrap_or(NEW))
    }
}

#[tokio::test]
async fn the_streak_scales_with_the_targets_in_service() {
    // Eight targets; one answer in 21 is old: 20 in a row would have passed for 10.
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.extend([NEW; 20]);
        answers.push(OLD);
    }
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Script {
            answers,
            served: Arc::default(),
        })
        .mount(&server)
        .await;
    let mut eight = Readings { stale: 0, taken: 0 };
    struct Eight<'a>(&'a mut Readings);
    impl Fleet for Eight<'_> {
        async fn observe(&mut self) -> Result<FleetHealth> {
            let mut health = self.0.observe().await?;
            health.in_service = 8;
            Ok(health)
        }
    }

    let (report, seen) = run(&server.uri(), &options(), &mut Eight(&mut eight)).await;

    assert!(report.converged, "{report}");
    assert_eq!((report.required, report.targets), (24, 8));
    assert_eq!(seen.len(), 42 + 24);
    assert!(
        report
            .to_string()
            .contains("24 in a row required for 8 targets")
    );
}

// ---------- the body cap ----------

/// One target of ours, in service.
struct Ours;

impl Fleet for Ours {
    async fn observe(&mut self) -> Result<FleetHealth> {
        Ok(FleetHealth {
            source: FleetSource::TargetHealth,
            in_service: 1,
            others_in_service: 0,
        })
    }
}

fn first_answer_decides() -> VerifyOptions {
    VerifyOptions {
        consecutive: 1,
        streak_per_target: 1,
        timeout: Duration::from_millis(200),
        ..options()
    }
}

#[tokio::test]
async fn text_past_the_body_cap_is_not_read() {
    let server = MockServer::start().await;
    let body = format!("{}G'day", "x".repeat(70 * 1024));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(&server)
        .await;
    let greeting = Expectation::body("G'day");
    let url = server.uri();

    let capped = verify(
        &url,
        &greeting,
        &first_answer_decides(),
        &mut Ours,
        |_, _| {},
    )
    .await
    .unwrap();
    let larger = VerifyOptions {
        max_body_bytes: 128 * 1024,
        ..first_answer_decides()
    };
    let whole = verify(&url, &greeting, &larger, &mut Ours, |_, _| {})
        .await
        .unwrap();

    assert!(!capped.converged && capped.totals.old >= 1, "{capped}");
    assert!(whole.converged, "{whole}");
}

/// A server whose answer names the new build and then never ends; it reports how many
/// body bytes it got to write before the client hung up.
async fn endless_answer() -> (String, tokio::sync::oneshot::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        let announce = 1usize << 30;
        let start = format!(
            "HTTP/1.1 200 OK\r\n{VERSION_HEADER}: {NEW}\r\ncontent-length: {announce}\r\n\r\n"
        );
        socket.write_all(start.as_bytes()).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut written = 0;
        while written < announce && socket.write_all(&chunk).await.is_ok() {
            written += chunk.len();
        }
        let _ = tx.send(written);
    });
    (url, rx)
}

#[tokio::test]
async fn a_body_that_never_ends_is_read_up_to_the_cap_only() {
    let (url, written) = endless_answer().await;

    let report = verify(
        &url,
        &expect(),
        &first_answer_decides(),
        &mut Ours,
        |_, _| {},
    )
    .await
    .unwrap();

    assert!(report.converged, "{report}");
    let written = tokio::time::timeout(NO_TIMEOUT, written)
        .await
        .expect("the client hung up")
        .unwrap();
    // Socket buffers take some megabytes; a body read to its end would be a gigabyte.
    assert!(written < 256 << 20, "{written} bytes written");
}

// ---------- the host name ----------

#[tokio::test]
async fn the_host_name_is_sent_while_connecting_to_the_address() {
    let server = MockServer::start().await;
    let port = server.address().port();
    // A host-header rule: only hello.example.com reaches the service.
    Mock::given(method("GET"))
        .and(header("host", format!("hello.example.com:{port}").as_str()))
        .respond_with(hello(NEW))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(u8::MAX)
        .mount(&server)
        .await;
    let url = format!("http://127.0.0.1:{port}/hello/verify");
    let named = VerifyOptions {
        host: Some("hello.example.com".into()),
        ..first_answer_decides()
    };

    let with_host = verify(&url, &expect(), &named, &mut Ours, |_, _| {})
        .await
        .unwrap();
    let without = verify(
        &url,
        &expect(),
        &first_answer_decides(),
        &mut Ours,
        |_, _| {},
    )
    .await
    .unwrap();

    assert!(with_host.converged, "{with_host}");
    assert_eq!(with_host.host.as_deref(), Some("hello.example.com"));
    assert!(with_host.to_string().contains("host hello.example.com"));
    assert!(
        !without.converged && without.errors.contains_key("HTTP 404"),
        "{without}"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.headers["connection"] == "close"),
        "a connection per request"
    );
}

/// The server name of a TLS ClientHello, if it has one.
fn server_name(hello: &[u8]) -> Option<String> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*hello.get(i)?, *hello.get(i + 1)?]) as usize);
    // Record header (5), handshake header (4), version (2), random (32).
    let mut i = 5 + 4 + 2 + 32;
    i += 1 + *hello.get(i)? as usize; // session id
    i += 2 + u16_at(i)?; // cipher suites
    i += 1 + *hello.get(i)? as usize; // compression methods
    let end = i + 2 + u16_at(i)?;
    i += 2;
    while i + 4 <= end {
        let (kind, len) = (u16_at(i)?, u16_at(i + 2)?);
        if kind == 0 {
            // server_name: list length (2), name type (1), name length (2), name.
            let name_len = u16_at(i + 4 + 3)?;
            let start = i + 4 + 5;
            return String::from_utf8(hello.get(start..start + name_len)?.to_vec()).ok();
        }
        i += 4 + len;
    }
    None
}

#[tokio::test]
async fn the_host_name_is_the_tls_server_name() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut hello = vec![0; 16 * 1024];
        let mut read = 0;
        // The record's length is in its header; read the whole record.
        while read < 5 || read < 5 + u16::from_be_bytes([hello[3], hello[4]]) as usize {
            match socket.read(&mut hello[read..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
        let _ = tx.send(server_name(&hello[..read]));
    });
    let options = VerifyOptions {
        host: Some("hello.example.com".into()),
        ..first_answer_decides()
    };
    let url = format!("https://127.0.0.1:{port}/hello/verify");

    let report = verify(&url, &expect(), &options, &mut Ours, |_, _| {})
        .await
        .unwrap();

    assert!(!report.converged, "no TLS server here: {report}");
    assert_eq!(
        rx.await.unwrap().as_deref(),
        Some("hello.example.com"),
        "SNI"
    );
}
