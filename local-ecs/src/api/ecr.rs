//! ECR (awsJson1_1, `AmazonEC2ContainerRegistry_V20150921`): repositories, registry login
//! tokens and the images pushed through the registry.

use std::time::{Duration, SystemTime};

use base64::Engine;
use serde_json::{Value, json};

use super::{Ctx, page};
use crate::clock::json_time;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ACCOUNT_ID, ecr_repository_arn};
use crate::protocol::json::Input;
use crate::state::{Repository, State};

/// How long a GetAuthorizationToken password works, as on ECR.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Serves one ECR operation.
pub fn handle(ctx: &Ctx, op: &str, input: &Value) -> ApiResult<Value> {
    match op {
        "CreateRepository" => create_repository(ctx, input),
        "DescribeRepositories" => describe_repositories(ctx, input),
        "DeleteRepository" => delete_repository(ctx, input),
        "GetAuthorizationToken" => get_authorization_token(ctx),
        "DescribeImages" => describe_images(ctx, input),
        "BatchGetImage" => batch_get_image(ctx, input),
        other => Err(ApiError::new(
            "UnknownOperationException",
            format!(
                "local-ecs does not implement the ECR operation {other}; it serves \
                 CreateRepository, DescribeRepositories, DeleteRepository, \
                 GetAuthorizationToken, DescribeImages and BatchGetImage"
            ),
        )),
    }
}

/// ECR's repository name rule: lowercase path components of `[a-z0-9]` runs separated by
/// `.`, `_` or `-`, joined by `/`; 2 to 256 characters.
pub fn valid_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len())
        && name.split('/').all(|component| {
            !component.is_empty()
                && component.split(['.', '_', '-']).all(|run| {
                    !run.is_empty()
                        && run
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
        })
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        "RepositoryNotFoundException",
        format!(
            "The repository with name '{name}' does not exist in the registry with id '{ACCOUNT_ID}'"
        ),
    )
}

fn check_registry_id(input: &Value) -> ApiResult<()> {
    match input.opt_str("registryId")? {
        Some(id) if id != ACCOUNT_ID => Err(ApiError::new(
            "InvalidParameterException",
            format!("registryId {id} is not this registry; local-ecs is account {ACCOUNT_ID}"),
        )),
        _ => Ok(()),
    }
}

fn render_repository(ctx: &Ctx, repo: &Repository) -> Value {
    json!({
        "repositoryArn": repo.arn,
        "registryId": ACCOUNT_ID,
        "repositoryName": repo.name,
        "repositoryUri": format!("{}/{}", ctx.shared.registry_host(), repo.name),
        "createdAt": json_time(repo.created_at),
        "imageTagMutability": repo.tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": repo.scan_on_push},
        "encryptionConfiguration": repo.encryption,
    })
}

fn create_repository(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    check_registry_id(input)?;
    let name = input.req_str("repositoryName")?;
    if !valid_repository_name(name) {
        return Err(ApiError::new(
            "InvalidParameterException",
            format!(
                "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must \
                 satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*' \
                 and be 2 to 256 characters' (got {name:?})"
            ),
        ));
    }
    let mutability = input.opt_str("imageTagMutability")?.unwrap_or("MUTABLE");
    if !["MUTABLE", "IMMUTABLE"].contains(&mutability) {
        return Err(ApiError::new(
            "InvalidParameterException",
            format!("imageTagMutability must be MUTABLE or IMMUTABLE, got {mutability:?}"),
        ));
    }
    let scan_on_push = input
        .get("imageScanningConfiguration")
        .map(|c| c.opt_bool("scanOnPush"))
        .transpose()?
        .flatten()
        .unwrap_or(false);
    let encryption = input
        .get("encryptionConfiguration")
        .cloned()
        .unwrap_or_else(|| json!({"encryptionType": "AES256"}));
    let mut state = ctx.shared.lock();
    if state.repositories.contains_key(name) {
        return Err(ApiError::new(
            "RepositoryAlreadyExistsException",
            format!(
                "The repository with name '{name}' already exists in the registry with id '{ACCOUNT_ID}'"
            ),
        ));
    }
    let repo = Repository {
        name: name.to_owned(),
        arn: ecr_repository_arn(&ctx.region, name),
        created_at: SystemTime::now(),
        tag_mutability: mutability.to_owned(),
        scan_on_push,
        encryption,
        tags: input.get("tags").cloned().unwrap_or_else(|| json!([])),
        images: Default::default(),
        image_tags: Default::default(),
        blobs: Default::default(),
    };
    let rendered = render_repository(ctx, &repo);
    state.repositories.insert(name.to_owned(), repo);
    state.dirty = true;
    Ok(json!({"repository": rendered}))
}

fn describe_repositories(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    check_registry_id(input)?;
    let names = input.str_list("repositoryNames")?;
    let state = ctx.shared.lock();
    let repos: Vec<&Repository> = if names.is_empty() {
        state.repositories.values().collect()
    } else {
        names
            .iter()
            .map(|n| state.repositories.get(*n).ok_or_else(|| not_found(n)))
            .collect::<ApiResult<_>>()?
    };
    let rendered: Vec<Value> = repos.iter().map(|r| render_repository(ctx, r)).collect();
    let (items, next) = page(
        &rendered,
        input.opt_i64("maxResults")?,
        input.opt_str("nextToken")?,
        1000,
    )?;
    Ok(json!({"repositories": items, "nextToken": next}))
}

fn delete_repository(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    check_registry_id(input)?;
    let name = input.req_str("repositoryName")?;
    let force = input.opt_bool("force")?.unwrap_or(false);
    let mut state = ctx.shared.lock();
    let repo = state
        .repositories
        .get(name)
        .ok_or_else(|| not_found(name))?;
    if !force && !repo.images.is_empty() {
        return Err(ApiError::new(
            "RepositoryNotEmptyException",
            format!(
                "The repository with name '{name}' in registry with id '{ACCOUNT_ID}' cannot be \
                 deleted because it still contains images"
            ),
        ));
    }
    let rendered = render_repository(ctx, repo);
    state.repositories.remove(name);
    state.dirty = true;
    Ok(json!({"repository": rendered}))
}

fn get_authorization_token(ctx: &Ctx) -> ApiResult<Value> {
    let password = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let now = SystemTime::now();
    let expires_at = now + TOKEN_LIFETIME;
    {
        let mut state = ctx.shared.lock();
        state.auth_tokens.retain(|t| t.expires_at > now);
        // Bounded: a client asking for a token before every push must not grow the state.
        if state.auth_tokens.len() >= 1000 {
            state.auth_tokens.remove(0);
        }
        state.auth_tokens.push(crate::state::AuthToken {
            password: password.clone(),
            expires_at,
        });
        state.dirty = true;
    }
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    Ok(json!({"authorizationData": [{
        "authorizationToken": token,
        "expiresAt": json_time(expires_at),
        "proxyEndpoint": format!("http://{}", ctx.shared.registry_host()),
    }]}))
}

fn image_detail(repo: &Repository, digest: &str) -> Option<Value> {
    let record = repo.images.get(digest)?;
    let tags: Vec<&String> = repo
        .image_tags
        .iter()
        .filter(|(_, d)| d.as_str() == digest)
        .map(|(t, _)| t)
        .collect();
    let mut detail = json!({
        "registryId": ACCOUNT_ID,
        "repositoryName": repo.name,
        "imageDigest": digest,
        "imageSizeInBytes": record.size,
        "imagePushedAt": json_time(record.pushed_at),
        "imageManifestMediaType": record.media_type,
    });
    if !tags.is_empty() {
        detail["imageTags"] = json!(tags);
    }
    if let Some(artifact) = &record.artifact_media_type {
        detail["artifactMediaType"] = json!(artifact);
    }
    Some(detail)
}

fn image_id_text(id: &Value) -> String {
    let part = |k: &str| {
        id.get(k)
            .and_then(Value::as_str)
            .map(|s| format!("'{s}'"))
            .unwrap_or_else(|| "'null'".into())
    };
    format!(
        "{{imageDigest:{}, imageTag:{}}}",
        part("imageDigest"),
        part("imageTag")
    )
}

/// Resolves an `imageId` to a digest: `Ok(None)` if absent, `Err(code)` if inconsistent.
fn resolve_image_id(repo: &Repository, id: &Value) -> Result<Option<String>, &'static str> {
    let digest = id.get("imageDigest").and_then(Value::as_str);
    let tag = id.get("imageTag").and_then(Value::as_str);
    match (digest, tag) {
        (None, None) => Err("MissingDigestAndTag"),
        (Some(d), None) => Ok(repo.images.contains_key(d).then(|| d.to_owned())),
        (None, Some(t)) => Ok(repo.image_tags.get(t).cloned()),
        (Some(d), Some(t)) => match repo.image_tags.get(t) {
            Some(tagged) if tagged == d => Ok(Some(d.to_owned())),
            Some(_) => Err("ImageTagDoesNotMatchDigest"),
            None => Ok(None),
        },
    }
}

fn repository<'s>(state: &'s State, input: &Value) -> ApiResult<&'s Repository> {
    check_registry_id(input)?;
    let name = input.req_str("repositoryName")?;
    state.repositories.get(name).ok_or_else(|| not_found(name))
}

fn describe_images(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let state = ctx.shared.lock();
    let repo = repository(&state, input)?;
    let ids = input.list("imageIds")?;
    let mut details = Vec::new();
    if ids.is_empty() {
        let tag_status = input
            .get("filter")
            .map(|f| f.opt_str("tagStatus"))
            .transpose()?
            .flatten()
            .unwrap_or("ANY");
        let mut records: Vec<(&String, &crate::state::ImageRecord)> = repo.images.iter().collect();
        records.sort_by_key(|(_, r)| r.pushed_at);
        for (digest, _) in records {
            let tagged = repo.image_tags.values().any(|d| d == digest);
            let keep = match tag_status {
                "TAGGED" => tagged,
                "UNTAGGED" => !tagged,
                _ => true,
            };
            if keep && let Some(detail) = image_detail(repo, digest) {
                details.push(detail);
            }
        }
    } else {
        for id in ids {
            let digest = resolve_image_id(repo, id).map_err(|code| {
                ApiError::new(
                    "InvalidParameterException",
                    format!("imageId {}: {code}", image_id_text(id)),
                )
            })?;
            let detail = digest.and_then(|d| image_detail(repo, &d)).ok_or_else(|| {
                ApiError::new(
                    "ImageNotFoundException",
                    format!(
                        "The image with imageId {} does not exist within the repository with \
                         name '{}' in the registry with id '{ACCOUNT_ID}'",
                        image_id_text(id),
                        repo.name
                    ),
                )
            })?;
            details.push(detail);
        }
    }
    let (items, next) = page(
        &details,
        input.opt_i64("maxResults")?,
        input.opt_str("nextToken")?,
        1000,
    )?;
    Ok(json!({"imageDetails": items, "nextToken": next}))
}

/// A BatchGetImage lookup: (digest, media type) if found, or a failure code.
type Lookup = Result<Option<(String, String)>, &'static str>;

fn batch_get_image(ctx: &Ctx, input: &Value) -> ApiResult<Value> {
    let (repo_name, lookups) = {
        let state = ctx.shared.lock();
        let repo = repository(&state, input)?;
        let ids = input.list("imageIds")?;
        if ids.is_empty() {
            return Err(ApiError::new(
                "InvalidParameterException",
                "imageIds must name at least one image.",
            ));
        }
        let lookups: Vec<(Value, Lookup)> = ids
            .iter()
            .map(|id| {
                let found = resolve_image_id(repo, id).map(|d| {
                    d.and_then(|d| {
                        repo.images
                            .get(&d)
                            .map(|r| (d.clone(), r.media_type.clone()))
                    })
                });
                (id.clone(), found)
            })
            .collect();
        (repo.name.clone(), lookups)
    };
    let accepted = input.str_list("acceptedMediaTypes")?;
    let mut images = Vec::new();
    let mut failures = Vec::new();
    for (id, found) in lookups {
        match found {
            Ok(Some((digest, media_type))) => {
                if !accepted.is_empty() && !accepted.contains(&media_type.as_str()) {
                    failures.push(json!({"imageId": id, "failureCode": "UnsupportedImageType",
                        "failureReason": format!("The image's media type {media_type} is not among acceptedMediaTypes")}));
                    continue;
                }
                let manifest = ctx
                    .shared
                    .store
                    .blob_path(&digest)
                    .and_then(|p| std::fs::read(p).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| ApiError::internal(format!("manifest {digest} is missing from the blob store")))?;
                let mut image_id = json!({"imageDigest": digest});
                if let Some(tag) = id.get("imageTag") {
                    image_id["imageTag"] = tag.clone();
                }
                images.push(json!({
                    "registryId": ACCOUNT_ID,
                    "repositoryName": repo_name,
                    "imageId": image_id,
                    "imageManifest": manifest,
                    "imageManifestMediaType": media_type,
                }));
            }
            Ok(None) => failures.push(json!({"imageId": id, "failureCode": "ImageNotFound", "failureReason": "Requested image not found"})),
            Err(code) => failures.push(json!({"imageId": id, "failureCode": code, "failureReason": code})),
        }
    }
    Ok(json!({"images": images, "failures": failures}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_ecr_rules() {
        for ok in ["hello-ecr-repo", "team/app", "a1", "a.b_c-d/e"] {
            assert!(valid_repository_name(ok), "{ok}");
        }
        for bad in ["A", "x", "Hello", "a//b", "-a", "a-", "a..b", "/a"] {
            assert!(!valid_repository_name(bad), "{bad}");
        }
    }
}
