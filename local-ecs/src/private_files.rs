//! Files and directories only their owner can use (0600, 0700): the state directory holds
//! registry passwords and the API's secret key.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// The mode of the state directory and its subdirectories.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file local-ecs writes in the state directory.
pub const FILE_MODE: u32 = 0o600;

/// Creates (or truncates) a file only its owner can read or write. A file that already
/// existed is tightened too: the mode given at creation applies only to new files.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let file = File::options()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Opens a file for appending, creating it private (0600) if it is new.
pub fn append_private(path: &Path) -> std::io::Result<File> {
    File::options()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Writes a whole file, private (0600).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_private(path)?.write_all(bytes)
}

/// Sets a file's (or, with `dir`, a directory's) mode to private if it exists.
pub fn make_private(path: &Path, dir: bool) -> anyhow::Result<()> {
    let mode = if dir { DIR_MODE } else { FILE_MODE };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o777 != mode && !meta.is_symlink() => {
            std::fs::set_permissions(path, Permissions::from_mode(mode))
                .with_context(|| format!("cannot make {} private (mode {mode:o})", path.display()))
        }
        _ => Ok(()),
    }
}

/// Creates a directory and its missing parents with mode 0700 (the parents above the state
/// directory keep the mode they get from the umask).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}
