//! `cargo xtask … | head -1`: a command whose stdout reader has gone away exits quietly — no
//! "failed printing to stdout: Broken pipe" panic.

use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let state = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // `local status` with nothing running prints a line to stdout and needs no network.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["local", "--state-dir"])
        .arg(state.path())
        .arg("status")
        .stdin(Stdio::null())
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    // 0 when the line is dropped, 141 (as if killed by SIGPIPE) when a `println!` panicked
    // and main's hook ended the process; never 101 (a panic).
    assert!(
        matches!(out.status.code(), Some(0 | 141)),
        "{:?}",
        out.status
    );
}
