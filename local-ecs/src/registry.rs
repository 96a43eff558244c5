//! The OCI distribution (v2) registry behind ECR: blobs, monolithic and chunked uploads,
//! cross-repository mounts, manifests and indexes by tag or digest, tag lists. Content is
//! stored by digest in the state directory and every upload's digest is verified.
//!
//! Clients log in with Basic auth, user `AWS`, and a password from GetAuthorizationToken.
//! A repository must exist (CreateRepository) before anything is pushed to it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use oci_spec::image::{ImageIndex, ImageManifest, MediaType, ToDockerV2S2};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::protocol::{Body, BoxError, empty, full};
use crate::shared::{Shared, Upload};
use crate::state::ImageRecord;

/// Largest manifest accepted, as common registries do.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// What a stored manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// One image: an OCI image manifest or a Docker schema 2 manifest.
    Image,
    /// A list of images: an OCI image index or a Docker manifest list.
    Index,
}

/// The kind of manifest `media_type` names, if the registry stores that media type.
pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    // Docker's schema 2 names of OCI's manifest and index.
    let docker_name_of = |oci: MediaType| oci.to_docker_v2s2().is_ok_and(|d| d == media_type);
    match MediaType::from(media_type) {
        MediaType::ImageManifest => Some(ManifestKind::Image),
        MediaType::ImageIndex => Some(ManifestKind::Index),
        _ if docker_name_of(MediaType::ImageManifest) => Some(ManifestKind::Image),
        _ if docker_name_of(MediaType::ImageIndex) => Some(ManifestKind::Index),
        _ => None,
    }
}

/// A registry error in the distribution spec's shape.
#[derive(Debug)]
struct RegistryError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> RegistryError {
    RegistryError {
        status,
        code,
        message: message.into(),
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        tracing::error!(error = %e, "registry storage error");
        err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            format!("storage error: {e}"),
        )
    }
}

type Answer = Result<Response<Body>, RegistryError>;

enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    StartUpload(&'a str),
    Upload(&'a str, &'a str),
    Blob(&'a str, &'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        return Some(Route::Manifest(name, reference));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::StartUpload(name));
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        return Some(Route::Upload(name, id));
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        return Some(Route::Blob(name, digest));
    }
    None
}

/// Serves one registry request (any path under `/v2`).
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let answer = match authorize(&shared, req.headers()) {
        Err(e) => Err(e),
        Ok(()) => serve(&shared, req).await,
    };
    let mut response = answer.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            tracing::error!(%method, %path, code = e.code, "{}", e.message);
        } else {
            tracing::debug!(%method, %path, code = e.code, "{}", e.message);
        }
        error_response(&e, method == Method::HEAD)
    });
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

/// A refusal before the request is looked at (a foreign `Host`), in the registry's format:
/// `DENIED`.
pub fn refuse(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = error_response(&err(status, "DENIED", message), false);
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

fn error_response(e: &RegistryError, head: bool) -> Response<Body> {
    let body = json!({"errors": [{"code": e.code, "message": e.message, "detail": {}}]});
    let mut response = Response::new(if head {
        empty()
    } else {
        full(body.to_string())
    });
    *response.status_mut() = e.status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if e.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"local-ecs\""),
        );
    }
    response
}

/// Checks Basic auth against the unexpired GetAuthorizationToken passwords. The password
/// is never logged.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), RegistryError> {
    let unauthorized = |why: &str| {
        err(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            format!(
                "authentication required: {why}; log in as user AWS with the password from \
                 ecr GetAuthorizationToken"
            ),
        )
    };
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| unauthorized("no credentials"))?;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .ok_or_else(|| unauthorized("only Basic auth is supported"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
    if user != "AWS" {
        return Err(unauthorized("the user must be AWS"));
    }
    let now = SystemTime::now();
    let state = shared.lock();
    let valid = state.auth_tokens.iter().any(|t| {
        t.expires_at > now && constant_time_eq(t.password.as_bytes(), password.as_bytes())
    });
    if valid {
        Ok(())
    } else {
        Err(unauthorized("the password is unknown or expired"))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn serve(shared: &Arc<Shared>, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let route = route(&path).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{path} is not a registry API path"),
        )
    })?;
    let method = req.method().clone();
    match (route, &method) {
        (Route::Base, &Method::GET | &Method::HEAD) => Ok(json_response(StatusCode::OK, json!({}))),
        (Route::Catalog, &Method::GET) => {
            let state = shared.lock();
            let names: Vec<&String> = state.repositories.keys().collect();
            Ok(json_response(
                StatusCode::OK,
                json!({"repositories": names}),
            ))
        }
        (Route::Tags(name), &Method::GET) => {
            let state = shared.lock();
            let repo = repository(&state, name)?;
            let mut tags: Vec<&String> = repo.image_tags.keys().collect();
            if let Some(last) = param("last") {
                tags.retain(|t| t.as_str() > last.as_str());
            }
            if let Some(n) = param("n").and_then(|n| n.parse::<usize>().ok()) {
                tags.truncate(n);
            }
            Ok(json_response(
                StatusCode::OK,
                json!({"name": name, "tags": tags}),
            ))
        }
        (Route::Manifest(name, reference), &Method::GET | &Method::HEAD) => {
            get_manifest(shared, name, reference, method == Method::HEAD)
        }
        (Route::Manifest(name, reference), &Method::PUT) => {
            let (name, reference) = (name.to_owned(), reference.to_owned());
            put_manifest(shared, &name, &reference, req).await
        }
        (Route::Manifest(name, reference), &Method::DELETE) => {
            delete_manifest(shared, name, reference)
        }
        (Route::Blob(name, digest), &Method::GET | &Method::HEAD) => {
            get_blob(shared, name, digest, method == Method::HEAD).await
        }
        (Route::StartUpload(name), &Method::POST) => {
            let name = name.to_owned();
            start_upload(
                shared,
                &name,
                param("digest"),
                param("mount"),
                param("from"),
                req,
            )
            .await
        }
        (Route::Upload(name, id), &Method::PATCH) => {
            let (name, id) = (name.to_owned(), id.to_owned());
            patch_upload(shared, &name, &id, req).await
        }
        (Route::Upload(name, id), &Method::PUT) => {
            let (name, id) = (name.to_owned(), id.to_owned());
            let digest = param("digest").ok_or_else(|| {
                err(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "completing an upload needs ?digest=sha256:...",
                )
            })?;
            finish_upload(shared, &name, &id, &digest, req).await
        }
        (Route::Upload(name, id), &Method::GET) => {
            let upload = find_upload(shared, name, id)?;
            let mut response = upload_response(StatusCode::NO_CONTENT, name, id, upload.size);
            response.headers_mut().remove(http::header::LOCATION);
            Ok(response)
        }
        (Route::Upload(name, id), &Method::DELETE) => {
            find_upload(shared, name, id)?;
            remove_upload(shared, id);
            Ok(status_only(StatusCode::NO_CONTENT))
        }
        _ => Err(err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            format!("{method} is not supported on {path}"),
        )),
    }
}

fn json_response(status: StatusCode, value: Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn status_only(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = status;
    response
}

fn header(response: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn repository<'s>(
    state: &'s crate::state::State,
    name: &str,
) -> Result<&'s crate::state::Repository, RegistryError> {
    state.repositories.get(name).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("repository {name:?} does not exist; create it first (ecr CreateRepository)"),
        )
    })
}

/// The repository to write to, which may have been deleted since the request began.
fn repository_mut<'s>(
    state: &'s mut crate::state::State,
    name: &str,
) -> Result<&'s mut crate::state::Repository, RegistryError> {
    state.repositories.get_mut(name).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("repository {name:?} was deleted"),
        )
    })
}

fn check_digest(shared: &Shared, digest: &str) -> Result<PathBuf, RegistryError> {
    shared.store.blob_path(digest).ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("{digest:?} is not a sha256 digest (sha256: and 64 lowercase hex digits)"),
        )
    })
}

fn get_manifest(shared: &Shared, name: &str, reference: &str, head: bool) -> Answer {
    let (digest, record) = {
        let state = shared.lock();
        let repo = repository(&state, name)?;
        let digest = if reference.starts_with("sha256:") {
            reference.to_owned()
        } else {
            repo.image_tags.get(reference).cloned().ok_or_else(|| {
                err(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    format!("manifest unknown: no tag {reference:?} in {name}"),
                )
            })?
        };
        let record = repo.images.get(&digest).cloned().ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!("manifest unknown: {digest} is not in {name}"),
            )
        })?;
        (digest, record)
    };
    let path = check_digest(shared, &digest)?;
    let bytes = std::fs::read(&path)?;
    let length = bytes.len();
    let mut response = Response::new(if head { empty() } else { full(bytes) });
    header(&mut response, "content-type", &record.media_type);
    header(&mut response, "docker-content-digest", &digest);
    header(&mut response, "content-length", &length.to_string());
    header(&mut response, "etag", &format!("\"{digest}\""));
    Ok(response)
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, RegistryError> {
    let limited = http_body_util::Limited::new(body, limit);
    limited.collect().await.map(|c| c.to_bytes()).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            format!("cannot read the manifest (at most {limit} bytes): {e}"),
        )
    })
}

/// A pushed manifest, read: its media type and what it needs from the repository.
struct Pushed {
    media_type: String,
    kind: ManifestKind,
    /// Digests of what it refers to: manifests for an index, config and layers for an image.
    refers_to: Vec<String>,
    /// Its size with what it refers to (an index: its own size).
    size: u64,
    /// An image's config media type (what ECR calls the artifact media type).
    artifact_media_type: Option<String>,
}

/// The fields that tell what a manifest is before it is read as one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
}

/// Reads a pushed manifest: its media type from the Content-Type and its own `mediaType`
/// (which must agree), then the document as that type.
fn read_manifest(content_type: Option<&str>, bytes: &[u8]) -> Result<Pushed, RegistryError> {
    let invalid = |why: String| err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", why);
    let envelope: Envelope = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
    let declared = envelope.media_type.as_deref();
    let media_type = match (content_type, declared) {
        (Some(ct), Some(d)) if ct != d => {
            return Err(invalid(format!(
                "Content-Type {ct} does not match the manifest's mediaType {d}"
            )));
        }
        (Some(ct), _) if ct != "application/octet-stream" && ct != "application/json" => {
            ct.to_owned()
        }
        (_, Some(d)) => d.to_owned(),
        _ if envelope.manifests.is_some() => MediaType::ImageIndex.to_string(),
        _ => MediaType::ImageManifest.to_string(),
    };
    let kind = manifest_kind(&media_type).ok_or_else(|| {
        invalid(format!(
            "manifest media type {media_type} is not supported (OCI manifest/index, Docker \
             schema 2 manifest/list)"
        ))
    })?;
    let not_valid = |e: serde_json::Error| invalid(format!("not a valid {media_type}: {e}"));
    let digests = |descriptors: &[oci_spec::image::Descriptor]| -> Vec<String> {
        descriptors.iter().map(|d| d.digest().to_string()).collect()
    };
    Ok(match kind {
        ManifestKind::Index => {
            let index: ImageIndex = serde_json::from_slice(bytes).map_err(not_valid)?;
            Pushed {
                refers_to: digests(index.manifests()),
                size: bytes.len() as u64,
                artifact_media_type: None,
                media_type,
                kind,
            }
        }
        ManifestKind::Image => {
            let manifest: ImageManifest = serde_json::from_slice(bytes).map_err(not_valid)?;
            let config = manifest.config();
            let mut refers_to = digests(std::slice::from_ref(config));
            refers_to.extend(digests(manifest.layers()));
            Pushed {
                refers_to,
                size: config.size() + manifest.layers().iter().map(|l| l.size()).sum::<u64>(),
                artifact_media_type: Some(config.media_type().to_string()),
                media_type,
                kind,
            }
        }
    })
}

/// What the manifest refers to must already be in the repository.
fn check_referenced(shared: &Shared, name: &str, pushed: &Pushed) -> Result<(), RegistryError> {
    let state = shared.lock();
    let repo = repository(&state, name)?;
    let missing = |present: &dyn Fn(&String) -> bool| pushed.refers_to.iter().find(|d| !present(d));
    let problem = match pushed.kind {
        ManifestKind::Index => missing(&|d| repo.images.contains_key(d)).map(|m| {
            (
                "MANIFEST_UNKNOWN",
                format!("the index refers to manifest {m}, which is not in {name}; push it first"),
            )
        }),
        ManifestKind::Image => missing(&|d| repo.blobs.contains(d)).map(|m| {
            (
                "MANIFEST_BLOB_UNKNOWN",
                format!("blob {m} is not in {name}; push it before the manifest"),
            )
        }),
    };
    match problem {
        Some((code, message)) => Err(err(StatusCode::BAD_REQUEST, code, message)),
        None => Ok(()),
    }
}

async fn put_manifest(
    shared: &Arc<Shared>,
    name: &str,
    reference: &str,
    req: Request<Incoming>,
) -> Answer {
    {
        let state = shared.lock();
        repository(&state, name)?;
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_owned());
    let bytes = read_limited(req.into_body(), MAX_MANIFEST_BYTES).await?;
    let pushed = read_manifest(content_type.as_deref(), &bytes)?;
    let digest = sha256_digest(&bytes);
    if reference.starts_with("sha256:") {
        if reference != digest {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                format!("the manifest's digest is {digest}, not {reference}"),
            ));
        }
    } else if !valid_tag(reference) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            format!("{reference:?} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})"),
        ));
    }
    check_referenced(shared, name, &pushed)?;
    let path = check_digest(shared, &digest)?;
    if !path.exists() {
        let tmp = shared.store.upload_path(&crate::ids::uuid());
        crate::private_files::write_private(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    record_manifest(shared, name, reference, &digest, pushed)?;
    tracing::info!(repository = name, reference, %digest, "manifest pushed");
    let mut response = status_only(StatusCode::CREATED);
    header(
        &mut response,
        "location",
        &format!("/v2/{name}/manifests/{digest}"),
    );
    header(&mut response, "docker-content-digest", &digest);
    Ok(response)
}

/// Adds a stored manifest to the repository's images, and tags it unless `reference` is its
/// digest.
fn record_manifest(
    shared: &Shared,
    name: &str,
    reference: &str,
    digest: &str,
    pushed: Pushed,
) -> Result<(), RegistryError> {
    let mut state = shared.lock();
    let repo = repository_mut(&mut state, name)?;
    if !reference.starts_with("sha256:") {
        if repo.tag_mutability == "IMMUTABLE"
            && repo.image_tags.get(reference).is_some_and(|d| d != digest)
        {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "TAG_INVALID",
                format!(
                    "The image tag '{reference}' already exists in the '{name}' repository \
                     and cannot be overwritten because the repository is immutable."
                ),
            ));
        }
        repo.image_tags
            .insert(reference.to_owned(), digest.to_owned());
    }
    repo.images
        .entry(digest.to_owned())
        .or_insert_with(|| ImageRecord {
            media_type: pushed.media_type,
            size: pushed.size,
            pushed_at: SystemTime::now(),
            artifact_media_type: pushed.artifact_media_type,
        });
    state.dirty = true;
    Ok(())
}

fn delete_manifest(shared: &Shared, name: &str, reference: &str) -> Answer {
    let mut state = shared.lock();
    repository(&state, name)?;
    let repo = state
        .repositories
        .get_mut(name)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository gone"))?;
    let unknown = || {
        err(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("manifest unknown: {reference} is not in {name}"),
        )
    };
    if reference.starts_with("sha256:") {
        repo.images.remove(reference).ok_or_else(unknown)?;
        repo.image_tags.retain(|_, d| d != reference);
    } else {
        repo.image_tags.remove(reference).ok_or_else(unknown)?;
    }
    state.dirty = true;
    Ok(status_only(StatusCode::ACCEPTED))
}

async fn get_blob(shared: &Shared, name: &str, digest: &str, head: bool) -> Answer {
    let path = check_digest(shared, digest)?;
    {
        let state = shared.lock();
        let repo = repository(&state, name)?;
        if !repo.blobs.contains(digest) && !repo.images.contains_key(digest) {
            return Err(err(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                format!("blob {digest} is not in {name}"),
            ));
        }
    }
    let file = tokio::fs::File::open(&path).await?;
    let length = file.metadata().await?.len();
    let body = if head { empty() } else { file_body(file) };
    let mut response = Response::new(body);
    header(&mut response, "content-type", "application/octet-stream");
    header(&mut response, "content-length", &length.to_string());
    header(&mut response, "docker-content-digest", digest);
    header(&mut response, "etag", &format!("\"{digest}\""));
    Ok(response)
}

/// Streams a file as a response body in 256 KiB frames.
fn file_body(file: tokio::fs::File) -> Body {
    use tokio::io::AsyncReadExt;
    let stream = futures::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, BoxError>(hyper::body::Frame::data(Bytes::from(buf))),
                    file,
                ))
            }
            Err(e) => Some((Err(Box::new(e) as BoxError), file)),
        }
    });
    http_body_util::StreamBody::new(stream).boxed()
}

fn upload_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response<Body> {
    let mut response = status_only(status);
    header(
        &mut response,
        "location",
        &format!("/v2/{name}/blobs/uploads/{id}"),
    );
    header(&mut response, "docker-upload-uuid", id);
    // The distribution spec's inclusive range of bytes received ("0-0" before any byte).
    let end = size.saturating_sub(1);
    header(&mut response, "range", &format!("0-{end}"));
    header(&mut response, "content-length", "0");
    response
}

fn find_upload(shared: &Shared, name: &str, id: &str) -> Result<Upload, RegistryError> {
    let uploads = shared.uploads.lock().unwrap_or_else(|p| p.into_inner());
    uploads
        .get(id)
        .filter(|u| u.repository == name)
        .cloned()
        .ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                format!(
                    "upload {id} is unknown in {name} (finished, cancelled, or lost in a restart)"
                ),
            )
        })
}

fn remove_upload(shared: &Shared, id: &str) {
    shared
        .uploads
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id);
    let _ = std::fs::remove_file(shared.store.upload_path(id));
}

/// Appends a request body to an upload file; returns the bytes written.
async fn append(path: &Path, body: Incoming) -> Result<u64, RegistryError> {
    let mut file = tokio::fs::File::from_std(crate::private_files::append_private(path)?);
    let mut body = body;
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                format!("the upload body broke off: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            file.write_all(&data).await?;
            written += data.len() as u64;
        }
    }
    file.flush().await?;
    Ok(written)
}

async fn start_upload(
    shared: &Arc<Shared>,
    name: &str,
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
    req: Request<Incoming>,
) -> Answer {
    {
        let state = shared.lock();
        repository(&state, name)?;
        // Cross-repository mount: link an existing blob without sending it again.
        if let (Some(mount), Some(from)) = (&mount, &from)
            && state
                .repositories
                .get(from.as_str())
                .is_some_and(|r| r.blobs.contains(mount))
        {
            drop(state);
            link_blob(shared, name, mount)?;
            return Ok(created_blob(name, mount));
        }
    }
    let id = crate::ids::uuid();
    let path = shared.store.upload_path(&id);
    shared
        .uploads
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            id.clone(),
            Upload {
                repository: name.to_owned(),
                size: 0,
            },
        );
    if let Some(digest) = digest {
        // Monolithic upload: the whole blob in this POST.
        let result = async {
            append(&path, req.into_body()).await?;
            commit_upload(shared, name, &id, &digest).await
        }
        .await;
        remove_upload(shared, &id);
        return result.map(|()| created_blob(name, &digest));
    }
    crate::private_files::create_private(&path)?;
    Ok(upload_response(StatusCode::ACCEPTED, name, &id, 0))
}

async fn patch_upload(shared: &Shared, name: &str, id: &str, req: Request<Incoming>) -> Answer {
    let upload = find_upload(shared, name, id)?;
    // A chunk must start where the previous one ended.
    if let Some(range) = req
        .headers()
        .get(http::header::CONTENT_RANGE)
        .and_then(|h| h.to_str().ok())
    {
        let start = range
            .trim_start_matches("bytes ")
            .split('-')
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if start != Some(upload.size) {
            let mut response = status_only(StatusCode::RANGE_NOT_SATISFIABLE);
            header(
                &mut response,
                "location",
                &format!("/v2/{name}/blobs/uploads/{id}"),
            );
            header(
                &mut response,
                "range",
                &format!("0-{}", upload.size.saturating_sub(1)),
            );
            return Ok(response);
        }
    }
    let written = append(&shared.store.upload_path(id), req.into_body()).await?;
    let size = {
        let mut uploads = shared.uploads.lock().unwrap_or_else(|p| p.into_inner());
        let entry = uploads.get_mut(id).ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                "the upload was cancelled",
            )
        })?;
        entry.size += written;
        entry.size
    };
    Ok(upload_response(StatusCode::ACCEPTED, name, id, size))
}

async fn finish_upload(
    shared: &Arc<Shared>,
    name: &str,
    id: &str,
    digest: &str,
    req: Request<Incoming>,
) -> Answer {
    find_upload(shared, name, id)?;
    append(&shared.store.upload_path(id), req.into_body()).await?;
    let result = commit_upload(shared, name, id, digest).await;
    remove_upload(shared, id);
    result.map(|()| created_blob(name, digest))
}

fn created_blob(name: &str, digest: &str) -> Response<Body> {
    let mut response = status_only(StatusCode::CREATED);
    header(
        &mut response,
        "location",
        &format!("/v2/{name}/blobs/{digest}"),
    );
    header(&mut response, "docker-content-digest", digest);
    response
}

/// Verifies the upload's digest, moves it into the blob store and links it to the repository.
async fn commit_upload(
    shared: &Arc<Shared>,
    name: &str,
    id: &str,
    digest: &str,
) -> Result<(), RegistryError> {
    let target = check_digest(shared, digest)?;
    let upload = shared.store.upload_path(id);
    let hashed = {
        let upload = upload.clone();
        tokio::task::spawn_blocking(move || sha256_file(&upload))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??
    };
    if hashed != digest {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("the uploaded content has digest {hashed}, not {digest}"),
        ));
    }
    if !target.exists() {
        std::fs::rename(&upload, &target)?;
    }
    link_blob(shared, name, digest)
}

fn link_blob(shared: &Shared, name: &str, digest: &str) -> Result<(), RegistryError> {
    let mut state = shared.lock();
    let repo = repository_mut(&mut state, name)?;
    if repo.blobs.insert(digest.to_owned()) {
        state.dirty = true;
    }
    Ok(())
}

/// `sha256:HEX` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    digest_of(Sha256::new_with_prefix(bytes))
}

/// `sha256:HEX` of a file's content.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(digest_of(hasher))
}

/// The one place a digest is written: `sha256:` and lowercase hex.
fn digest_of(hasher: Sha256) -> String {
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_names_with_slashes() {
        assert!(matches!(route("/v2/"), Some(Route::Base)));
        assert!(matches!(route("/v2"), Some(Route::Base)));
        assert!(matches!(
            route("/v2/team/app/tags/list"),
            Some(Route::Tags("team/app"))
        ));
        assert!(matches!(
            route("/v2/team/app/manifests/v1"),
            Some(Route::Manifest("team/app", "v1"))
        ));
        assert!(matches!(
            route("/v2/a/blobs/uploads/"),
            Some(Route::StartUpload("a"))
        ));
        assert!(matches!(
            route("/v2/a/blobs/uploads/u1"),
            Some(Route::Upload("a", "u1"))
        ));
        assert!(matches!(
            route("/v2/a/b/blobs/sha256:x"),
            Some(Route::Blob("a/b", "sha256:x"))
        ));
        assert!(route("/v3/x").is_none());
    }

    const DIGEST_A: &str =
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const DIGEST_B: &str =
        "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn oci_and_docker_manifests_and_indexes_are_stored() {
        let kinds = [
            (
                "application/vnd.oci.image.manifest.v1+json",
                Some(ManifestKind::Image),
            ),
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                Some(ManifestKind::Image),
            ),
            (
                "application/vnd.oci.image.index.v1+json",
                Some(ManifestKind::Index),
            ),
            (
                "application/vnd.docker.distribution.manifest.list.v2+json",
                Some(ManifestKind::Index),
            ),
            (
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                None,
            ),
            ("application/vnd.oci.image.config.v1+json", None),
            ("application/json", None),
        ];
        for (media_type, want) in kinds {
            assert_eq!(manifest_kind(media_type), want, "{media_type}");
        }
    }

    fn docker_manifest() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"{DIGEST_A}"}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":100,"digest":"{DIGEST_B}"}}]}}"#
        )
    }

    #[test]
    fn a_manifest_is_read_for_what_it_refers_to() {
        let docker = read_manifest(
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            docker_manifest().as_bytes(),
        )
        .unwrap();
        assert_eq!(docker.kind, ManifestKind::Image);
        assert_eq!(docker.refers_to, [DIGEST_A, DIGEST_B]);
        assert_eq!(docker.size, 107);
        assert_eq!(
            docker.artifact_media_type.as_deref(),
            Some("application/vnd.docker.container.image.v1+json")
        );

        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":9,"digest":"{DIGEST_A}",
            "platform":{{"architecture":"arm","os":"linux","variant":"v7","features":["sse4"]}}}}]}}"#
        );
        let list = read_manifest(None, list.as_bytes()).unwrap();
        assert_eq!(
            (
                list.kind,
                list.refers_to.as_slice(),
                list.artifact_media_type
            ),
            (ManifestKind::Index, [DIGEST_A.to_owned()].as_slice(), None)
        );
        assert_eq!(
            list.media_type,
            "application/vnd.docker.distribution.manifest.list.v2+json"
        );

        // Neither Content-Type nor mediaType: an OCI index if it lists manifests.
        let bare = br#"{"schemaVersion":2,"manifests":[]}"#;
        let bare = read_manifest(Some("application/json"), bare).unwrap();
        assert_eq!(bare.media_type, "application/vnd.oci.image.index.v1+json");
    }

    #[test]
    fn a_manifest_that_is_not_one_is_refused() {
        let cases = [
            (Some("application/vnd.oci.image.manifest.v1+json"), "{".to_owned(), "not JSON"),
            (
                Some("application/vnd.oci.image.manifest.v1+json"),
                docker_manifest(),
                "does not match",
            ),
            (
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                "{}".to_owned(),
                "not supported",
            ),
            (
                None,
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#
                    .to_owned(),
                "not a valid application/vnd.oci.image.manifest.v1+json",
            ),
        ];
        for (content_type, body, want) in cases {
            let Err(e) = read_manifest(content_type, body.as_bytes()) else {
                panic!("accepted: {body}");
            };
            assert_eq!(e.code, "MANIFEST_INVALID");
            assert!(e.message.contains(want), "{}", e.message);
        }
    }

    #[test]
    fn digests_of_bytes_and_files_agree() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        std::fs::write(&file, b"hello").unwrap();
        let digest = sha256_digest(b"hello");
        assert_eq!(
            digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(sha256_file(&file).unwrap(), digest);
    }

    #[test]
    fn tags_are_validated() {
        assert!(valid_tag("v1.2-rc_3"));
        assert!(valid_tag("_x"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag(""));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(!valid_tag("a/b"));
    }
}
