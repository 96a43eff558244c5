//! The registry behind ECR, with real clients: oci-client (through deploy-sdk's push and
//! directly), skopeo, and raw HTTP for the corners of the distribution spec.

use crate::common::*;
use base64::Engine;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request with a Content-Length body over a fresh connection.
async fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16)
            .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

fn digest(bytes: &[u8]) -> String {
    let hash = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

async fn basic_auth(env: &Env) -> (String, String) {
    let token = env.ecr.get_authorization_token().send().await.unwrap();
    let encoded = token.authorization_data()[0]
        .authorization_token()
        .unwrap()
        .to_owned();
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap(),
    )
    .unwrap();
    let password = decoded.split_once(':').unwrap().1.to_owned();
    (format!("Basic {encoded}"), password)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_client_push_and_pull_round_trip() {
    let mut env = Env::start().await;
    let image = hello_image();
    push_hello(&env, "roundtrip", "v1").await;

    // A second push of the same image uploads nothing.
    let auth = deploy_sdk::ecr::registry_auth(&env.ecr).await.unwrap();
    let target =
        deploy_sdk::registry::ImageRef::parse(&format!("{}/roundtrip", env.registry())).unwrap();
    let again = deploy_sdk::image::push(image, &target, &["v2".into()], Some(&auth.login))
        .await
        .unwrap();
    assert_eq!(again.uploaded_blobs, 0);
    assert_eq!(again.skipped_blobs, image.layers.len() + 1);

    // Pull with oci-client.
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::HttpsExcept(vec![env.registry()]),
        ..Default::default()
    });
    let registry_auth = oci_client::secrets::RegistryAuth::Basic(
        "AWS".into(),
        auth.login.password.expose().to_owned(),
    );
    let reference: oci_client::Reference =
        format!("{}/roundtrip:v1", env.registry()).parse().unwrap();
    let (manifest, manifest_digest) = client
        .pull_image_manifest(&reference, &registry_auth)
        .await
        .expect("pull manifest");
    assert_eq!(manifest_digest, image.digest());
    assert_eq!(manifest.layers.len(), 1);
    let mut layer = Vec::new();
    client
        .pull_blob(&reference, &manifest.layers[0], &mut layer)
        .await
        .expect("pull layer");
    assert_eq!(layer, image.layers[0].data.to_vec());

    // ECR sees what the registry holds.
    let images = env
        .ecr
        .describe_images()
        .repository_name("roundtrip")
        .send()
        .await
        .unwrap();
    let detail = &images.image_details()[0];
    assert_eq!(detail.image_digest(), Some(image.digest()));
    let mut tags = detail.image_tags().to_vec();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
    assert_eq!(
        detail.image_manifest_media_type(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    let got = env
        .ecr
        .batch_get_image()
        .repository_name("roundtrip")
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("v1")
                .build(),
        )
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("nope")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.images()[0].image_manifest(),
        Some(std::str::from_utf8(&image.manifest.data).unwrap())
    );
    assert_eq!(
        got.failures()[0].failure_code(),
        Some(&aws_sdk_ecr::types::ImageFailureCode::ImageNotFound)
    );

    // Pushing to a repository that does not exist fails with NAME_UNKNOWN.
    let missing =
        deploy_sdk::registry::ImageRef::parse(&format!("{}/not-created", env.registry())).unwrap();
    let err = deploy_sdk::image::push(image, &missing, &["v1".into()], Some(&auth.login))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("NAME_UNKNOWN") || err.to_string().contains("does not exist"),
        "{err}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_distribution_api_corners() {
    let mut env = Env::start().await;
    let port = env.port;
    env.ecr
        .create_repository()
        .repository_name("raw")
        .send()
        .await
        .unwrap();
    env.ecr
        .create_repository()
        .repository_name("other")
        .send()
        .await
        .unwrap();

    // No or wrong credentials: a Basic challenge.
    let reply = request(port, "GET", "/v2/", &[], b"").await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"local-ecs\"")
    );
    assert!(reply.text().contains("UNAUTHORIZED"), "{}", reply.text());
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AWS:wrong")
    );
    assert_eq!(
        request(port, "GET", "/v2/", &[("Authorization", wrong)], b"")
            .await
            .status,
        401
    );
    let (auth, _) = basic_auth(&env).await;
    let a = || ("Authorization", auth.clone());
    assert_eq!(request(port, "GET", "/v2/", &[a()], b"").await.status, 200);

    // A repository must exist.
    let reply = request(port, "POST", "/v2/missing/blobs/uploads/", &[a()], b"").await;
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("NAME_UNKNOWN"), "{}", reply.text());

    // Chunked upload: POST, PATCH, PATCH, PUT?digest.
    let blob = b"hello, chunked world".to_vec();
    let blob_digest = digest(&blob);
    let start = request(port, "POST", "/v2/raw/blobs/uploads/", &[a()], b"").await;
    assert_eq!(start.status, 202);
    let location = start.header("location").unwrap().to_owned();
    let first = request(
        port,
        "PATCH",
        &location,
        &[a(), ("Content-Range", "0-6".into())],
        &blob[..7],
    )
    .await;
    assert_eq!(first.status, 202);
    assert_eq!(first.header("range"), Some("0-6"));
    let out_of_order = request(
        port,
        "PATCH",
        &location,
        &[a(), ("Content-Range", "3-5".into())],
        &blob[3..6],
    )
    .await;
    assert_eq!(out_of_order.status, 416);
    let second = request(
        port,
        "PATCH",
        &location,
        &[a(), ("Content-Range", format!("7-{}", blob.len() - 1))],
        &blob[7..],
    )
    .await;
    assert_eq!(second.status, 202);
    let done = request(
        port,
        "PUT",
        &format!("{location}?digest={blob_digest}"),
        &[a()],
        b"",
    )
    .await;
    assert_eq!(done.status, 201, "{}", done.text());
    assert_eq!(
        done.header("docker-content-digest"),
        Some(blob_digest.as_str())
    );
    let fetched = request(
        port,
        "GET",
        &format!("/v2/raw/blobs/{blob_digest}"),
        &[a()],
        b"",
    )
    .await;
    assert_eq!(fetched.body, blob);
    let head = request(
        port,
        "HEAD",
        &format!("/v2/raw/blobs/{blob_digest}"),
        &[a()],
        b"",
    )
    .await;
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some(blob.len().to_string().as_str()))
    );

    // A wrong digest is refused.
    let bad = request(
        port,
        "POST",
        &format!("/v2/raw/blobs/uploads/?digest={}", digest(b"other")),
        &[a()],
        b"tampered",
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("DIGEST_INVALID"), "{}", bad.text());

    // Cross-repository mount, and blobs are per repository.
    assert_eq!(
        request(
            port,
            "GET",
            &format!("/v2/other/blobs/{blob_digest}"),
            &[a()],
            b""
        )
        .await
        .status,
        404
    );
    let mount = request(
        port,
        "POST",
        &format!("/v2/other/blobs/uploads/?mount={blob_digest}&from=raw"),
        &[a()],
        b"",
    )
    .await;
    assert_eq!(mount.status, 201);
    assert_eq!(
        request(
            port,
            "GET",
            &format!("/v2/other/blobs/{blob_digest}"),
            &[a()],
            b""
        )
        .await
        .status,
        200
    );

    // Manifests: blobs must be there first; then by tag and by digest; an index over them.
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = digest(config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{blob_digest}","size":{}}}]}}"#,
        config.len(),
        blob.len()
    );
    let oci = (
        "Content-Type",
        "application/vnd.oci.image.manifest.v1+json".to_owned(),
    );
    let early = request(
        port,
        "PUT",
        "/v2/raw/manifests/v1",
        &[a(), oci.clone()],
        manifest.as_bytes(),
    )
    .await;
    assert_eq!(early.status, 400);
    assert!(
        early.text().contains("MANIFEST_BLOB_UNKNOWN"),
        "{}",
        early.text()
    );
    let put_config = request(
        port,
        "POST",
        &format!("/v2/raw/blobs/uploads/?digest={config_digest}"),
        &[a()],
        config,
    )
    .await;
    assert_eq!(put_config.status, 201);
    let pushed = request(
        port,
        "PUT",
        "/v2/raw/manifests/v1",
        &[a(), oci.clone()],
        manifest.as_bytes(),
    )
    .await;
    assert_eq!(pushed.status, 201, "{}", pushed.text());
    let manifest_digest = digest(manifest.as_bytes());
    assert_eq!(
        pushed.header("docker-content-digest"),
        Some(manifest_digest.as_str())
    );
    let by_tag = request(port, "GET", "/v2/raw/manifests/v1", &[a()], b"").await;
    assert_eq!(by_tag.body, manifest.as_bytes());
    assert_eq!(
        by_tag.header("content-type"),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    let by_digest = request(
        port,
        "HEAD",
        &format!("/v2/raw/manifests/{manifest_digest}"),
        &[a()],
        b"",
    )
    .await;
    assert_eq!(
        (by_digest.status, by_digest.header("docker-content-digest")),
        (200, Some(manifest_digest.as_str()))
    );
    let unknown = request(port, "GET", "/v2/raw/manifests/v9", &[a()], b"").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("MANIFEST_UNKNOWN"));
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
        manifest.len()
    );
    let pushed = request(
        port,
        "PUT",
        "/v2/raw/manifests/multi",
        &[
            a(),
            (
                "Content-Type",
                "application/vnd.oci.image.index.v1+json".into(),
            ),
        ],
        index.as_bytes(),
    )
    .await;
    assert_eq!(pushed.status, 201, "{}", pushed.text());
    let docker = request(
        port,
        "PUT",
        "/v2/raw/manifests/docker",
        &[
            a(),
            (
                "Content-Type",
                "application/vnd.docker.distribution.manifest.v2+json".into(),
            ),
        ],
        manifest
            .replace(
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .as_bytes(),
    )
    .await;
    assert_eq!(docker.status, 201, "{}", docker.text());
    // A Docker manifest list over that manifest, pushed by digest (no tag).
    let docker_digest = docker.header("docker-content-digest").unwrap().to_owned();
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{docker_digest}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
        manifest.len()
    );
    let list_digest = digest(list.as_bytes());
    let docker_list = (
        "Content-Type",
        "application/vnd.docker.distribution.manifest.list.v2+json".to_owned(),
    );
    let pushed = request(
        port,
        "PUT",
        &format!("/v2/raw/manifests/{list_digest}"),
        &[a(), docker_list.clone()],
        list.as_bytes(),
    )
    .await;
    assert_eq!(pushed.status, 201, "{}", pushed.text());
    let fetched = request(
        port,
        "GET",
        &format!("/v2/raw/manifests/{list_digest}"),
        &[a()],
        b"",
    )
    .await;
    assert_eq!(
        (fetched.body.as_slice(), fetched.header("content-type")),
        (list.as_bytes(), Some(docker_list.1.as_str()))
    );
    // A manifest without its config is no manifest.
    let broken = request(
        port,
        "PUT",
        "/v2/raw/manifests/broken",
        &[a(), oci.clone()],
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#,
    )
    .await;
    assert_eq!(broken.status, 400);
    assert!(
        broken.text().contains("MANIFEST_INVALID"),
        "{}",
        broken.text()
    );
    let tags = request(port, "GET", "/v2/raw/tags/list", &[a()], b"").await;
    let tags: serde_json::Value = serde_json::from_slice(&tags.body).unwrap();
    assert_eq!(
        tags,
        serde_json::json!({"name": "raw", "tags": ["docker", "multi", "v1"]})
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_to_and_from_the_registry() {
    let skopeo = std::process::Command::new("skopeo")
        .arg("--version")
        .output();
    assert!(
        skopeo.is_ok_and(|o| o.status.success()),
        "skopeo is not installed: install it with `apt-get install -y skopeo` (.ci/run does)"
    );
    let mut env = Env::start().await;
    env.ecr
        .create_repository()
        .repository_name("skopeo")
        .send()
        .await
        .unwrap();
    let (_, password) = basic_auth(&env).await;
    let image = hello_image();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    image.write_oci_layout(&layout, Some("v1")).unwrap();
    let creds = format!("AWS:{password}");
    let destination = format!("docker://{}/skopeo:v1", env.registry());
    let skopeo = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("skopeo")
                .args(&args)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let copy = skopeo(vec![
        "copy".into(),
        "--dest-tls-verify=false".into(),
        "--dest-creds".into(),
        creds.clone(),
        format!("oci:{}:v1", layout.display()),
        destination.clone(),
    ])
    .await;
    assert!(
        copy.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let images = env
        .ecr
        .describe_images()
        .repository_name("skopeo")
        .send()
        .await
        .unwrap();
    assert_eq!(images.image_details()[0].image_tags(), ["v1"]);

    let inspect = skopeo(vec![
        "inspect".into(),
        "--tls-verify=false".into(),
        "--creds".into(),
        creds.clone(),
        "--raw".into(),
        destination.clone(),
    ])
    .await;
    assert!(
        inspect.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert_eq!(
        digest(&inspect.stdout),
        images.image_details()[0].image_digest().unwrap()
    );

    let back = work.path().join("back");
    let pull = skopeo(vec![
        "copy".into(),
        "--src-tls-verify=false".into(),
        "--src-creds".into(),
        creds,
        destination,
        format!("oci:{}:v1", back.display()),
    ])
    .await;
    assert!(
        pull.status.success(),
        "skopeo copy back: {}",
        String::from_utf8_lossy(&pull.stderr)
    );
    let layer_hex = image.layers[0].digest.trim_start_matches("sha256:");
    let pulled = std::fs::read(back.join("blobs/sha256").join(layer_hex)).unwrap();
    assert_eq!(pulled, image.layers[0].data.to_vec());
    env.stop().await;
}
