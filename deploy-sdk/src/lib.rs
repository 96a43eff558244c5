//! deploy-sdk: rolling updates on Amazon ECS that never call a rollback a success.

#![warn(missing_docs)]

mod aws;
pub mod ecr;
mod error;
pub mod image;
pub mod imagedefs;
pub mod registry;
pub mod rollout;
mod secret;
pub mod service;
pub mod targets;
pub mod taskdef;

pub use aws::{AwsOptions, Clients, MAX_ATTEMPTS, load_sdk_config};
pub use error::{Error, Result};
pub use secret::Secret;
