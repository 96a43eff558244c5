//! local-ecs as a background process for `--local`: started on first use (state under
//! `target/local-ecs`, its endpoint recorded there so later commands reuse it), found again,
//! stopped; and asked where a task's logs are.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::{cargo, output_bytes, project_root};

/// The port local-ecs prefers, so its endpoint stays the same from run to run.
const PREFERRED_PORT: u16 = 4580;

/// A running local-ecs.
#[derive(Debug, Clone)]
pub struct LocalEcs {
    pub endpoint: String,
}

fn endpoint_file(state_dir: &Path) -> PathBuf {
    state_dir.join("endpoint")
}

/// The background local-ecs's process id.
pub fn pid_file(state_dir: &Path) -> PathBuf {
    state_dir.join("local-ecs.pid")
}

fn last_port_file(state_dir: &Path) -> PathBuf {
    state_dir.join("last-port")
}

/// The background local-ecs's own log (stdout and stderr).
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join("local-ecs.log")
}

/// The recorded endpoint, if local-ecs is answering there.
pub fn running(state_dir: &Path) -> Option<LocalEcs> {
    let endpoint = std::fs::read_to_string(endpoint_file(state_dir))
        .ok()?
        .trim()
        .to_owned();
    let addr: SocketAddr = endpoint
        .strip_prefix("http://")?
        .trim_end_matches('/')
        .parse()
        .ok()?;
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    Some(LocalEcs { endpoint })
}

/// Returns the running local-ecs for `state_dir`, starting one in the background if none answers.
pub fn ensure_running(state_dir: &Path, say: &dyn Fn(&str)) -> Result<LocalEcs> {
    if let Some(local) = running(state_dir) {
        return Ok(local);
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("create {}", state_dir.display()))?;
    say("starting local-ecs in the background (cargo build -p local-ecs)");
    let binary = binary()?;
    // The port it had last time (so the endpoint stays put), else the preferred one, else any.
    let last: Option<u16> = std::fs::read_to_string(last_port_file(state_dir))
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let port = last
        .into_iter()
        .chain([PREFERRED_PORT])
        .find(|p| free(*p))
        .unwrap_or(0);
    let _ = std::fs::remove_file(endpoint_file(state_dir));
    let log = std::fs::File::create(log_file(state_dir)).context("create the local-ecs log")?;
    let mut cmd = Command::new(&binary);
    cmd.arg("serve")
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--port")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: Ctrl-C on this terminal must not stop it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    std::fs::write(pid_file(state_dir), child.id().to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(local) = running(state_dir) {
            if let Some(port) = local.endpoint.rsplit(':').next() {
                let _ = std::fs::write(last_port_file(state_dir), port);
            }
            say(&format!(
                "local-ecs serving on {} (state {}, log {})",
                local.endpoint,
                state_dir.display(),
                log_file(state_dir).display()
            ));
            return Ok(local);
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log_file(state_dir)).unwrap_or_default();
            bail!(
                "local-ecs exited ({status}) before serving:\n{}",
                log.trim()
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

/// The local-ecs binary, built by cargo (a no-op when it is up to date).
pub fn binary() -> Result<PathBuf> {
    let status = cargo()
        .args(["build", "--quiet", "-p", "local-ecs"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building local-ecs failed ({status})");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    Ok(target_dir.join("debug").join("local-ecs"))
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

/// Stops the local-ecs of `state_dir` (SIGTERM; it stops its tasks first). True if one ran.
pub fn stop(state_dir: &Path) -> Result<bool> {
    let Ok(pid) = std::fs::read_to_string(pid_file(state_dir)) else {
        return Ok(false);
    };
    let pid = pid.trim().to_owned();
    let alive = |pid: &str| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
    if !alive(&pid) {
        let _ = std::fs::remove_file(pid_file(state_dir));
        return Ok(false);
    }
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(90);
    while alive(&pid) {
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(pid_file(state_dir));
    Ok(true)
}

fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
