//! ECR resources: repositories with the images and blobs linked to them, and registry
//! passwords.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An image manifest stored in a repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The manifest's media type.
    pub media_type: String,
    /// `imageSizeInBytes`: the manifest's layers and config (or its own size for an index).
    pub size: u64,
    /// `imagePushedAt`.
    pub pushed_at: SystemTime,
    /// The config's media type (`artifactMediaType`).
    pub artifact_media_type: Option<String>,
}

/// An ECR repository and the registry content linked to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repository {
    /// `repositoryName`.
    pub name: String,
    /// `repositoryArn`.
    pub arn: String,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `imageTagMutability`: MUTABLE or IMMUTABLE.
    pub tag_mutability: String,
    /// `imageScanningConfiguration.scanOnPush`.
    pub scan_on_push: bool,
    /// `encryptionConfiguration`.
    pub encryption: Value,
    /// `tags` as sent.
    pub tags: Value,
    /// Manifests by digest.
    pub images: BTreeMap<String, ImageRecord>,
    /// Tags: tag → manifest digest.
    pub image_tags: BTreeMap<String, String>,
    /// Blobs pushed to (or mounted into) this repository.
    pub blobs: BTreeSet<String>,
}

/// A registry password from GetAuthorizationToken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthToken {
    /// The password (user is always `AWS`).
    pub password: String,
    /// When it stops working.
    pub expires_at: SystemTime,
}
