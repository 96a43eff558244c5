//! Stage 2, image: an OCI image of the static binary, made without Docker; and
//! `cargo xtask image`, which builds it alone and writes or pushes it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine;
use clap::Args;
use deploy_sdk::image::{ImageSpec, OciImage, RegistryLogin};
use deploy_sdk::registry::ImageRef;
use deploy_sdk::{AwsOptions, Clients, ecr};

use crate::binary::{self, Binary};
use crate::failure::Failure;
use crate::out::outln;

/// Where the binary goes in the image (the Dockerfile and the task definition agree).
pub const BINARY_NAME: &str = "hello-service";

/// The image of `binary`: `/usr/local/bin/hello-service` as entrypoint, user 65532, `port`
/// exposed, OCI labels for revision, source and creation time (the commit's, so the same
/// binary always gives the same digest).
pub fn hello_image(binary: &Binary, port: u16) -> Result<OciImage> {
    let data =
        std::fs::read(&binary.path).with_context(|| format!("read {}", binary.path.display()))?;
    let created = binary::source_date();
    let mut spec = ImageSpec::for_static_binary(BINARY_NAME, data, port, created);
    let created_text = created
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into());
    for (key, value) in [
        ("org.opencontainers.image.title", BINARY_NAME.to_owned()),
        ("org.opencontainers.image.revision", binary.build_id.clone()),
        ("org.opencontainers.image.source", binary::source_url()),
        ("org.opencontainers.image.created", created_text),
    ] {
        spec.labels.insert(key.into(), value);
    }
    Ok(spec.build()?)
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Write the image as an OCI image layout directory (skopeo: `oci:DIR:TAG`).
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
    /// Push to a registry reference `host[:port]/repo[:tag]` (tag defaults to the build id).
    /// Credentials: REGISTRY_USERNAME / REGISTRY_PASSWORD, else the Docker config file.
    /// Plain HTTP is used only for localhost registries.
    #[arg(long, value_name = "REF")]
    push: Option<String>,
    /// Port the image exposes.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Log in to the --push registry through ECR (GetAuthorizationToken with the standard AWS
    /// setup: AWS_REGION, AWS_ENDPOINT_URL, the credential chain), as CodeBuild does without
    /// Docker, instead of REGISTRY_USERNAME / the Docker config.
    #[arg(long, requires = "push")]
    ecr: bool,
    /// With --ecr: when the --push tag is already in the repository (tags are immutable),
    /// build and push nothing and say so.
    #[arg(long, requires = "ecr")]
    skip_existing: bool,
    /// Also tag the pushed image with this (repeatable), e.g. `latest`.
    #[arg(long = "also-tag", value_name = "TAG", requires = "push")]
    also_tag: Vec<String>,
    /// The cargo profile to build hello-service with (`local-deploy` for a fast local build).
    #[arg(long, env = "DEPLOY_BUILD_PROFILE", default_value = binary::RELEASE_PROFILE)]
    profile: String,
}

/// `cargo xtask image`.
pub fn run(args: ImageArgs) -> Result<()> {
    let target = args
        .push
        .as_deref()
        .map(ImageRef::parse)
        .transpose()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let profile = binary::deploy_profile(false, Some(&args.profile))
        .map_err(|e| Failure::usage(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let ecr = match (&target, args.ecr) {
        (Some(target), true) => Some(runtime.block_on(ecr_login(target))?),
        _ => None,
    };
    if let (Some(target), Some((clients, _)), true) = (&target, &ecr, args.skip_existing) {
        let tag = target.tag.clone().unwrap_or_else(binary::build_id);
        if let Some(digest) = runtime.block_on(tag_digest(clients, target, &tag))? {
            outln!(
                "{}:{tag} is already in ECR ({digest}): not rebuilt (tags are immutable)",
                target.repository_uri()
            );
            return Ok(());
        }
    }
    let binary = binary::build_with_profile(&profile, false)?;
    let image = hello_image(&binary, args.port)?;
    outln!(
        "image {} ({} bytes, build {})",
        image.digest(),
        image.size(),
        binary.build_id
    );
    if let Some(dir) = &args.oci_layout {
        image.write_oci_layout(dir, Some(&binary.build_id))?;
        outln!(
            "wrote OCI layout {} (tag {})",
            dir.display(),
            binary.build_id
        );
    }
    if let Some(target) = target {
        let tag = target
            .tag
            .clone()
            .unwrap_or_else(|| binary.build_id.clone());
        let login = match ecr {
            Some((_, login)) => Some(login),
            None => registry_login(&target.registry)?,
        };
        let mut tags = vec![tag];
        tags.extend(args.also_tag.iter().cloned());
        let report = runtime.block_on(deploy_sdk::image::push(
            &image,
            &target,
            &tags,
            login.as_ref(),
        ))?;
        outln!(
            "pushed {} as :{} ({} blobs uploaded, {} bytes; {} already there)",
            report.pinned,
            tags.join(", :"),
            report.uploaded_blobs,
            report.uploaded_bytes,
            report.skipped_blobs
        );
    }
    Ok(())
}

/// ECR's login for the registry `target` names (the standard AWS setup; `AWS_ENDPOINT_URL`
/// points it at local-ecs), with the clients to ask ECR more.
async fn ecr_login(target: &ImageRef) -> Result<(Clients, RegistryLogin)> {
    let clients = Clients::load(&AwsOptions {
        endpoint_url: std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|url| !url.is_empty()),
        ..AwsOptions::default()
    })
    .await;
    let auth = ecr::registry_auth(&clients.ecr).await?;
    if auth.registry != target.registry {
        return Err(Failure::usage(format!(
            "ECR's registry is {}, but --push names {}",
            auth.registry, target.registry
        ))
        .into());
    }
    Ok((clients, auth.login))
}

/// The digest `tag` holds in the repository, if any (`DescribeImages`).
async fn tag_digest(clients: &Clients, target: &ImageRef, tag: &str) -> Result<Option<String>> {
    let selector = ecr::ImageSelector::Tag(tag.to_owned());
    Ok(ecr::image_digest(&clients.ecr, &target.repository, &selector).await?)
}

/// Credentials for `registry`: env first, then `~/.docker/config.json` `auths`.
fn registry_login(registry: &str) -> Result<Option<RegistryLogin>> {
    if let (Ok(username), Ok(password)) = (
        std::env::var("REGISTRY_USERNAME"),
        std::env::var("REGISTRY_PASSWORD"),
    ) {
        return Ok(Some(RegistryLogin {
            username,
            password: deploy_sdk::Secret::new(password),
        }));
    }
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|dir| dir.join("config.json"));
    let Some(text) = config.and_then(|path| std::fs::read_to_string(path).ok()) else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let Some(auth) = json["auths"][registry]["auth"].as_str() else {
        return Ok(None);
    };
    // base64("user:password"); a malformed entry is reported without its content.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Failure::usage(format!(
                "the Docker config entry for {registry} is not base64 of user:password"
            ))
        })?;
    let (username, password) = decoded.split_once(':').ok_or_else(|| {
        Failure::usage(format!("the Docker config entry for {registry} has no ':'"))
    })?;
    Ok(Some(RegistryLogin {
        username: username.to_owned(),
        password: deploy_sdk::Secret::new(password),
    }))
}
