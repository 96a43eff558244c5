//! Pulling an image for a task: resolve the reference in local-ecs's own registry (tag to
//! digest, index to the platform's manifest), then unpack its layers (gzip or plain tar,
//! with OCI whiteouts) into a directory.

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{Arch, Descriptor, ImageConfiguration, ImageIndex, ImageManifest, Os};
use serde::de::DeserializeOwned;

use crate::registry::{ManifestKind, manifest_kind};
use crate::shared::Shared;
use crate::state::State;

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

impl From<&ImageConfiguration> for ImageConfig {
    fn from(image: &ImageConfiguration) -> Self {
        let Some(run) = image.config() else {
            return ImageConfig::default();
        };
        ImageConfig {
            entrypoint: run.entrypoint().clone().unwrap_or_default(),
            cmd: run.cmd().clone().unwrap_or_default(),
            env: run.env().clone().unwrap_or_default(),
            working_dir: run.working_dir().clone().filter(|s| !s.is_empty()),
        }
    }
}

/// Reads the JSON blob `digest` as a `what` (an image manifest, index or config).
fn read_json<T: DeserializeOwned>(shared: &Shared, digest: &str, what: &str) -> Result<T, String> {
    let path = shared
        .store
        .blob_path(digest)
        .ok_or_else(|| format!("{digest} is not a sha256 digest"))?;
    let bytes = std::fs::read(&path).map_err(|e| format!("blob {digest} is missing: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{digest} is not a valid {what}: {e}"))
}

/// The entry of an index for this machine (linux and its architecture).
fn platform_manifest(index: &ImageIndex) -> Result<&Descriptor, String> {
    let arch = Arch::default();
    let chosen = index
        .manifests()
        .iter()
        .find(|m| {
            m.platform()
                .as_ref()
                .is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == arch)
        })
        .ok_or_else(|| {
            format!("no matching manifest for linux/{arch} in the manifest list entries")
        })?;
    if manifest_kind(chosen.media_type().as_ref()) == Some(ManifestKind::Index) {
        return Err("nested image indexes are not supported".into());
    }
    Ok(chosen)
}

/// The digest `image` names in local-ecs's registry (its tag's manifest or index, or the
/// digest it is pinned to), if the image is there. Reads the state the caller holds.
pub fn registry_digest(state: &State, port: u16, image: &str) -> Option<String> {
    let earlier: Vec<u16> = state.served_ports.iter().copied().collect();
    let reference = parse_reference(image, port, &earlier).ok()?;
    let repo = state.repositories.get(&reference.repository)?;
    let digest = match (&reference.digest, &reference.tag) {
        (Some(d), _) => d.clone(),
        (None, Some(tag)) => repo.image_tags.get(tag)?.clone(),
        (None, None) => return None,
    };
    repo.images.contains_key(&digest).then_some(digest)
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
    let (mut digest, media_type) = {
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
    if manifest_kind(&media_type) == Some(ManifestKind::Index) {
        let index: ImageIndex = read_json(shared, &digest, "image index")?;
        digest = platform_manifest(&index)?.digest().to_string();
    }
    let manifest: ImageManifest = read_json(shared, &digest, "image manifest")?;
    let config: ImageConfiguration =
        read_json(shared, manifest.config().digest().as_ref(), "image config")?;
    Ok(ResolvedImage {
        digest: pinned,
        layers: manifest
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .collect(),
        config: ImageConfig::from(&config),
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

    fn index(entries: &[(&str, &str, &str)]) -> ImageIndex {
        let manifests: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(i, (media_type, os, arch))| {
                format!(
                    r#"{{"mediaType":"{media_type}","size":1,"digest":"sha256:{}","platform":{{"os":"{os}","architecture":"{arch}","variant":"v8"}}}}"#,
                    i.to_string().repeat(64)
                )
            })
            .collect();
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{}]}}"#,
            manifests.join(",")
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn an_index_resolves_to_this_machines_linux_manifest() {
        let docker = "application/vnd.docker.distribution.manifest.v2+json";
        let here = Arch::default().to_string();
        let other = if here == "amd64" { "arm64" } else { "amd64" };
        let list = index(&[
            (docker, "windows", &here),
            (docker, "linux", other),
            (docker, "linux", &here),
        ]);
        assert_eq!(
            platform_manifest(&list).unwrap().digest().to_string(),
            format!("sha256:{}", "2".repeat(64))
        );
        let err = platform_manifest(&index(&[(docker, "linux", other)])).unwrap_err();
        assert_eq!(
            err,
            format!("no matching manifest for linux/{here} in the manifest list entries")
        );
        let nested = index(&[("application/vnd.oci.image.index.v1+json", "linux", &here)]);
        assert_eq!(
            platform_manifest(&nested).unwrap_err(),
            "nested image indexes are not supported"
        );
    }

    #[test]
    fn the_run_configuration_comes_from_the_config_blob() {
        // As Docker writes it: nulls, an empty WorkingDir, fields local-ecs does not use.
        let docker: ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
            "config":{"Hostname":"","Env":["PATH=/bin"],"Cmd":["serve","--port","80"],
            "Entrypoint":null,"WorkingDir":"","Labels":null,"ExposedPorts":{"80/tcp":{}}}}"#,
        )
        .unwrap();
        assert_eq!(
            ImageConfig::from(&docker),
            ImageConfig {
                entrypoint: vec![],
                cmd: vec!["serve".into(), "--port".into(), "80".into()],
                env: vec!["PATH=/bin".into()],
                working_dir: None,
            }
        );
        let bare: ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        assert_eq!(ImageConfig::from(&bare), ImageConfig::default());
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
