//! What keeps a `--local` deploy sound on a shared local-ecs: one deploy of a service at a
//! time (a lock file in the state directory; the second waits, saying for whom), and a
//! watchdog that ends the deploy when local-ecs stops answering, instead of retrying it for
//! the whole `--timeout`. On AWS neither applies: transient errors are retried as before.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::Settings;
use crate::failure::Failure;
use crate::flock;
use crate::local_ecs::{holder, log_file, recorded_endpoint};

/// How long local-ecs's endpoint may refuse connections before a deploy gives up on it.
const DEAD_AFTER: Duration = Duration::from_secs(10);

/// How often the watchdog looks (and how often a waiting deploy retries the lock).
const TICK: Duration = Duration::from_secs(1);

/// Held for the whole of a `--local` deploy of one service (nothing on AWS).
#[derive(Debug)]
pub struct DeployLock(#[allow(dead_code)] Option<flock::Held>);

fn deploy_lock_file(state_dir: &Path, settings: &Settings) -> PathBuf {
    state_dir.join(format!(
        "deploy-{}-{}.lock",
        settings.cluster, settings.service
    ))
}

/// With `--local`: takes the service's deploy lock, first waiting for a deploy of the same
/// service by another process to end (said once, naming its pid). On AWS: nothing to take.
pub async fn lock_deploy(settings: &Settings, say: &dyn Fn(&str)) -> Result<DeployLock> {
    let Some(state_dir) = &settings.local else {
        return Ok(DeployLock(None));
    };
    let path = deploy_lock_file(state_dir, settings);
    let mut told = false;
    loop {
        if let Some(held) = flock::try_lock(&path)? {
            if told {
                say("the other deploy ended; going on");
            }
            return Ok(DeployLock(Some(held)));
        }
        if !told {
            let by =
                flock::holder(&path).map_or("another process".into(), |pid| format!("pid {pid}"));
            say(&format!(
                "waiting for the deploy of {}/{} by {by}…",
                settings.cluster, settings.service
            ));
            told = true;
        }
        tokio::time::sleep(TICK / 4).await;
    }
}

/// Runs `work` (a deploy). With `--local`, a watchdog checks local-ecs's endpoint each second
/// once it has answered, and ends `work` with an error naming local-ecs's log when it has
/// refused connections for [`DEAD_AFTER`]; an error `work` ends with while local-ecs is gone
/// says so too.
pub async fn watch_local<T>(
    settings: &Settings,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(state_dir) = &settings.local else {
        return work.await;
    };
    let result = tokio::select! {
        result = work => result,
        err = watchdog(state_dir) => Err(err),
    };
    result.map_err(|err| {
        let gone = err.downcast_ref::<Failure>().is_none() && holder(state_dir).is_none();
        if gone && state_dir.join("lock").exists() {
            // A Failure of its own (not context): the exit code is 1 whatever the last call
            // saw — e.g. "access denied" from another stack's local-ecs that took the port.
            Failure::deploy(format!("{}: {err:#}", exited(state_dir))).into()
        } else {
            err
        }
    })
}

fn exited(state_dir: &Path) -> String {
    format!(
        "local-ecs exited; its log is {}",
        log_file(state_dir).display()
    )
}

/// Returns the error to end the deploy with once local-ecs has stopped answering.
async fn watchdog(state_dir: &Path) -> anyhow::Error {
    let mut endpoint: Option<(String, SocketAddr)> = None;
    let mut watch = Watch::default();
    loop {
        tokio::time::sleep(TICK).await;
        let Some((url, addr)) = &endpoint else {
            // Armed once local-ecs answers (the deploy may still be starting it).
            if let Some(found) = recorded_endpoint(state_dir)
                && holder(state_dir).is_some()
                && connects(found.1).await
            {
                endpoint = Some(found);
            }
            continue;
        };
        let answered = connects(*addr).await;
        if !watch.dead(answered, Instant::now()) {
            continue;
        }
        let why = match holder(state_dir) {
            None => exited(state_dir),
            Some(pid) => format!(
                "local-ecs (pid {pid}) stopped answering; its log is {}",
                log_file(state_dir).display()
            ),
        };
        return Failure::deploy(format!(
            "{why} (nothing accepted a connection at {url} for {} s; `cargo xtask local up` \
             starts it again)",
            DEAD_AFTER.as_secs()
        ))
        .into();
    }
}

async fn connects(addr: SocketAddr) -> bool {
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(Duration::from_millis(500), connect).await,
        Ok(Ok(_))
    )
}

/// How long the endpoint has refused connections.
#[derive(Debug, Default)]
struct Watch {
    down_since: Option<Instant>,
}

impl Watch {
    /// Records one look; true once it has refused for [`DEAD_AFTER`] without a break.
    fn dead(&mut self, answered: bool, now: Instant) -> bool {
        if answered {
            self.down_since = None;
            return false;
        }
        now.duration_since(*self.down_since.get_or_insert(now)) >= DEAD_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ecs_is_dead_after_ten_seconds_of_refusals_without_a_break() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut watch = Watch::default();
        assert!(!watch.dead(true, at(0)));
        assert!(!watch.dead(false, at(1)));
        assert!(!watch.dead(false, at(10)));
        // It answered again (restarted): the count starts over.
        assert!(!watch.dead(true, at(11)));
        assert!(!watch.dead(false, at(12)));
        assert!(!watch.dead(false, at(21)));
        assert!(watch.dead(false, at(22)));
    }

    fn settings(state_dir: &Path) -> Settings {
        Settings {
            local: Some(state_dir.to_owned()),
            ..crate::config::TargetArgs::default().resolve().unwrap()
        }
    }

    #[tokio::test]
    async fn a_second_deploy_of_a_service_waits_for_the_first() {
        let dir = std::env::temp_dir().join(format!("xtask-deploy-lock-{}", std::process::id()));
        let settings = settings(&dir);
        let first = lock_deploy(&settings, &|_| {}).await.unwrap();
        // Another service is not held up.
        let other = Settings {
            service: "other".into(),
            ..settings.clone()
        };
        let _other = lock_deploy(&other, &|_| {}).await.unwrap();
        let said = std::sync::Mutex::new(Vec::<String>::new());
        let say = |line: &str| said.lock().unwrap().push(line.to_owned());
        let waiting = lock_deploy(&settings, &say);
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(600), &mut waiting)
                .await
                .is_err(),
            "the second deploy must wait"
        );
        drop(first);
        let _second = waiting.await.unwrap();
        let said = said.lock().unwrap().clone();
        let pid = std::process::id();
        assert_eq!(
            said[0],
            format!("waiting for the deploy of dev-cluster/hello-ecs by pid {pid}…")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_error_after_local_ecs_exited_says_so_and_exits_1_whatever_the_call_saw() {
        let dir = tempfile::tempdir().unwrap();
        // local-ecs ran here (its directory lock file exists) and no process holds it now.
        std::fs::write(dir.path().join("lock"), "").unwrap();
        let settings = settings(dir.path());
        // What a call gets from another stack's local-ecs that took the port: a usage error.
        let work = async {
            Err::<(), _>(anyhow::Error::from(deploy_sdk::Error::AccessDenied {
                action: "ecs:DescribeServices".into(),
                message: "The security token included in the request is invalid.".into(),
            }))
        };
        let err = watch_local(&settings, work).await.unwrap_err();
        assert_eq!(crate::failure::exit_code(&err), crate::failure::DEPLOY);
        let text = format!("{err:#}");
        assert!(text.starts_with("local-ecs exited; its log is "), "{text}");
        assert!(text.contains("ecs:DescribeServices"), "{text}");
    }

    #[tokio::test]
    async fn on_aws_nothing_is_locked_or_watched() {
        let settings = crate::config::TargetArgs::default().resolve().unwrap();
        assert!(lock_deploy(&settings, &|_| {}).await.unwrap().0.is_none());
        let result: Result<u8> = watch_local(&settings, async { Ok(7) }).await;
        assert_eq!(result.unwrap(), 7);
    }
}
