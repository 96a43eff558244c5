//! The state directory: the control-plane state file, the registry's content-addressed
//! blobs, and per-task logs and root filesystems.
//!
//! The directory is 0700 and every file local-ecs writes here 0600: `state.json` holds registry
//! passwords and `credentials.json` the API's secret key.
//!
//! ```text
//! DIR/credentials.json               the access key the API verifies signatures against
//! DIR/state.json                     definitions, services, repositories, ELB resources
//! DIR/lock                           held (flock) while a local-ecs serves from DIR
//! DIR/endpoint                       the API URL, while serving
//! DIR/registry/blobs/sha256/HEX      blobs and manifests, named by their digest
//! DIR/registry/uploads/UUID          uploads in progress
//! DIR/tasks/TASK_ID/CONTAINER.log    each container's stdout and stderr
//! DIR/tasks/TASK_ID/rootfs/CONTAINER the unpacked image, removed when the task stops
//! ```

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use oci_spec::image::{Digest, DigestAlgorithm};

use crate::credentials::Credentials;
use crate::private_files::{
    FILE_MODE, create_private, create_private_dir, make_private, write_private,
};
use crate::state::State;

/// An opened, locked state directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Held open for its flock: one local-ecs per state directory.
    lock: std::sync::Mutex<Option<File>>,
    /// The only key the API accepts.
    credentials: Credentials,
}

impl Store {
    /// Creates (if needed) and locks the state directory, makes it private (an existing one
    /// is tightened to 0700, its files to 0600) and loads or generates its credentials.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        create_private_dir(dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve the state directory {}", dir.display()))?;
        make_private(&dir, true)?;
        for sub in ["registry/blobs/sha256", "registry/uploads", "tasks"] {
            create_private_dir(&dir.join(sub)).with_context(|| {
                format!(
                    "the state directory {} is not writable (creating {sub})",
                    dir.display()
                )
            })?;
        }
        let lock_path = dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        if !lock_within(&lock, LOCK_WAIT) {
            bail!(
                "the state directory {} is in use by another local-ecs; stop it or choose \
                 another --state-dir",
                dir.display()
            );
        }
        // Uploads in progress do not survive a restart.
        let _ = std::fs::remove_dir_all(dir.join("registry/uploads"));
        create_private_dir(&dir.join("registry/uploads"))?;
        tighten(&dir)?;
        let credentials = Credentials::load_or_create(&dir)?;
        Ok(Store {
            dir,
            lock: std::sync::Mutex::new(Some(lock)),
            credentials,
        })
    }

    /// The access key the API verifies signatures against.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Writes the endpoint file (0600).
    pub fn write_endpoint(&self, endpoint: &str) -> std::io::Result<()> {
        write_private(&self.endpoint_file(), format!("{endpoint}\n").as_bytes())
    }

    /// Releases the directory for another local-ecs (at shutdown).
    pub fn release(&self) {
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Reads the saved state, or an empty one on first start.
    pub fn load(&self) -> anyhow::Result<State> {
        let path = self.state_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a local-ecs state file; move it away or choose another \
                     --state-dir",
                    path.display()
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes serialized state atomically (temporary file, then rename).
    pub fn save(&self, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join("state.json.tmp");
        let mut file = create_private(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&tmp, self.state_file())
    }

    /// Where the blob (or manifest) with `digest` is stored; `None` if the digest is not
    /// `sha256:` and 64 lowercase hex digits. The one check of a digest: everything read or
    /// written by digest goes through here.
    pub fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let digest = Digest::from_str(digest).ok()?;
        (*digest.algorithm() == DigestAlgorithm::Sha256)
            .then(|| self.dir.join("registry/blobs/sha256").join(digest.digest()))
    }

    /// The file an upload in progress is written to.
    pub fn upload_path(&self, id: &str) -> PathBuf {
        self.dir.join("registry/uploads").join(id)
    }

    /// The directory of a task (logs, root filesystems).
    pub fn task_dir(&self, task_id: &str) -> PathBuf {
        task_dir(&self.dir, task_id)
    }

    /// The endpoint file.
    pub fn endpoint_file(&self) -> PathBuf {
        self.dir.join("endpoint")
    }
}

/// Files at the top of a state directory, written by local-ecs or by `cargo xtask local`.
const TOP_FILES: [&str; 7] = [
    "state.json",
    "state.json.tmp",
    "endpoint",
    "lock",
    "local-ecs.log",
    "local-ecs.pid",
    "last-port",
];

/// Tightens what an older local-ecs left readable: the directories it made and the files at
/// the top. Files deeper down are out of reach once their directories are 0700.
fn tighten(dir: &Path) -> anyhow::Result<()> {
    for sub in [
        "registry",
        "registry/blobs",
        "registry/blobs/sha256",
        "tasks",
    ] {
        make_private(&dir.join(sub), true)?;
    }
    for name in TOP_FILES {
        make_private(&dir.join(name), false)?;
    }
    Ok(())
}

/// The directory of a task under a state directory.
pub fn task_dir(state_dir: &Path, task_id: &str) -> PathBuf {
    state_dir.join("tasks").join(task_id)
}

/// How long opening a state directory waits for its lock: a local-ecs that just stopped may
/// still have it held for a moment by a process forked elsewhere in the same program (a task
/// being started inherits every descriptor until it execs).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the exclusive flock on `file`, retrying for up to `wait`.
fn lock_within(file: &File, wait: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    loop {
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt;

    /// A process forked elsewhere in the program holds a copy of the lock's descriptor until
    /// it execs: a restart right after a stop waits for it instead of failing.
    #[test]
    fn a_lock_held_a_moment_longer_by_a_copy_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let copy = store
            .lock
            .lock()
            .unwrap()
            .as_ref()
            .map(|f| f.try_clone().unwrap())
            .unwrap();
        store.release();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(copy);
        });
        assert!(Store::open(dir.path()).is_ok());
        holder.join().unwrap();
    }

    #[test]
    fn a_state_dir_is_locked_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("in use by another local-ecs"),
            "{err}"
        );
        assert!(store.load().unwrap().services.is_empty());
        store.save(br#"{"clusters":{},"task_definitions":{},"services":[],"repositories":{},"auth_tokens":[],"load_balancers":[],"target_groups":[],"listeners":[],"rules":[]}"#).unwrap();
        assert!(store.load().unwrap().clusters.is_empty());
        assert!(store.blob_path("sha256:abc").is_none());
        assert!(
            store
                .blob_path(&format!("sha256:{}", "a".repeat(64)))
                .is_some()
        );
        for not_sha256 in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}/x", "a".repeat(62)),
            format!("sha512:{}", "a".repeat(128)),
            "a".repeat(64),
        ] {
            assert!(store.blob_path(&not_sha256).is_none(), "{not_sha256}");
        }
        store.release();
        assert!(Store::open(dir.path()).is_ok());
    }

    #[test]
    fn the_state_dir_is_private_and_an_old_one_is_tightened() {
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("fresh");
        let store = Store::open(&dir).unwrap();
        store.save(b"{}").unwrap();
        store.write_endpoint("http://127.0.0.1:1").unwrap();
        assert_eq!(mode(&dir), 0o700);
        for sub in [
            "registry",
            "registry/blobs/sha256",
            "registry/uploads",
            "tasks",
        ] {
            assert_eq!(mode(&dir.join(sub)), 0o700, "{sub}");
        }
        for file in ["state.json", "endpoint", "lock", "credentials.json"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        store.release();
        drop(store);

        // As an older local-ecs left it: readable by everyone.
        let open =
            |p: &Path, m: u32| std::fs::set_permissions(p, Permissions::from_mode(m)).unwrap();
        open(&dir, 0o755);
        open(&dir.join("tasks"), 0o755);
        open(&dir.join("state.json"), 0o644);
        open(&dir.join("credentials.json"), 0o644);
        let store = Store::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("tasks")), 0o700);
        assert_eq!(mode(&dir.join("state.json")), 0o600);
        assert_eq!(mode(&dir.join("credentials.json")), 0o600);
        // A state file replaced by a save stays private.
        store.save(b"{}").unwrap();
        assert_eq!(mode(&dir.join("state.json")), 0o600);
    }

    #[test]
    fn an_unusable_state_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = Store::open(&file.join("sub")).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot create the state directory"),
            "{err}"
        );
    }
}
