//! A load-balancer listener closes slow and idle client connections after its idle timeout
//! (an ALB's 60 s; a short one here), instead of holding them open forever.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::sdk_config;
use local_ecs::{Config, LocalEcs, Running};

const IDLE: Duration = Duration::from_millis(400);

/// local-ecs with a short listener idle timeout and a listener (no targets: it answers 503);
/// returns the listener's port.
async fn listener() -> (Running, tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path()).with_port(0);
    config.timing.listener_idle_timeout = IDLE;
    let running = LocalEcs::start(config).await.expect("start local-ecs");
    let sdk = sdk_config(running.endpoint(), "us-east-1", running.credentials()).await;
    let spec = local_stack::StackSpec {
        cluster: "idle".into(),
        target_group: "idle-tg".into(),
        target_type: aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip,
        target_port: 8080,
        health_check_path: "/ping".into(),
        deregistration_delay_secs: 0,
        load_balancer: "idle-alb".into(),
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        listener_port: 80,
    };
    let stack = local_stack::ensure_stack(
        &aws_sdk_ecs::Client::new(&sdk),
        &aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
        &spec,
        &|_| {},
    )
    .await
    .expect("stand up the stack");
    (running, dir, stack.listener_port)
}

/// Reads until the server closes the connection; what it sent. Fails (after 30 s) if it never
/// does.
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the listener kept the connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_request_header_is_closed_after_the_idle_timeout() {
    let (running, _dir, port) = listener().await;
    let took = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let started = Instant::now();
        stream
            .write_all(b"GET /hello/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .unwrap();
        let answer = read_until_closed(&mut stream);
        assert!(!answer.contains("200"), "{answer}");
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(took >= IDLE, "closed after {took:?}, before the timeout");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (running, _dir, port) = listener().await;
    let (answer, took) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let sent = Instant::now();
        (read_until_closed(&mut stream), sent.elapsed())
    })
    .await
    .unwrap();
    // The request was answered (no targets: 503) and the connection kept alive until idle.
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(took >= IDLE, "closed after {took:?}, before the timeout");
    running.shutdown().await;
}
