//! The `local-ecs serve` command: its announcement line, the endpoint file, a clean stop on
//! SIGTERM, and clear errors for a busy port or an unusable state directory.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_local-ecs");

#[test]
fn serve_announces_itself_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn local-ecs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("local-ecs: serving ECS, ECR, ELBv2 and the registry on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let endpoint = dir.path().join("endpoint");
    assert_eq!(std::fs::read_to_string(&endpoint).unwrap().trim(), url);

    // A second instance on the same state directory is refused.
    let second = Command::new(BIN)
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another local-ecs"), "{stderr}");

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "local-ecs did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(
        !endpoint.exists(),
        "the endpoint file is removed on a clean exit"
    );
}

/// Starts `local-ecs serve` on a fresh state directory with stderr into `log` (not a
/// terminal), waits for its announcement, stops it with SIGTERM and returns what it logged.
fn serve_and_stop_logging_to_a_file(dir: &std::path::Path) -> String {
    let log = dir.join("local-ecs.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(dir.join("state"))
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn local-ecs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("local-ecs: serving"), "{line:?}");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let logged = serve_and_stop_logging_to_a_file(dir.path());
    assert!(logged.contains("local-ecs stopped"), "{logged}");
    assert!(!logged.contains('\x1b'), "ANSI escapes in {logged:?}");
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--port", &port.to_string(), "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")) && stderr.contains("--port"),
        "{stderr}"
    );
}

#[test]
fn an_unusable_state_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(file.join("state"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot create the state directory"),
        "{stderr}"
    );
}

#[test]
fn help_explains_itself() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("--state-dir") && text.contains("--port"),
        "{text}"
    );
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("AWS_ENDPOINT_URL"), "{text}");
}
