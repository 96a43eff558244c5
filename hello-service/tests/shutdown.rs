//! The drain ECS relies on: SIGTERM (or Ctrl-C) lets in-flight requests finish, refuses new
//! connections at once, closes idle keep-alive connections, and exits 0.

mod common;

use common::{Server, request};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn drain_with(signal: &str) {
    let server = Server::start(&[]);
    let addr = server.addr();

    // An idle keep-alive connection, as a load balancer keeps them.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let in_flight = std::thread::spawn(move || {
        request(
            addr,
            "GET /slow/1500 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    server.signal(signal);

    // New connections are refused promptly.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => break,
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "still accepting connections after {signal}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    // The idle connection is closed by the server, well before the 20 s drain timeout.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        idle.read(&mut buf)
            .expect("idle connection closed, not timed out"),
        0
    );

    let resp = in_flight
        .join()
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, "slept 1500 ms\n");

    let (status, stdout, _) = server.wait(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "exit status after {signal}");
    assert!(
        stdout.contains(&format!("\"signal\":\"{signal}\"")),
        "{stdout}"
    );
    assert!(stdout.contains("\"message\":\"stopped\""), "{stdout}");
}

#[test]
fn sigterm_drains_and_exits_zero() {
    drain_with("SIGTERM");
}

#[test]
fn sigint_drains_too() {
    drain_with("SIGINT");
}

#[test]
fn drain_is_bounded_by_the_shutdown_timeout() {
    let server = Server::start(&[("SHUTDOWN_TIMEOUT_SECS", "1")]);
    let addr = server.addr();
    let stuck = std::thread::spawn(move || {
        request(
            addr,
            "GET /slow/30000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    server.signal("SIGTERM");
    // Well under the 30 s the request wanted: the drain gave up after about 1 s.
    let (status, _, _) = server.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(
        stuck.join().unwrap().is_err(),
        "the stuck request was cut off, not answered"
    );
}
