//! Starts every child process from one long-lived thread.
//!
//! Children get `PR_SET_PDEATHSIG(SIGKILL)`, so no task outlives a crashed local-ecs. Linux
//! sends that signal when the *thread* that forked the child exits, not the process: forking
//! from tokio's short-lived blocking threads would kill tasks at random. This thread lives
//! exactly as long as local-ecs wants its children alive.

use std::io;
use std::sync::Mutex;
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

struct Job {
    command: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// The process-starting thread.
#[derive(Debug)]
pub struct Launcher {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Launcher {
    /// Starts the thread; children are registered with the tokio runtime of `handle`.
    pub fn start(handle: tokio::runtime::Handle) -> io::Result<Launcher> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("local-ecs-launcher".into())
            .spawn(move || {
                let _runtime = handle.enter();
                for mut job in rx {
                    let _ = job.reply.send(job.command.spawn());
                }
            })?;
        Ok(Launcher {
            jobs: Mutex::new(Some(tx)),
        })
    }

    /// Spawns `command` in its own process group, to be killed if local-ecs dies.
    pub async fn spawn(&self, mut command: Command) -> io::Result<Child> {
        let parent = std::process::id();
        command.process_group(0).kill_on_drop(false);
        // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("local-ecs exited while starting the task"));
                }
                Ok(())
            });
        }
        let (reply, answer) = oneshot::channel();
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs
                .as_ref()
                .map(|tx| tx.send(Job { command, reply }).is_ok())
                .unwrap_or(false),
            Err(_) => false,
        };
        if !sent {
            return Err(io::Error::other("local-ecs is shutting down"));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the launcher thread has stopped")))
    }

    /// Stops the thread; children still running then get SIGKILL.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}

/// Sends `signal` to a process (or, with a negative pid, its process group).
pub fn signal(pid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory effects.
    unsafe {
        libc::kill(pid, signal);
    }
}
