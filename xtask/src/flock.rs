//! Lock files (flock) and who holds them. The holder's pid comes from the kernel's lock table
//! (`/proc/locks`), never from a pid file: it cannot go stale, and it names the process even
//! when it was not started by xtask.

use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};

/// A held lock: released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct Held(#[allow(dead_code)] File);

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))
}

/// Takes the exclusive lock on `path` (created if missing) if it is free.
pub fn try_lock(path: &Path) -> Result<Option<Held>> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Held(file))),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("lock {}", path.display()))
        }
    }
}

/// Takes the exclusive lock on `path`, waiting for it; `waiting` is told the holder's pid
/// (when the kernel names it) once, if the lock is not free at once.
pub fn lock(path: &Path, waiting: &dyn Fn(Option<u32>)) -> Result<Held> {
    if let Some(held) = try_lock(path)? {
        return Ok(held);
    }
    waiting(holder(path));
    let file = open(path)?;
    file.lock()
        .with_context(|| format!("lock {}", path.display()))?;
    Ok(Held(file))
}

/// The pid of the process holding a flock on `path`, if any.
pub fn holder(path: &Path) -> Option<u32> {
    let meta = std::fs::metadata(path).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let (major, minor) = dev_major_minor(meta.dev());
    holder_in(&locks, major, minor, meta.ino())
}

/// Linux's `dev_t` split (glibc's `gnu_dev_major` / `gnu_dev_minor`).
fn dev_major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    (major, minor)
}

/// The holder of a granted FLOCK on the file `major:minor:inode` in `/proc/locks` text
/// (`1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF`; waiters are `1: -> FLOCK ...`).
/// Falls back to the inode alone: on overlay filesystems the lock table names the
/// underlying device.
fn holder_in(locks: &str, major: u64, minor: u64, inode: u64) -> Option<u32> {
    let granted = locks.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let mut id = fields.get(5)?.split(':');
        let maj = u64::from_str_radix(id.next()?, 16).ok()?;
        let min = u64::from_str_radix(id.next()?, 16).ok()?;
        let ino: u64 = id.next()?.parse().ok()?;
        (ino == inode && pid != 0).then_some((pid, maj == major && min == minor))
    });
    let found: Vec<(u32, bool)> = granted.collect();
    found
        .iter()
        .find(|(_, same_dev)| *same_dev)
        .or(found.first())
        .map(|(pid, _)| *pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_read_from_the_lock_table() {
        let table = "\
1: POSIX  ADVISORY  WRITE 77 fe:00:500 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 fe:00:500 0 EOF
2: -> FLOCK  ADVISORY  WRITE 4343 fe:00:500 0 EOF
3: FLOCK  ADVISORY  WRITE 99 fe:01:600 0 EOF
";
        assert_eq!(holder_in(table, 0xfe, 0, 500), Some(4242));
        assert_eq!(holder_in(table, 0xfe, 1, 600), Some(99));
        // Another device, same inode: the overlay fallback.
        assert_eq!(holder_in(table, 8, 1, 600), Some(99));
        assert_eq!(holder_in(table, 0xfe, 0, 501), None);
        assert_eq!(holder_in("", 0xfe, 0, 500), None);
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        assert_eq!(dev_major_minor(0xfe00), (0xfe, 0));
        assert_eq!(dev_major_minor(0x0801), (8, 1));
        // glibc's makedev: a minor above 255 and a major above 4095 use the high bits.
        let makedev = |major: u64, minor: u64| {
            (minor & 0xff)
                | ((major & 0xfff) << 8)
                | ((minor & !0xff) << 12)
                | ((major & !0xfff) << 32)
        };
        assert_eq!(dev_major_minor(makedev(0x1234, 0xab05)), (0x1234, 0xab05));
    }

    #[test]
    fn a_held_lock_is_seen_and_names_this_process() {
        let dir = tempfile_dir("flock");
        let path = dir.join("x.lock");
        let held = try_lock(&path).unwrap().expect("free");
        assert!(
            try_lock(&path).unwrap().is_none(),
            "a second lock must wait"
        );
        assert_eq!(holder(&path), Some(std::process::id()));
        drop(held);
        assert_eq!(holder(&path), None);
        assert!(try_lock(&path).unwrap().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
