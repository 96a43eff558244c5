//! The local stack's lifecycle under stress, the way a user meets it: commands racing to start
//! local-ecs, files left behind by a killed local-ecs, two deploys at once, and local-ecs dying
//! in the middle of a deploy. Each test has a state directory of its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::{Run, greeting_at};

/// A state directory of its own; local-ecs (and any task it left) is stopped when dropped.
struct Stack {
    state_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Stack {
    fn new() -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        Stack {
            state_dir: dir.path().join("local-ecs"),
            _dir: dir,
        }
    }

    /// `cargo xtask ARGS` against this state directory, plain progress.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = tests::xtask_command(args);
        cmd.env("DEPLOY_LOCAL_STATE_DIR", &self.state_dir);
        cmd
    }

    fn xtask(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run cargo xtask").into()
    }

    fn deploy(&self, greeting: &str) -> Run {
        self.xtask(&[
            "deploy",
            "--local",
            "--output",
            "json",
            "--env",
            &format!("GREETING={greeting}"),
        ])
    }

    /// The pid `local status` names, if it says local-ecs is running.
    fn status_pid(&self) -> Option<u32> {
        // Without a deployed service it exits 2 after the local-ecs line: only that line counts.
        let status = self.xtask(&["local", "status"]);
        let line = status
            .stdout
            .lines()
            .find(|l| l.starts_with("local-ecs: "))?;
        let pid = line.split("(pid ").nth(1)?.split(',').next()?;
        Some(pid.parse().expect("a pid"))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.xtask(&["local", "down"]);
        kill_tasks_under(&self.state_dir);
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim().starts_with('Z'))
        })
}

fn kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -KILL {pid}");
}

/// Task processes a SIGKILLed local-ecs left running (their binaries are under its state).
fn kill_tasks_under(state_dir: &Path) {
    let Ok(dir) = state_dir.canonicalize() else {
        return;
    };
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let exe = std::fs::read_link(entry.path().join("exe"));
        if exe.is_ok_and(|exe| exe.starts_with(&dir))
            && let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>()
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// `local up` from three commands at once starts one local-ecs, which all three report; after
/// a SIGKILL its endpoint file is stale (and a foreign program answers there): `local status`
/// says so and `local up` repairs it; `local down` stops what holds the directory.
#[test]
fn racing_starts_make_one_local_ecs_and_stale_files_are_repaired() {
    let stack = Stack::new();
    let ups: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| stack.xtask(&["local", "up"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let endpoints: Vec<&str> = ups
        .iter()
        .map(|up| {
            assert_eq!(up.code, Some(0), "{ups:#?}");
            up.stdout
                .lines()
                .find_map(|l| l.strip_prefix("local-ecs: "))
                .unwrap_or_else(|| panic!("no endpoint:\n{}", up.stdout))
        })
        .collect();
    assert!(
        endpoints.iter().all(|e| *e == endpoints[0]),
        "{endpoints:?}"
    );
    let started: usize = ups
        .iter()
        .map(|up| up.stdout.matches("local-ecs serving on").count())
        .sum();
    assert_eq!(started, 1, "exactly one command starts it: {ups:#?}");
    let pid = stack.status_pid().expect("local status sees it");
    assert!(alive(pid));

    // Killed: its endpoint file stays, and another program takes the port's place elsewhere.
    kill(pid);
    while alive(pid) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let foreign = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let foreign_url = format!("http://{}", foreign.local_addr().unwrap());
    std::fs::write(stack.state_dir.join("endpoint"), &foreign_url).unwrap();
    std::fs::write(stack.state_dir.join("local-ecs.pid"), "999999999").unwrap();
    assert_eq!(
        stack.status_pid(),
        None,
        "a killed local-ecs is not running"
    );

    let up = stack.xtask(&["local", "up"]);
    assert_eq!(up.code, Some(0), "{}\n{}", up.stdout, up.stderr);
    assert!(
        up.stdout.contains("removed a stale endpoint file"),
        "{}",
        up.stdout
    );
    assert!(!stack.state_dir.join("local-ecs.pid").exists());
    let endpoint = std::fs::read_to_string(stack.state_dir.join("endpoint")).unwrap();
    assert_ne!(endpoint.trim(), foreign_url);
    let pid = stack.status_pid().expect("running again");
    // The log kept the first run's lines (appended, not truncated).
    let log = std::fs::read_to_string(stack.state_dir.join("local-ecs.log")).unwrap();
    assert_eq!(
        log.matches("---- local-ecs starting at").count(),
        2,
        "{log}"
    );

    let down = stack.xtask(&["local", "down"]);
    assert!(down.stdout.contains("local-ecs stopped"), "{}", down.stdout);
    assert!(!alive(pid));
    assert_eq!(stack.status_pid(), None);
}

/// Two first deploys at once (local-ecs not running): one starts local-ecs, the other waits
/// for it and then for the first deploy; both deploy, the last record is the second's, and
/// `local status` and `local down` see the one local-ecs.
#[test]
fn two_concurrent_first_deploys_leave_one_healthy_stack() {
    let stack = Stack::new();
    let down = stack.xtask(&["local", "down"]);
    assert!(down.stdout.contains("not running"), "{}", down.stdout);
    let runs: Vec<Run> = std::thread::scope(|s| {
        let a = s.spawn(|| stack.deploy("one"));
        let b = s.spawn(|| stack.deploy("two"));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for run in &runs {
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    }
    let started: usize = runs
        .iter()
        .map(|r| r.stderr.matches("local-ecs serving on").count())
        .sum();
    assert_eq!(started, 1, "one local-ecs: {runs:#?}");
    let waited: Vec<usize> = (0..2)
        .filter(|i| {
            runs[*i]
                .stderr
                .contains("waiting for the deploy of dev-cluster/hello-ecs by pid")
        })
        .collect();
    assert_eq!(waited.len(), 1, "one deploy waits for the other: {runs:#?}");
    let (second, first) = (runs[waited[0]].report(), runs[1 - waited[0]].report());
    // The second deploy went from the first's revision, and the record names it.
    assert_eq!(second["old_task_definition"], first["new_task_definition"]);
    let record = std::fs::read_to_string(
        stack
            .state_dir
            .join("last-deploy-dev-cluster-hello-ecs.json"),
    )
    .unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["task_definition"], second["new_task_definition"]);
    assert_eq!(
        record["previous_task_definition"],
        first["new_task_definition"]
    );
    let url = second["url"].as_str().expect("url in the report");
    assert_eq!(greeting_at(url), ["one", "two"][waited[0]]);

    let pid = stack.status_pid().expect("local status sees the stack");
    let down = stack.xtask(&["local", "down"]);
    assert!(down.stdout.contains("local-ecs stopped"), "{}", down.stdout);
    assert!(!alive(pid), "local down stopped pid {pid}");
    assert_eq!(stack.status_pid(), None);
}

/// local-ecs SIGKILLed while a deploy rolls: the deploy ends with exit 1 naming local-ecs's
/// log, long before its --timeout (the watchdog gives up after 10 s of refused connections).
#[test]
fn local_ecs_killed_mid_deploy_ends_the_deploy_naming_its_log() {
    let stack = Stack::new();
    let mut child = stack
        .command(&[
            "deploy",
            "--local",
            "--output",
            "json",
            "--timeout",
            "120",
            "--env",
            "GREETING=x",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the deploy");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let mut stderr = Vec::new();
    let mut pid = None;
    let mut killed_at = None;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap_or_default();
        if let Some(rest) = line.split("local-ecs serving on ").nth(1) {
            pid = rest
                .split("(pid ")
                .nth(1)
                .and_then(|p| p.split(',').next()?.parse().ok());
        }
        if killed_at.is_none() && line.contains("] roll: ") {
            let pid: u32 = pid.unwrap_or_else(|| panic!("no local-ecs pid in:\n{stderr:#?}"));
            kill(pid);
            killed_at = Some(Instant::now());
        }
        stderr.push(line);
    }
    let status = child.wait().unwrap();
    let took = killed_at
        .unwrap_or_else(|| panic!("the deploy never rolled:\n{}", stderr.join("\n")))
        .elapsed();
    let run = Run {
        code: status.code(),
        stdout: reader.join().unwrap(),
        stderr: stderr.join("\n"),
    };
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        took < Duration::from_secs(60),
        "took {took:?} after the kill"
    );
    let error = run.report()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let log = stack.state_dir.join("local-ecs.log");
    assert!(
        error.contains(&format!("local-ecs exited; its log is {}", log.display())),
        "{error}"
    );
}
