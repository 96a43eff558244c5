//! Amazon ECR: registry login, repositories, and whether an image is there.

use std::time::SystemTime;

use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability};
use base64::Engine;

use crate::Secret;
use crate::error::{Error, Result};
use crate::image::RegistryLogin;

mod token;

/// What a registry client needs to push to ECR.
#[derive(Debug, Clone)]
pub struct RegistryAuth {
    /// Registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`, or `127.0.0.1:PORT` for local-ecs).
    pub registry: String,
    /// User `AWS` and the token's password.
    pub login: RegistryLogin,
    /// When the token stops working (12 hours after issue on AWS).
    pub expires_at: Option<SystemTime>,
}

/// `GetAuthorizationToken`: the registry host and a login for it. The password is a
/// [`Secret`]: it never appears in Debug output, logs or errors — not even in the SDK's own
/// trace-level logs, as the token is taken out of the answer before the SDK reads it.
pub async fn registry_auth(ecr: &aws_sdk_ecr::Client) -> Result<RegistryAuth> {
    const ACTION: &str = "ecr:GetAuthorizationToken";
    let tokens = token::Tokens::default();
    let out = ecr
        .get_authorization_token()
        .customize()
        .interceptor(token::HideTokens::new(tokens.clone()))
        .send()
        .await
        .map_err(|e| Error::from_sdk(ACTION, e))?;
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| Error::Registry {
            registry: "ECR".into(),
            message: "GetAuthorizationToken returned no authorization data".into(),
        })?;
    let endpoint = data.proxy_endpoint().unwrap_or_default();
    let registry = endpoint
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    if registry.is_empty() {
        return Err(Error::Registry {
            registry: "ECR".into(),
            message: "GetAuthorizationToken returned no proxyEndpoint".into(),
        });
    }
    // The token of the first authorizationData, as the interceptor kept it.
    let token =
        tokens.take().into_iter().next().flatten().ok_or_else(|| {
            Error::incomplete_answer(ACTION, "no authorizationToken in the answer")
        })?;
    let password = password_of(token.expose()).ok_or_else(|| Error::Registry {
        registry: registry.clone(),
        message: "the authorization token is not base64 of USER:PASSWORD".into(),
    })?;
    Ok(RegistryAuth {
        registry: registry.clone(),
        login: RegistryLogin {
            username: password.0,
            password: password.1,
        },
        expires_at: data
            .expires_at()
            .and_then(|t| SystemTime::try_from(*t).ok()),
    })
}

/// The user and password in a token, base64("AWS:" + password). Errors never include the
/// token, so this says only whether it could be read.
fn password_of(token: &str) -> Option<(String, Secret)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some((username.to_owned(), Secret::new(password)))
}

/// A repository, as ECR describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// `registry/name`, what image references start with.
    pub uri: String,
    /// Its ARN.
    pub arn: String,
    /// Whether this call created it.
    pub created: bool,
}

/// Returns the repository `name`, creating it (with scan on push) when it does not exist.
pub async fn ensure_repository(ecr: &aws_sdk_ecr::Client, name: &str) -> Result<Repository> {
    match describe_repository(ecr, name).await? {
        Some(repo) => Ok(repo),
        None => {
            let created = ecr
                .create_repository()
                .repository_name(name)
                .image_tag_mutability(ImageTagMutability::Mutable)
                .image_scanning_configuration(
                    ImageScanningConfiguration::builder()
                        .scan_on_push(true)
                        .build(),
                )
                .send()
                .await;
            match created {
                Ok(out) => {
                    let repo = out.repository().ok_or_else(|| {
                        Error::incomplete_answer(
                            "ecr:CreateRepository",
                            "no repository in the response",
                        )
                    })?;
                    Ok(Repository {
                        uri: repo.repository_uri().unwrap_or_default().to_owned(),
                        arn: repo.repository_arn().unwrap_or_default().to_owned(),
                        created: true,
                    })
                }
                // Someone else created it in between: use theirs.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_repository_already_exists_exception()) =>
                {
                    describe_repository(ecr, name).await?.ok_or_else(|| {
                        Error::incomplete_answer(
                            "ecr:DescribeRepositories",
                            format!("repository {name} exists but cannot be described"),
                        )
                    })
                }
                Err(e) => Err(Error::from_sdk("ecr:CreateRepository", e)),
            }
        }
    }
}

async fn describe_repository(ecr: &aws_sdk_ecr::Client, name: &str) -> Result<Option<Repository>> {
    match ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.repositories().first().map(|repo| Repository {
            uri: repo.repository_uri().unwrap_or_default().to_owned(),
            arn: repo.repository_arn().unwrap_or_default().to_owned(),
            created: false,
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::from_sdk("ecr:DescribeRepositories", e)),
    }
}

/// Which image of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSelector {
    /// By tag.
    Tag(String),
    /// By digest (`sha256:…`).
    Digest(String),
}

impl ImageSelector {
    fn identifier(&self) -> ImageIdentifier {
        match self {
            ImageSelector::Tag(tag) => ImageIdentifier::builder().image_tag(tag).build(),
            ImageSelector::Digest(digest) => {
                ImageIdentifier::builder().image_digest(digest).build()
            }
        }
    }
}

/// `DescribeImages`: the digest of the image, or `None` when the repository has no such image.
pub async fn image_digest(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    image: &ImageSelector,
) -> Result<Option<String>> {
    match ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(image.identifier())
        .send()
        .await
    {
        Ok(out) => Ok(out
            .image_details()
            .first()
            .and_then(|d| d.image_digest())
            .map(str::to_owned)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_image_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::from_sdk("ecr:DescribeImages", e)),
    }
}

/// `BatchGetImage`: the image's digest and manifest, or `None` when it is not there.
pub async fn image_manifest(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    image: &ImageSelector,
) -> Result<Option<(String, String)>> {
    let out = ecr
        .batch_get_image()
        .repository_name(repository)
        .image_ids(image.identifier())
        .send()
        .await
        .map_err(|e| Error::from_sdk("ecr:BatchGetImage", e))?;
    Ok(out.images().first().and_then(|img| {
        let digest = img.image_id().and_then(|id| id.image_digest())?.to_owned();
        Some((digest, img.image_manifest()?.to_owned()))
    }))
}
