//! The binary as a process: configuration errors, logs, and the healthcheck subcommand.

mod common;

use common::{BIN, Server, free_port};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_naming_the_variable() {
    for (var, value) in [
        ("PORT", "not-a-port"),
        ("PORT", "70000"),
        ("SHUTDOWN_TIMEOUT_SECS", "soon"),
        ("RUST_LOG", "info,=[bad"),
        ("GREETING", ""),
    ] {
        let (code, stderr) = run(&[], &[(var, value)]);
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
        assert!(stderr.contains(var), "{var} not named in {stderr:?}");
    }
}

#[test]
fn values_that_are_not_utf8_exit_2_naming_the_variable() {
    use std::os::unix::ffi::OsStrExt;
    let latin1 = std::ffi::OsStr::from_bytes(b"Hall\xe5");
    for var in ["PORT", "GREETING"] {
        let out = Command::new(BIN)
            .env_clear()
            .env("PORT", free_port().to_string())
            .env(var, latin1)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert_eq!(
            stderr.trim(),
            format!("hello-service: invalid {var}: it is not valid UTF-8 (5 bytes)")
        );
    }
    // The healthcheck reads PORT too: a failure (1, as Docker wants), not the default port.
    let out = Command::new(BIN)
        .arg("healthcheck")
        .env_clear()
        .env("PORT", latin1)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid PORT: it is not valid UTF-8"));
}

#[test]
fn a_port_in_use_is_a_clear_runtime_error() {
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .env_clear()
        .env("PORT", &port)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("(PORT)") && stdout.contains(&port),
        "{stdout}"
    );
}

#[test]
fn logs_are_json_lines_and_access_lines_can_be_turned_off() {
    let server = Server::start(&[]);
    server.get("/hello/logs?x=1");
    server.signal("SIGTERM");
    let (_, stdout, _) = server.wait(Duration::from_secs(10));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let startup = lines
        .iter()
        .find(|l| l["message"] == "listening")
        .expect("startup line");
    assert!(
        startup["port"].is_u64() && startup["build"].is_string(),
        "{startup}"
    );
    let access = lines
        .iter()
        .find(|l| l["path"] == "/hello/logs")
        .expect("access line");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["status"], 200);
    assert!(
        access["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{access}"
    );
    assert!(lines.iter().any(|l| l["message"] == "stopped"));

    let server = Server::start(&[("RUST_LOG", "info,access=off")]);
    server.get("/hello/quiet");
    server.signal("SIGTERM");
    let (_, stdout, _) = server.wait(Duration::from_secs(10));
    assert!(stdout.contains("\"listening\""), "{stdout}");
    assert!(!stdout.contains("/hello/quiet"), "{stdout}");
}

#[test]
fn malformed_requests_are_logged_as_client_warnings_not_errors() {
    let server = Server::start(&[]);
    for head in [
        "GET /ping HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        "GARBAGE\r\n\r\n",
        "GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(server.raw(head).status, 400, "{head:?}");
    }
    server.signal("SIGTERM");
    let (_, stdout, _) = server.wait(Duration::from_secs(10));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(
        lines.iter().all(|l| l["level"] != "ERROR"),
        "an ERROR line in {stdout}"
    );
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l["message"] == "client error")
        .collect();
    assert_eq!(warnings.len(), 3, "{stdout}");
    assert!(
        warnings.iter().all(|w| w["target"] == "access"
            && w["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("stream error: request parse error"))),
        "{warnings:?}"
    );
}

#[test]
fn healthcheck_exit_codes() {
    let server = Server::start(&[]);
    let port = server.port.to_string();
    assert_eq!(run(&["healthcheck", "--port", &port], &[]).0, Some(0));
    assert_eq!(
        run(&["healthcheck"], &[("PORT", &port)]).0,
        Some(0),
        "port from PORT"
    );

    let dead = free_port().to_string();
    let (code, stderr) = run(&["healthcheck", "--port", &dead], &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("unhealthy"), "{stderr}");

    // Something answers, but not 200.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sick = listener.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ =
                conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        }
    });
    assert_eq!(run(&["healthcheck", "--port", &sick], &[]).0, Some(1));

    // Accepts, never answers: the 2 s bound holds (here shortened).
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    assert_eq!(
        run(
            &["healthcheck", "--port", &silent_port, "--timeout-ms", "300"],
            &[]
        )
        .0,
        Some(1)
    );
    drop(silent);
}
