//! OCI images without Docker, the way `ko` builds them for Go: one layer holding a static
//! binary (and an `/etc/passwd` for a non-root user), a config, a manifest.
//!
//! Builds are reproducible: entries are sorted, owners and mtimes fixed, gzip headers
//! stripped of time and name, JSON written with its keys sorted — the same inputs always
//! give the same manifest digest, so re-pushing an unchanged binary uploads nothing and a
//! deploy of it registers nothing new.
//!
//! The documents are `oci-spec`'s types; media types are its [`MediaType`].

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use oci_spec::OciSpecError;
pub use oci_spec::image::MediaType;
use oci_spec::image::{
    ANNOTATION_REF_NAME, Arch, ConfigBuilder, Descriptor, HistoryBuilder,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, OciLayoutBuilder, Os,
    RootFsBuilder,
};
use serde::Serialize;

// Its home is `digest`; kept here, where it was first published.
pub use crate::digest::sha256_digest;
use crate::error::{Error, Result};
use crate::registry::ImageRef;

/// The uid and gid images built here run as (distroless's `nonroot`).
pub const NONROOT_UID: u32 = 65532;

/// A piece of content-addressed data: a layer, a config or a manifest.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its media type.
    pub media_type: MediaType,
    /// `sha256:<hex>` of `data`.
    pub digest: String,
    /// The bytes.
    pub data: Bytes,
}

impl Blob {
    /// Wraps `data`, computing its digest.
    pub fn new(media_type: MediaType, data: impl Into<Bytes>) -> Blob {
        let data = data.into();
        Blob {
            media_type,
            digest: sha256_digest(&data),
            data,
        }
    }

    /// The descriptor that refers to this blob from a manifest or an index.
    fn descriptor(&self) -> Result<Descriptor> {
        let digest = crate::digest::parse_sha256(&self.digest).map_err(Error::Image)?;
        Ok(Descriptor::new(
            self.media_type.clone(),
            self.data.len() as u64,
            digest,
        ))
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Blob({}, {}, {} bytes)",
            self.media_type,
            self.digest,
            self.data.len()
        )
    }
}

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEntry {
    /// A directory.
    Dir {
        /// Permission bits, e.g. `0o755`.
        mode: u32,
        /// Owner uid and gid.
        owner: u32,
    },
    /// A regular file.
    File {
        /// Permission bits, e.g. `0o755`.
        mode: u32,
        /// Owner uid and gid.
        owner: u32,
        /// Contents.
        data: Bytes,
    },
}

/// What goes into an image: the files of its single layer and its runtime configuration.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Files and directories by absolute path (parents are added as needed).
    pub entries: BTreeMap<String, LayerEntry>,
    /// The program and its fixed arguments.
    pub entrypoint: Vec<String>,
    /// Default arguments after the entrypoint.
    pub cmd: Vec<String>,
    /// `uid:gid` (or a name) the process runs as.
    pub user: Option<String>,
    /// Environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Ports the image listens on, e.g. `8080/tcp`.
    pub exposed_ports: Vec<String>,
    /// Labels, e.g. `org.opencontainers.image.revision`.
    pub labels: BTreeMap<String, String>,
    /// Working directory of the process.
    pub working_dir: Option<String>,
    /// Creation time (RFC 3339), also every entry's mtime. Take it from the commit, not the
    /// clock, or builds stop being reproducible.
    pub created: time::OffsetDateTime,
    /// OCI architecture (`amd64`, `arm64`).
    pub architecture: String,
}

/// A built image: manifest, config and layers, ready to write or push.
#[derive(Debug, Clone)]
pub struct OciImage {
    /// The manifest; its digest is the image's digest.
    pub manifest: Blob,
    /// The config blob.
    pub config: Blob,
    /// The layers (compressed).
    pub layers: Vec<Blob>,
}

impl OciImage {
    /// The image digest (`sha256:…` of the manifest): what a task definition should pin.
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    /// Every blob a registry needs besides the manifest: layers, then config.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.layers.iter().chain(std::iter::once(&self.config))
    }

    /// Total size of the manifest and the blobs it references, in bytes.
    pub fn size(&self) -> u64 {
        self.blobs().map(|b| b.data.len() as u64).sum::<u64>() + self.manifest.data.len() as u64
    }

    /// Writes a standard OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) into
    /// `dir`, creating it; `tag` becomes the `org.opencontainers.image.ref.name` annotation.
    /// skopeo reads it as `oci:DIR:TAG`.
    pub fn write_oci_layout(&self, dir: &Path, tag: Option<&str>) -> Result<()> {
        let blobs_dir = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs_dir).map_err(|source| io_error(&blobs_dir, source))?;
        for blob in self.blobs().chain(std::iter::once(&self.manifest)) {
            let path = blobs_dir.join(blob.descriptor()?.digest().digest());
            std::fs::write(&path, &blob.data).map_err(|source| io_error(&path, source))?;
        }
        let mut manifest = self.manifest.descriptor()?;
        if let Some(tag) = tag {
            manifest.set_annotations(Some(HashMap::from([(
                ANNOTATION_REF_NAME.to_owned(),
                tag.to_owned(),
            )])));
        }
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(vec![manifest])
            .build()
            .map_err(oci_error("the layout's index"))?;
        write_json(&dir.join("index.json"), &index)?;
        let layout = OciLayoutBuilder::default()
            .image_layout_version("1.0.0")
            .build()
            .map_err(oci_error("the layout's oci-layout"))?;
        write_json(&dir.join("oci-layout"), &layout)
    }
}

impl ImageSpec {
    /// The usual image for a static binary: the binary at `/usr/local/bin/NAME` as entrypoint,
    /// `/etc/passwd` and `/etc/group` with `root` and `nonroot` (uid 65532, the user it runs
    /// as), a home for nonroot and a `/tmp`; `port` exposed; `PATH` set.
    pub fn for_static_binary(
        name: &str,
        binary: impl Into<Bytes>,
        port: u16,
        created: time::OffsetDateTime,
    ) -> ImageSpec {
        let bin_path = format!("/usr/local/bin/{name}");
        let mut entries = BTreeMap::new();
        entries.insert(
            bin_path.clone(),
            LayerEntry::File {
                mode: 0o755,
                owner: 0,
                data: binary.into(),
            },
        );
        entries.insert(
            "/etc/passwd".into(),
            LayerEntry::File {
                mode: 0o644,
                owner: 0,
                data: Bytes::from(format!(
                    "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/home/nonroot:/sbin/nologin\n"
                )),
            },
        );
        entries.insert(
            "/etc/group".into(),
            LayerEntry::File {
                mode: 0o644,
                owner: 0,
                data: Bytes::from(format!("root:x:0:\nnonroot:x:{NONROOT_UID}:\n")),
            },
        );
        entries.insert(
            "/home/nonroot".into(),
            LayerEntry::Dir {
                mode: 0o700,
                owner: NONROOT_UID,
            },
        );
        entries.insert(
            "/tmp".into(),
            LayerEntry::Dir {
                mode: 0o1777,
                owner: 0,
            },
        );
        ImageSpec {
            entries,
            entrypoint: vec![bin_path],
            cmd: Vec::new(),
            user: Some(format!("{NONROOT_UID}:{NONROOT_UID}")),
            env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
            exposed_ports: vec![format!("{port}/tcp")],
            labels: BTreeMap::new(),
            working_dir: Some("/".into()),
            created,
            architecture: host_architecture().into(),
        }
    }

    /// Builds the layer, config and manifest.
    pub fn build(&self) -> Result<OciImage> {
        let tar = self.layer_tar()?;
        let diff_id = sha256_digest(&tar);
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar)
            .map_err(|e| Error::Image(format!("compressing the layer: {e}")))?;
        let compressed = gz
            .finish()
            .map_err(|e| Error::Image(format!("compressing the layer: {e}")))?;
        let layer = Blob::new(MediaType::ImageLayerGzip, compressed);
        let config = Blob::new(MediaType::ImageConfig, to_json(&self.config(diff_id)?)?);
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config.descriptor()?)
            .layers(vec![layer.descriptor()?])
            .build()
            .map_err(oci_error("the manifest"))?;
        let manifest = Blob::new(MediaType::ImageManifest, to_json(&manifest)?);
        Ok(OciImage {
            manifest,
            config,
            layers: vec![layer],
        })
    }

    /// The image configuration for the one layer whose uncompressed digest is `diff_id`.
    fn config(&self, diff_id: String) -> Result<oci_spec::image::ImageConfiguration> {
        let created = self.created_rfc3339()?;
        let mut runtime = ConfigBuilder::default()
            .env(self.env.clone())
            .entrypoint(self.entrypoint.clone())
            .exposed_ports(self.exposed_ports.clone())
            .labels(
                self.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            );
        if !self.cmd.is_empty() {
            runtime = runtime.cmd(self.cmd.clone());
        }
        if let Some(user) = &self.user {
            runtime = runtime.user(user.clone());
        }
        if let Some(dir) = &self.working_dir {
            runtime = runtime.working_dir(dir.clone());
        }
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(vec![diff_id])
            .build()
            .map_err(oci_error("the config's rootfs"))?;
        let history = HistoryBuilder::default()
            .created(created.clone())
            .created_by("deploy-sdk image (no Dockerfile)")
            .build()
            .map_err(oci_error("the config's history"))?;
        ImageConfigurationBuilder::default()
            .architecture(Arch::from(self.architecture.as_str()))
            .os(Os::Linux)
            .created(created)
            .config(runtime.build().map_err(oci_error("the config"))?)
            .rootfs(rootfs)
            .history(vec![history])
            .build()
            .map_err(oci_error("the config"))
    }

    fn created_rfc3339(&self) -> Result<String> {
        self.created
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::Image(format!("creation time: {e}")))
    }

    /// The uncompressed layer: sorted entries, parents first, fixed owners and mtimes.
    fn layer_tar(&self) -> Result<Vec<u8>> {
        let mtime = u64::try_from(self.created.unix_timestamp()).unwrap_or(0);
        let mut entries: BTreeMap<String, LayerEntry> = BTreeMap::new();
        for (path, entry) in &self.entries {
            let rel = path.trim_start_matches('/');
            if rel.is_empty()
                || rel
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..")
            {
                return Err(Error::Image(format!("invalid path in image: {path:?}")));
            }
            // Parents default to root-owned 0755 directories.
            let mut parent = String::new();
            for component in rel.split('/').take(rel.split('/').count() - 1) {
                if !parent.is_empty() {
                    parent.push('/');
                }
                parent.push_str(component);
                entries.entry(parent.clone()).or_insert(LayerEntry::Dir {
                    mode: 0o755,
                    owner: 0,
                });
            }
            entries.insert(rel.to_owned(), entry.clone());
        }
        let mut tar = tar::Builder::new(Vec::new());
        let fail = |e: std::io::Error| Error::Image(format!("writing the layer: {e}"));
        for (path, entry) in &entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(mtime);
            match entry {
                LayerEntry::Dir { mode, owner } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_uid((*owner).into());
                    header.set_gid((*owner).into());
                    header.set_size(0);
                    tar.append_data(&mut header, format!("{path}/"), std::io::empty())
                        .map_err(fail)?;
                }
                LayerEntry::File { mode, owner, data } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_uid((*owner).into());
                    header.set_gid((*owner).into());
                    header.set_size(data.len() as u64);
                    tar.append_data(&mut header, path, data.as_ref())
                        .map_err(fail)?;
                }
            }
        }
        tar.into_inner().map_err(fail)
    }
}

/// The OCI name of the architecture this program was built for.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// What [`push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// `registry/repository@sha256:…`: the reference to pin in a task definition.
    pub pinned: String,
    /// Blobs uploaded.
    pub uploaded_blobs: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Blobs the registry already had.
    pub skipped_blobs: usize,
    /// Tags pointed at the manifest.
    pub tags: Vec<String>,
}

/// Credentials for a registry: user and password (the password never prints).
#[derive(Clone)]
pub struct RegistryLogin {
    /// User name (`AWS` for ECR).
    pub username: String,
    /// Password or token.
    pub password: crate::Secret,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// Pushes `image` to `repository` (`host[:port]/name`, no tag) under each of `tags`, skipping
/// blobs the registry already has. Plain HTTP is used only for loopback registries.
pub async fn push(
    image: &OciImage,
    repository: &ImageRef,
    tags: &[String],
    login: Option<&RegistryLogin>,
) -> Result<PushReport> {
    use oci_client::client::{ClientConfig, ClientProtocol};
    use oci_client::secrets::RegistryAuth;
    use oci_client::{Client, Reference, RegistryOperation};

    let registry = repository.registry.clone();
    let fail = |message: String| Error::Registry {
        registry: registry.clone(),
        message,
    };
    let protocol = if repository.is_loopback() {
        ClientProtocol::HttpsExcept(vec![registry.clone()])
    } else {
        ClientProtocol::Https
    };
    let client = Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    });
    let auth = match login {
        Some(login) => {
            RegistryAuth::Basic(login.username.clone(), login.password.expose().to_owned())
        }
        None => RegistryAuth::Anonymous,
    };
    let by_digest = Reference::with_digest(
        registry.clone(),
        repository.repository.clone(),
        image.digest().to_owned(),
    );
    client
        .auth(&by_digest, &auth, RegistryOperation::Push)
        .await
        .map_err(|e| fail(format!("login failed: {e}")))?;

    let mut report = PushReport {
        pinned: format!("{}/{}@{}", registry, repository.repository, image.digest()),
        uploaded_blobs: 0,
        uploaded_bytes: 0,
        skipped_blobs: 0,
        tags: tags.to_vec(),
    };
    for blob in image.blobs() {
        let exists = client
            .blob_exists(&by_digest, &blob.digest)
            .await
            .map_err(|e| fail(format!("checking blob {}: {e}", blob.digest)))?;
        if exists {
            report.skipped_blobs += 1;
            continue;
        }
        client
            .push_blob(&by_digest, blob.data.clone(), &blob.digest)
            .await
            .map_err(|e| fail(format!("uploading blob {}: {e}", blob.digest)))?;
        report.uploaded_blobs += 1;
        report.uploaded_bytes += blob.data.len() as u64;
    }
    let content_type = reqwest::header::HeaderValue::from_str(image.manifest.media_type.as_ref())
        .map_err(|e| fail(format!("the manifest media type: {e}")))?;
    let targets = if tags.is_empty() {
        vec![None]
    } else {
        tags.iter().map(Some).collect()
    };
    for tag in targets {
        let reference = match tag {
            Some(tag) => {
                Reference::with_tag(registry.clone(), repository.repository.clone(), tag.clone())
            }
            None => by_digest.clone(),
        };
        client
            .push_manifest_raw(
                &reference,
                image.manifest.data.clone(),
                content_type.clone(),
            )
            .await
            .map_err(|e| fail(format!("pushing the manifest as {reference}: {e}")))?;
    }
    Ok(report)
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `value` as JSON with the keys of every object sorted. oci-spec keeps labels, ports and
/// annotations in `HashMap`s, whose order changes from run to run; a digest must not.
fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let fail = |e: serde_json::Error| Error::Image(format!("serialising JSON: {e}"));
    let mut value = serde_json::to_value(value).map_err(fail)?;
    value.sort_all_objects();
    serde_json::to_vec(&value).map_err(fail)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    std::fs::write(path, to_json(value)?).map_err(|source| io_error(path, source))
}

fn oci_error(what: &'static str) -> impl Fn(OciSpecError) -> Error {
    move |e| Error::Image(format!("building {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn spec(binary: &'static [u8]) -> ImageSpec {
        let created = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut spec = ImageSpec::for_static_binary("hello-service", binary, 8080, created);
        spec.labels
            .insert("org.opencontainers.image.revision".into(), "abc1234".into());
        spec
    }

    #[test]
    fn same_inputs_give_the_same_digest() {
        let a = spec(b"\x7fELF binary").build().unwrap();
        let b = spec(b"\x7fELF binary").build().unwrap();
        assert_eq!(a.digest(), b.digest());
        let c = spec(b"\x7fELF other").build().unwrap();
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn labels_and_ports_in_any_number_keep_the_digest() {
        let many = || {
            let mut spec = spec(b"\x7fELF binary");
            for i in 0..16 {
                spec.labels.insert(format!("label.{i}"), i.to_string());
                spec.exposed_ports.push(format!("{}/tcp", 9000 + i));
            }
            spec.build().unwrap()
        };
        let first = many();
        for _ in 0..8 {
            assert_eq!(many().config.data, first.config.data);
        }
        assert_eq!(many().digest(), first.digest());
    }

    #[test]
    fn layer_holds_the_binary_and_a_nonroot_user() {
        let image = spec(b"\x7fELF binary").build().unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(image.layers[0].data.as_ref())
            .read_to_end(&mut tar)
            .unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let header = entry.header().clone();
            assert_eq!(header.mtime().unwrap(), 1_700_000_000, "{path}");
            if path == "usr/local/bin/hello-service" {
                assert_eq!(header.mode().unwrap(), 0o755);
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                assert_eq!(data, b"\x7fELF binary");
            }
            if path == "etc/passwd" {
                let mut data = String::new();
                entry.read_to_string(&mut data).unwrap();
                assert!(data.contains("nonroot:x:65532:65532:"), "{data}");
            }
            seen.push(path);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "entries are sorted");
        for want in [
            "usr/",
            "usr/local/",
            "usr/local/bin/",
            "usr/local/bin/hello-service",
            "etc/passwd",
            "tmp/",
        ] {
            assert!(
                seen.iter().any(|p| p == want),
                "{want} missing from {seen:?}"
            );
        }
    }

    #[test]
    fn config_and_manifest_describe_the_image() {
        let image = spec(b"bin").build().unwrap();
        let config: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/local/bin/hello-service"])
        );
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["ExposedPorts"],
            serde_json::json!({"8080/tcp": {}})
        );
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.revision"],
            "abc1234"
        );
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(image.layers[0].data.as_ref())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], sha256_digest(&tar));

        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.data).unwrap();
        assert_eq!(manifest["config"]["digest"], image.config.digest.as_str());
        assert_eq!(
            manifest["layers"][0]["digest"],
            image.layers[0].digest.as_str()
        );
        assert_eq!(manifest["layers"][0]["size"], image.layers[0].data.len());
    }

    #[test]
    fn writes_an_oci_layout() {
        let image = spec(b"bin").build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        image.write_oci_layout(dir.path(), Some("v1")).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], image.digest());
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "v1"
        );
        for blob in image.blobs().chain([&image.manifest]) {
            let path = dir
                .path()
                .join("blobs/sha256")
                .join(blob.digest.trim_start_matches("sha256:"));
            assert_eq!(std::fs::read(path).unwrap(), blob.data.as_ref());
        }
        assert!(dir.path().join("oci-layout").exists());
    }

    #[test]
    fn rejects_paths_that_escape() {
        let mut bad = spec(b"bin");
        bad.entries.insert(
            "/etc/../../x".into(),
            LayerEntry::Dir {
                mode: 0o755,
                owner: 0,
            },
        );
        assert!(bad.build().is_err());
    }
}
