//! The AWS clients, all from one loaded `SdkConfig`, so the standard setup just works:
//! profiles, SSO, environment credentials, region, `AWS_ENDPOINT_URL` and the per-service
//! `AWS_ENDPOINT_URL_ECS` / `_ECR` / `_ELASTIC_LOAD_BALANCING_V2`.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// How to reach AWS; every field is optional and falls back to the standard AWS setup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    /// Region (else `AWS_REGION` / the profile's region).
    pub region: Option<String>,
    /// Named profile (else `AWS_PROFILE` / `default`).
    pub profile: Option<String>,
    /// One endpoint for every service (else `AWS_ENDPOINT_URL*`), e.g. a local-ecs URL.
    pub endpoint_url: Option<String>,
    /// Use fixed dummy credentials: for local-ecs, which checks no signatures.
    pub dummy_credentials: bool,
}

/// Retries: adaptive, so throttling slows the client down instead of failing the deploy.
pub const MAX_ATTEMPTS: u32 = 5;

/// Loads the shared SDK configuration.
pub async fn load_sdk_config(options: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS));
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if options.dummy_credentials {
        loader = loader.test_credentials();
        if options.region.is_none()
            && std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::from_static("us-east-1"));
        }
    }
    loader.load().await
}

/// The three service clients a deploy needs.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Amazon ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// Amazon ECR.
    pub ecr: aws_sdk_ecr::Client,
    /// Elastic Load Balancing v2.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl Clients {
    /// Clients sharing one configuration.
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            ecs: aws_sdk_ecs::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
        }
    }

    /// Loads the configuration described by `options` and builds the clients.
    pub async fn load(options: &AwsOptions) -> Clients {
        Clients::new(&load_sdk_config(options).await)
    }
}
