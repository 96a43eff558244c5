//! local-ecs as a background process for `--local`: started on first use (state under
//! `target/local-ecs`, its endpoint recorded there so later commands reuse it), found again,
//! stopped; and asked where a task's logs are.
//!
//! Which process serves a state directory is the kernel's answer, not a pid file: local-ecs
//! holds a flock on `DIR/lock` while it runs, and `/proc/locks` names the holder. Its endpoint
//! file is written by local-ecs itself after taking that lock, so it is trusted only while the
//! lock is held. xtask starts local-ecs under `DIR/start.lock`: of two commands starting it at
//! once, one starts it and the other waits and reuses it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Rehearsals: a minute of a blue/green bake, step or hook timeout lasts this many seconds
/// (`local-ecs serve --minute-seconds`).
const MINUTE_SECONDS: u64 = 1;

/// How long one of the service's minutes lasts for `settings`: a second on local-ecs, a
/// minute on AWS.
pub fn minute(settings: &crate::config::Settings) -> std::time::Duration {
    if settings.local.is_some() {
        std::time::Duration::from_secs(MINUTE_SECONDS)
    } else {
        std::time::Duration::from_secs(60)
    }
}

use anyhow::{Context, Result, bail};

use crate::flock;
use crate::util::{cargo, output_bytes};

/// The port local-ecs prefers, so its endpoint stays the same from run to run.
const PREFERRED_PORT: u16 = 4580;

/// Above this size the log is moved to `local-ecs.log.1` (replacing it) at the next start.
const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// How long a local-ecs that holds the directory but does not answer (starting, stopping)
/// is waited for before it is reported.
const SETTLE: Duration = Duration::from_secs(60);

/// A running local-ecs.
#[derive(Debug, Clone)]
pub struct LocalEcs {
    pub endpoint: String,
    /// The process holding the state directory.
    pub pid: u32,
    /// This call started it: its services' tasks are only starting again.
    pub started: bool,
}

fn endpoint_file(state_dir: &Path) -> PathBuf {
    state_dir.join("endpoint")
}

/// local-ecs's own lock: held (flock) while a local-ecs serves from the directory.
fn dir_lock_file(state_dir: &Path) -> PathBuf {
    state_dir.join("lock")
}

/// Held by xtask while it starts or stops local-ecs.
fn start_lock_file(state_dir: &Path) -> PathBuf {
    state_dir.join("start.lock")
}

/// The pid file earlier versions wrote; removed on sight (it went stale).
fn legacy_pid_file(state_dir: &Path) -> PathBuf {
    state_dir.join("local-ecs.pid")
}

fn last_port_file(state_dir: &Path) -> PathBuf {
    state_dir.join("last-port")
}

/// The background local-ecs's own log (stdout and stderr, appended; rotated by size).
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join("local-ecs.log")
}

/// The process holding the state directory (serving, starting or stopping), if any.
pub fn holder(state_dir: &Path) -> Option<u32> {
    flock::holder(&dir_lock_file(state_dir))
}

/// The endpoint in the endpoint file, and its socket address.
pub fn recorded_endpoint(state_dir: &Path) -> Option<(String, SocketAddr)> {
    let endpoint = std::fs::read_to_string(endpoint_file(state_dir))
        .ok()?
        .trim()
        .to_owned();
    let addr = endpoint
        .strip_prefix("http://")?
        .trim_end_matches('/')
        .parse()
        .ok()?;
    Some((endpoint, addr))
}

/// Whether something accepts connections at `addr`.
pub fn answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// The local-ecs serving `state_dir`: a process holds the directory and answers at the
/// endpoint it recorded.
pub fn running(state_dir: &Path) -> Option<LocalEcs> {
    let pid = holder(state_dir)?;
    let (endpoint, addr) = recorded_endpoint(state_dir)?;
    answers(addr).then_some(LocalEcs {
        endpoint,
        pid,
        started: false,
    })
}

/// Returns the running local-ecs for `state_dir`, starting one in the background if none
/// answers. Safe to call from several processes at once: one starts it, the others reuse it.
pub fn ensure_running(state_dir: &Path, say: &dyn Fn(&str)) -> Result<LocalEcs> {
    if let Some(local) = running(state_dir) {
        return Ok(local);
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("create {}", state_dir.display()))?;
    let _starting = flock::lock(&start_lock_file(state_dir), &|pid| {
        say(&format!(
            "waiting for {} to start or stop local-ecs",
            pid.map_or("another xtask".into(), |pid| format!("pid {pid}"))
        ))
    })?;
    if let Some(local) = settle(state_dir, say)? {
        return Ok(local);
    }
    repair(state_dir, say);
    start(state_dir, say)
}

/// With the start lock held: the local-ecs that holds the directory once it answers, or `None`
/// once no process holds it. One that holds it without answering (starting, stopping) is
/// waited for; one that never answers is an error saying how to stop it.
fn settle(state_dir: &Path, say: &dyn Fn(&str)) -> Result<Option<LocalEcs>> {
    let deadline = Instant::now() + SETTLE;
    let mut told = false;
    loop {
        if let Some(local) = running(state_dir) {
            return Ok(Some(local));
        }
        let Some(pid) = holder(state_dir) else {
            return Ok(None);
        };
        if !told {
            say(&format!(
                "local-ecs (pid {pid}) holds {} but does not answer yet (starting or stopping); waiting",
                state_dir.display()
            ));
            told = true;
        }
        if Instant::now() > deadline {
            bail!(
                "local-ecs (pid {pid}) holds {} but has not answered for {} s; its log is {}; \
                 stop it with `cargo xtask local down`",
                state_dir.display(),
                SETTLE.as_secs(),
                log_file(state_dir).display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// With no process holding the directory, an endpoint or pid file left there is stale
/// (local-ecs was killed): remove it, so nothing reads it.
fn repair(state_dir: &Path, say: &dyn Fn(&str)) {
    for (file, what) in [
        (endpoint_file(state_dir), "endpoint"),
        (legacy_pid_file(state_dir), "pid"),
    ] {
        if std::fs::remove_file(&file).is_ok() {
            say(&format!(
                "removed a stale {what} file ({}): no local-ecs holds {}",
                file.display(),
                state_dir.display()
            ));
        }
    }
}

/// Starts local-ecs (the start lock held, no process holding the directory) and waits until it
/// answers.
fn start(state_dir: &Path, say: &dyn Fn(&str)) -> Result<LocalEcs> {
    say("starting local-ecs in the background (cargo build -p local-ecs)");
    let binary = binary()?;
    // The port it had last time (so the endpoint stays put), else the preferred one, else any.
    let last: Option<u16> = std::fs::read_to_string(last_port_file(state_dir))
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let free = |port: &u16| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok();
    let mut ports: Vec<u16> = last
        .into_iter()
        .chain([PREFERRED_PORT])
        .filter(free)
        .collect();
    ports.dedup();
    ports.push(0);
    let mut local = None;
    for port in ports {
        match spawn_serving(state_dir, &binary, port) {
            // Another stack starting at the same moment took the port after it looked free.
            Err(err) if port != 0 && format!("{err:#}").contains(PORT_TAKEN) => {
                say(&format!("port {port} was taken meanwhile; trying another"));
            }
            result => {
                local = Some(result?);
                break;
            }
        }
    }
    let mut local = local.context("local-ecs found no port to listen on")?;
    local.started = true;
    if let Some(port) = local.endpoint.rsplit(':').next() {
        let _ = std::fs::write(last_port_file(state_dir), port);
    }
    say(&format!(
        "local-ecs serving on {} (pid {}, state {}, log {})",
        local.endpoint,
        local.pid,
        state_dir.display(),
        log_file(state_dir).display()
    ));
    Ok(local)
}

/// What the OS says when a port is in use (EADDRINUSE), as local-ecs's start error quotes it.
const PORT_TAKEN: &str = "Address already in use";

/// Runs `local-ecs serve` on `port` (0: any) and waits until it answers.
fn spawn_serving(state_dir: &Path, binary: &Path, port: u16) -> Result<LocalEcs> {
    let (log, log_start) = open_log(state_dir)?;
    let mut cmd = Command::new(binary);
    cmd.arg("serve")
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--port")
        .arg(port.to_string())
        // Rehearsals: a minute of a blue/green bake, step or hook timeout lasts a second.
        .args(["--minute-seconds", &MINUTE_SECONDS.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: Ctrl-C on this terminal must not stop it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    wait_serving(state_dir, child, log_start)
}

/// Waits for the started local-ecs to answer; if it exits first, its part of the log is the
/// error.
fn wait_serving(state_dir: &Path, mut child: Child, log_start: u64) -> Result<LocalEcs> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(local) = running(state_dir) {
            return Ok(local);
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "local-ecs exited ({status}) before serving:\n{}",
                log_since(&log_file(state_dir), log_start).trim()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "local-ecs did not start within 60 s; see {}",
                log_file(state_dir).display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens the log for appending (rotated first when large), marks this start in it, and
/// returns it with the offset this start's output begins at.
fn open_log(state_dir: &Path) -> Result<(std::fs::File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = log_file(state_dir);
    rotate_if_larger(&path, LOG_ROTATE_BYTES)?;
    let mut log = std::fs::File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("open the local-ecs log {}", path.display()))?;
    let start = log.metadata()?.len();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    writeln!(log, "---- local-ecs starting at {now} ----")?;
    Ok((log, start))
}

/// Moves `path` to `PATH.1` (replacing an older one) when it is larger than `limit` bytes.
fn rotate_if_larger(path: &Path, limit: u64) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > limit) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        std::fs::rename(path, &old).with_context(|| format!("rotate {}", path.display()))?;
    }
    Ok(())
}

/// The text of `path` from byte `offset` on.
fn log_since(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// Runs this local-ecs binary instead of building one (the end-to-end tests pass the one
/// `cargo test --workspace` built: a `-p local-ecs` build resolves features on its own and
/// recompiles dozens of dependencies).
pub const BINARY_ENV: &str = "LOCAL_ECS_BINARY";

/// The local-ecs binary: [`BINARY_ENV`]'s, else built by cargo (a no-op when up to date).
pub fn binary() -> Result<PathBuf> {
    if let Some(given) = std::env::var_os(BINARY_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(given);
        if !path.is_file() {
            bail!(
                "{BINARY_ENV} names {}, which is not a file: unset it to build local-ecs",
                path.display()
            );
        }
        return Ok(path);
    }
    let status = cargo()
        .args(["build", "--quiet", "-p", "local-ecs"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building local-ecs failed ({status})");
    }
    Ok(crate::util::target_dir().join("debug").join("local-ecs"))
}

/// The container logs of `task` (id or ARN) as (container, path): local-ecs owns the layout
/// of its state directory, so it is asked (`local-ecs task-logs`).
pub fn task_log_paths(
    binary: &Path,
    state_dir: &Path,
    task: &str,
) -> Result<Vec<(String, PathBuf)>> {
    let stdout = output_bytes(
        Command::new(binary)
            .arg("task-logs")
            .arg("--state-dir")
            .arg(state_dir)
            .arg(task),
    )?;
    Ok(parse_task_logs(&stdout))
}

/// `CONTAINER<TAB>PATH` lines, the path as raw bytes.
fn parse_task_logs(stdout: &[u8]) -> Vec<(String, PathBuf)> {
    use std::os::unix::ffi::OsStrExt;
    stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let tab = line.iter().position(|b| *b == b'\t')?;
            let container = String::from_utf8_lossy(&line[..tab]).into_owned();
            let path = std::ffi::OsStr::from_bytes(&line[tab + 1..]);
            Some((container, PathBuf::from(path)))
        })
        .collect()
}

/// Stops the local-ecs holding `state_dir`, whoever started it (SIGTERM; it stops its tasks
/// first; SIGKILL after 90 s). True if one ran. Stale endpoint and pid files are removed.
pub fn stop(state_dir: &Path) -> Result<bool> {
    if !state_dir.exists() {
        return Ok(false);
    }
    // No start begins while this one stops.
    let _stopping = flock::lock(&start_lock_file(state_dir), &|_| {})?;
    let Some(pid) = holder(state_dir) else {
        repair(state_dir, &|_| {});
        return Ok(false);
    };
    let process = pid;
    let pid = pid.to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut killed = false;
    // Its lock is released when it exits (a zombie holds no files).
    while holder(state_dir).is_some() {
        if Instant::now() > deadline && !killed {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            killed = true;
        }
        if Instant::now() > deadline + Duration::from_secs(10) {
            bail!("local-ecs (pid {pid}) did not exit after SIGKILL");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The lock can be released a moment before the process is gone (on a busy machine, long
    // enough to see): "stopped" means gone. Bounded, and never a signal on this pid alone (it
    // could be another process's by now).
    let gone_by = Instant::now() + Duration::from_secs(5);
    while process_exists(process) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(20));
    }
    repair(state_dir, &|_| {});
    Ok(true)
}

/// Whether process `pid` exists and has not exited (a zombie has: only its parent's wait is
/// left).
fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_exists_until_it_has_exited() {
        assert!(process_exists(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not yet waited for: a zombie, gone as far as `local down` cares.
        while process_exists(pid) {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!process_exists(pid));
    }

    #[test]
    fn task_logs_are_read_as_container_and_path_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let mut stdout =
            b"hello-ecs\t/state/tasks/abc/hello-ecs.log\nside\t/st\tate/\xff.log\n".to_vec();
        stdout.extend_from_slice(b"no tab here\n");
        let logs = parse_task_logs(&stdout);
        assert_eq!(logs.len(), 2, "{logs:?}");
        assert_eq!(logs[0].0, "hello-ecs");
        assert_eq!(logs[0].1, Path::new("/state/tasks/abc/hello-ecs.log"));
        assert_eq!(logs[1].0, "side");
        assert_eq!(logs[1].1.as_os_str().as_bytes(), b"/st\tate/\xff.log");
        assert!(parse_task_logs(b"").is_empty());
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-local-ecs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_log_is_appended_and_rotated_by_size() {
        let dir = temp_dir("log");
        let path = log_file(&dir);
        std::fs::write(&path, "first run\n").unwrap();
        let (mut log, start) = open_log(&dir).unwrap();
        writeln!(log, "second run").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("first run\n---- local-ecs starting at "),
            "{text}"
        );
        assert!(
            log_since(&path, start).ends_with("----\nsecond run\n"),
            "{text}"
        );
        assert!(!log_since(&path, start).contains("first run"));

        rotate_if_larger(&path, 1_000).unwrap();
        assert!(path.exists(), "a small log stays");
        rotate_if_larger(&path, 10).unwrap();
        assert!(!path.exists());
        let old = dir.join("local-ecs.log.1");
        assert_eq!(std::fs::read_to_string(&old).unwrap(), text);
        // The next rotation replaces the old file: one is kept.
        std::fs::write(&path, "third run, a long line\n").unwrap();
        rotate_if_larger(&path, 10).unwrap();
        assert_eq!(
            std::fs::read_to_string(&old).unwrap(),
            "third run, a long line\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_endpoint_file_without_a_lock_holder_is_stale_and_repaired() {
        let dir = temp_dir("stale");
        // Something answers at the recorded endpoint, but no local-ecs holds the directory.
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", other.local_addr().unwrap());
        std::fs::write(endpoint_file(&dir), format!("{endpoint}\n")).unwrap();
        std::fs::write(legacy_pid_file(&dir), "999999999").unwrap();
        assert!(recorded_endpoint(&dir).is_some());
        assert!(
            running(&dir).is_none(),
            "an unheld directory serves nothing"
        );

        // Holding the directory's lock (as local-ecs does) makes the endpoint trusted.
        let held = flock::try_lock(&dir_lock_file(&dir))
            .unwrap()
            .expect("free");
        let local = running(&dir).expect("held and answering");
        assert_eq!(
            (local.endpoint.as_str(), local.pid),
            (endpoint.as_str(), std::process::id())
        );
        drop(held);

        let said = std::cell::RefCell::new(Vec::new());
        repair(&dir, &|line| said.borrow_mut().push(line.to_owned()));
        assert!(!endpoint_file(&dir).exists() && !legacy_pid_file(&dir).exists());
        assert_eq!(said.borrow().len(), 2, "{said:?}");
        assert!(said.borrow()[0].contains("stale endpoint file"), "{said:?}");
        assert!(!stop(&dir).unwrap(), "nothing to stop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
