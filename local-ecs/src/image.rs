//! Pulling an image for a task: resolve the reference in local-ecs's own registry (tag to
//! digest, index to the platform's manifest), then unpack its layers (gzip or plain tar,
//! with OCI whiteouts) into a directory.

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::registry::is_index;
use crate::shared::Shared;

/// An image's run configuration (the `config` of its config blob).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env` as `NAME=value`.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
}

/// A resolved image: where its content is and how to run it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The digest the reference resolved to (reported as the container's `imageDigest`).
    pub digest: String,
    /// Layer digests, bottom first.
    pub layers: Vec<String>,
    /// The run configuration.
    pub config: ImageConfig,
}

/// An image reference split into repository and tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Repository name.
    pub repository: String,
    /// Tag (`latest` when neither tag nor digest is given).
    pub tag: Option<String>,
    /// Digest, when pinned.
    pub digest: Option<String>,
}

/// Splits `HOST/NAME[:TAG][@DIGEST]`, accepting only this registry's host
/// (`127.0.0.1:PORT` or `localhost:PORT`, for the current port or any earlier one of the same
/// state directory, in `also`).
pub fn parse_reference(image: &str, port: u16, also: &[u16]) -> Result<ImageRef, String> {
    let (host, rest) = image.split_once('/').unwrap_or(("", image));
    let ours = |p: u16| host == format!("127.0.0.1:{p}") || host == format!("localhost:{p}");
    if !(ours(port) || also.iter().any(|p| ours(*p))) {
        return Err(format!(
            "local-ecs pulls only from its own registry at 127.0.0.1:{port} (or \
             localhost:{port}); push the image there and use that repositoryUri"
        ));
    }
    let (name_tag, digest) = match rest.split_once('@') {
        Some((n, d)) => (n, Some(d.to_owned())),
        None => (rest, None),
    };
    // A ':' after the last '/' separates the tag.
    let (repository, tag) = match name_tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t.to_owned())),
        _ => (name_tag, None),
    };
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".to_owned())
    } else {
        tag
    };
    if repository.is_empty() {
        return Err("the image reference has no repository name".into());
    }
    Ok(ImageRef {
        repository: repository.to_owned(),
        tag,
        digest,
    })
}

/// The OCI architecture name of this machine.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

fn read_json(shared: &Shared, digest: &str) -> Result<Value, String> {
    let path = shared
        .store
        .blob_path(digest)
        .ok_or_else(|| format!("{digest} is not a sha256 digest"))?;
    let bytes = std::fs::read(&path).map_err(|e| format!("blob {digest} is missing: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{digest} is not JSON: {e}"))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Resolves `image` in the registry. The error is the text after `CannotPullContainerError: `.
pub fn resolve(shared: &Shared, image: &str) -> Result<ResolvedImage, String> {
    let earlier: Vec<u16> = shared.lock().served_ports.iter().copied().collect();
    let reference = parse_reference(image, shared.port, &earlier).map_err(|why| {
        format!(
            "pull image manifest has been retried 1 time(s): failed to resolve ref {image}: {why}"
        )
    })?;
    let not_found = || {
        format!(
            "pull image manifest has been retried 1 time(s): failed to resolve ref {image}: {image}: not found"
        )
    };
    let (mut digest, mut media_type) = {
        let state = shared.lock();
        let repo = state.repositories.get(&reference.repository).ok_or_else(|| {
            format!(
                "pull image manifest has been retried 1 time(s): failed to resolve ref {image}: \
                 repository {} not found: name unknown: The repository with name '{}' does not \
                 exist in the registry with id '{}'",
                reference.repository,
                reference.repository,
                crate::ids::ACCOUNT_ID
            )
        })?;
        let digest = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.clone(),
            (None, Some(tag)) => repo.image_tags.get(tag).cloned().ok_or_else(not_found)?,
            (None, None) => return Err(not_found()),
        };
        let record = repo.images.get(&digest).ok_or_else(not_found)?;
        (digest, record.media_type.clone())
    };
    let pinned = digest.clone();
    let mut manifest = read_json(shared, &digest)?;
    if is_index(&media_type) {
        let arch = host_architecture();
        let chosen = manifest
            .get("manifests")
            .and_then(Value::as_array)
            .and_then(|entries| {
                entries.iter().find(|m| {
                    m.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
                        && m.pointer("/platform/architecture").and_then(Value::as_str) == Some(arch)
                })
            })
            .ok_or_else(|| {
                format!("no matching manifest for linux/{arch} in the manifest list entries")
            })?;
        digest = chosen
            .get("digest")
            .and_then(Value::as_str)
            .ok_or("the index entry has no digest")?
            .to_owned();
        media_type = chosen
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(crate::registry::OCI_MANIFEST)
            .to_owned();
        if is_index(&media_type) {
            return Err("nested image indexes are not supported".into());
        }
        manifest = read_json(shared, &digest)?;
    }
    let config_digest = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or("the manifest has no config")?;
    let config_doc = read_json(shared, config_digest)?;
    let config = config_doc.get("config").cloned().unwrap_or_default();
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("digest").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(ResolvedImage {
        digest: pinned,
        layers,
        config: ImageConfig {
            entrypoint: strings(config.get("Entrypoint")),
            cmd: strings(config.get("Cmd")),
            env: strings(config.get("Env")),
            working_dir: config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        },
    })
}

/// Unpacks layers (bottom first) into `rootfs`, applying whiteouts.
pub fn unpack(shared: &Shared, layers: &[String], rootfs: &Path) -> Result<(), String> {
    std::fs::create_dir_all(rootfs)
        .map_err(|e| format!("cannot create {}: {e}", rootfs.display()))?;
    for digest in layers {
        let path = shared
            .store
            .blob_path(digest)
            .ok_or_else(|| format!("layer {digest} is not a sha256 digest"))?;
        unpack_layer(&path, rootfs).map_err(|e| format!("cannot unpack layer {digest}: {e}"))?;
    }
    Ok(())
}

fn open_layer(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let mut magic = [0u8; 4];
    let n = {
        use std::io::BufRead;
        let buf = file.fill_buf()?;
        let n = buf.len().min(4);
        magic[..n].copy_from_slice(&buf[..n]);
        n
    };
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(file)))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Err(std::io::Error::other(
            "zstd-compressed layers are not supported; push gzip or uncompressed layers",
        ))
    } else {
        Ok(Box::new(file))
    }
}

/// A relative path with no `..`, `/` or prefix components.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn remove_path(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn unpack_layer(path: &Path, rootfs: &Path) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(open_layer(path)?);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(false);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    // Paths this layer wrote: an opaque whiteout hides the lower layers' entries, not these.
    let mut written: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(relative) = clean(&entry.path()?) else {
            continue;
        };
        let file_name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = relative.parent().map(Path::to_path_buf).unwrap_or_default();
        if file_name == ".wh..wh..opq" {
            let dir = rootfs.join(&parent);
            if let Ok(children) = std::fs::read_dir(&dir) {
                for child in children.flatten() {
                    let rel = parent.join(child.file_name());
                    if !written.contains(&rel) {
                        remove_path(&child.path())?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = file_name.strip_prefix(".wh.") {
            remove_path(&rootfs.join(&parent).join(hidden))?;
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            continue;
        }
        // A file replacing a directory (or the reverse) replaces it whole.
        let destination = rootfs.join(&relative);
        if let Ok(meta) = std::fs::symlink_metadata(&destination)
            && (meta.is_dir() != kind.is_dir() || meta.file_type().is_symlink())
        {
            remove_path(&destination)?;
        }
        entry.unpack_in(rootfs)?;
        written.insert(relative);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_must_name_this_registry() {
        assert_eq!(
            parse_reference("127.0.0.1:4580/hello:v1", 4580, &[]).unwrap(),
            ImageRef {
                repository: "hello".into(),
                tag: Some("v1".into()),
                digest: None
            }
        );
        assert_eq!(
            parse_reference("localhost:4580/team/app", 4580, &[])
                .unwrap()
                .tag
                .as_deref(),
            Some("latest")
        );
        let pinned = parse_reference("127.0.0.1:4580/a@sha256:abc", 4580, &[]).unwrap();
        assert_eq!(
            (pinned.tag, pinned.digest.as_deref()),
            (None, Some("sha256:abc"))
        );
        assert!(parse_reference("nginx:latest", 4580, &[]).is_err());
        assert!(parse_reference("127.0.0.1:9999/a:b", 4580, &[]).is_err());
        assert!(
            parse_reference("127.0.0.1:9999/a:b", 4580, &[9999]).is_ok(),
            "a port served earlier"
        );
    }

    fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            match content {
                Some(bytes) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(bytes.len() as u64);
                    header.set_mode(0o755);
                    builder.append_data(&mut header, path, *bytes).unwrap();
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o755);
                    builder.append_data(&mut header, path, &[][..]).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn layers_apply_whiteouts_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let lower = dir.path().join("lower.tar");
        std::fs::write(
            &lower,
            layer(&[
                ("etc/", None),
                ("etc/a", Some(b"a")),
                ("etc/b", Some(b"b")),
                ("opt/", None),
                ("opt/old", Some(b"old")),
            ]),
        )
        .unwrap();
        let upper = dir.path().join("upper.tar.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(
            &mut gz,
            &layer(&[
                ("etc/.wh.a", Some(b"")),
                ("opt/new", Some(b"new")),
                ("opt/.wh..wh..opq", Some(b"")),
            ]),
        )
        .unwrap();
        std::fs::write(&upper, gz.finish().unwrap()).unwrap();
        unpack_layer(&lower, &rootfs).unwrap();
        unpack_layer(&upper, &rootfs).unwrap();
        assert!(!rootfs.join("etc/a").exists());
        assert_eq!(std::fs::read(rootfs.join("etc/b")).unwrap(), b"b");
        assert!(
            !rootfs.join("opt/old").exists(),
            "opaque whiteout hides lower entries"
        );
        assert_eq!(std::fs::read(rootfs.join("opt/new")).unwrap(), b"new");
    }
}
