//! The AWS clients, all from one loaded `SdkConfig`, so the standard setup just works:
//! profiles, SSO, environment credentials, region, `AWS_ENDPOINT_URL` and the per-service
//! `AWS_ENDPOINT_URL_ECS` / `_ECR` / `_ELASTIC_LOAD_BALANCING_V2`. Every client has timeouts,
//! so a call that hangs fails (as a transient error the watch retries) instead of stalling.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::Secret;

/// How to reach AWS; every field is optional and falls back to the standard AWS setup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    /// Region (else `AWS_REGION` / the profile's region).
    pub region: Option<String>,
    /// Named profile (else `AWS_PROFILE` / `default`).
    pub profile: Option<String>,
    /// One endpoint for every service (else `AWS_ENDPOINT_URL*`), e.g. a local-ecs URL.
    pub endpoint_url: Option<String>,
    /// Use fixed dummy credentials: for test servers that check no signatures.
    pub dummy_credentials: bool,
    /// Sign with this key instead of the standard credential chain (e.g. the key local-ecs
    /// generated for its state directory). Takes precedence over `dummy_credentials`.
    pub static_credentials: Option<StaticCredentials>,
    /// Timeouts of every call (defaults: [`AwsTimeouts::default`]).
    pub timeouts: AwsTimeouts,
}

/// A fixed access key. `Debug` never shows the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id (`AKIA...`).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
}

impl StaticCredentials {
    /// A key from its id and secret.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        StaticCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
        }
    }

    /// The SDK's form of the key.
    fn to_sdk(&self) -> aws_sdk_ecs::config::Credentials {
        aws_sdk_ecs::config::Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose(),
            None,
            None,
            "deploy-sdk static credentials",
        )
    }
}

/// Timeouts of every AWS call. The control-plane calls a deploy makes answer in well under a
/// second; these bound a call that never answers. A timed-out call is a transient error
/// ([`crate::Error::is_transient`]): the watch retries it at its next poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsTimeouts {
    /// Establishing a TCP (and TLS) connection. Default 3 s.
    pub connect: Duration,
    /// Waiting for data on an open connection. Default 10 s.
    pub read: Duration,
    /// One attempt, from sending the request to the parsed answer. Default 10 s.
    pub attempt: Duration,
    /// The whole call: every attempt and the backoff between them. Default 30 s.
    pub operation: Duration,
}

impl Default for AwsTimeouts {
    fn default() -> Self {
        AwsTimeouts {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(10),
            attempt: Duration::from_secs(10),
            operation: Duration::from_secs(30),
        }
    }
}

impl AwsTimeouts {
    /// The SDK's form of these timeouts.
    pub fn to_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// Retries: adaptive, so throttling slows the client down instead of failing the deploy.
pub const MAX_ATTEMPTS: u32 = 5;

/// Loads the shared SDK configuration.
pub async fn load_sdk_config(options: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(options.timeouts.to_config());
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(credentials) = &options.static_credentials {
        loader = loader.credentials_provider(credentials.to_sdk());
    } else if options.dummy_credentials {
        loader = loader.test_credentials();
    }
    if options.static_credentials.is_some() || options.dummy_credentials {
        // A local endpoint has no profile to take a region from.
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
    /// Clients sharing one configuration. Timeouts it leaves unset get
    /// [`AwsTimeouts::default`]'s, so no client of a deploy waits forever.
    pub fn new(config: &SdkConfig) -> Clients {
        let timeouts = with_defaults(config.timeout_config());
        Clients {
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(config)
                    .timeout_config(timeouts.clone())
                    .build(),
            ),
            ecr: aws_sdk_ecr::Client::from_conf(
                aws_sdk_ecr::config::Builder::from(config)
                    .timeout_config(timeouts.clone())
                    .build(),
            ),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(config)
                    .timeout_config(timeouts)
                    .build(),
            ),
        }
    }

    /// Loads the configuration described by `options` and builds the clients.
    pub async fn load(options: &AwsOptions) -> Clients {
        Clients::new(&load_sdk_config(options).await)
    }
}

/// `configured`, with the timeouts it leaves unset taken from the defaults.
fn with_defaults(configured: Option<&TimeoutConfig>) -> TimeoutConfig {
    let mut timeouts = configured
        .cloned()
        .unwrap_or_else(|| TimeoutConfig::builder().build());
    timeouts.take_defaults_from(&AwsTimeouts::default().to_config());
    timeouts
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::Error;
    use crate::service::{ServiceRef, describe_service};

    fn timeouts_of(clients: &Clients) -> [Option<TimeoutConfig>; 3] {
        [
            clients.ecs.config().timeout_config().cloned(),
            clients.ecr.config().timeout_config().cloned(),
            clients.elb.config().timeout_config().cloned(),
        ]
    }

    #[tokio::test]
    async fn every_client_has_the_timeouts_asked_for_or_the_defaults() {
        let defaults = AwsTimeouts::default().to_config();
        let loaded = Clients::load(&AwsOptions {
            dummy_credentials: true,
            ..AwsOptions::default()
        })
        .await;
        assert_eq!(
            timeouts_of(&loaded),
            [(); 3].map(|_| Some(defaults.clone()))
        );

        // A configuration made elsewhere keeps what it sets and gets the rest.
        let own = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .build();
        for timeouts in timeouts_of(&Clients::new(&own)) {
            let timeouts = timeouts.unwrap();
            assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(5)));
            assert_eq!(
                timeouts.operation_attempt_timeout(),
                Some(Duration::from_secs(10))
            );
            assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(3)));
            assert_eq!(timeouts.read_timeout(), Some(Duration::from_secs(10)));
        }
    }

    #[tokio::test]
    async fn static_credentials_sign_and_never_print() {
        use aws_sdk_ecs::config::ProvideCredentials;
        let options = AwsOptions {
            static_credentials: Some(StaticCredentials::new("AKIATESTKEY", "s3cr3t-value/x+y")),
            dummy_credentials: true,
            ..AwsOptions::default()
        };
        let printed = format!("{options:?} {options:#?}");
        assert!(printed.contains("AKIATESTKEY"), "{printed}");
        assert!(!printed.contains("s3cr3t-value"), "{printed}");
        let config = load_sdk_config(&options).await;
        let provider = config
            .credentials_provider()
            .expect("a credentials provider");
        let credentials = provider.provide_credentials().await.unwrap();
        assert_eq!(credentials.access_key_id(), "AKIATESTKEY");
        assert_eq!(credentials.secret_access_key(), "s3cr3t-value/x+y");
        assert!(config.region().is_some());
    }

    /// An endpoint on 127.0.0.1 that accepts connections and never answers.
    async fn silent_endpoint() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_call_that_never_answers_fails_as_transient_within_the_operation_timeout() {
        let operation = Duration::from_millis(1500);
        let clients = Clients::load(&AwsOptions {
            region: Some("us-east-1".into()),
            endpoint_url: Some(silent_endpoint().await),
            dummy_credentials: true,
            timeouts: AwsTimeouts {
                connect: Duration::from_secs(1),
                read: Duration::from_millis(400),
                attempt: Duration::from_millis(400),
                operation,
            },
            ..AwsOptions::default()
        })
        .await;
        // Only a missing timeout reaches this bound, never a slow machine.
        let hang = operation * 3 + Duration::from_secs(10);
        let service = ServiceRef::new("dev-cluster", "hello-ecs");
        let started = Instant::now();
        let ecs = tokio::time::timeout(hang, describe_service(&clients.ecs, &service)).await;
        let ecs_took = started.elapsed();
        let ecr = tokio::time::timeout(hang, crate::ecr::registry_auth(&clients.ecr)).await;
        let elb = tokio::time::timeout(hang, clients.elb.describe_target_groups().send()).await;

        let elb = elb.map(|r| {
            r.map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeTargetGroups", e))
        });
        for (name, result) in [
            ("ecs", ecs.map(|r| r.map(|_| ()))),
            ("ecr", ecr.map(|r| r.map(|_| ()))),
            ("elb", elb.map(|r| r.map(|_| ()))),
        ] {
            let err = result
                .unwrap_or_else(|_| panic!("{name}: the call hung past {hang:?}"))
                .unwrap_err();
            assert!(err.is_transient(), "{name}: {err:?}");
            assert!(err.to_string().contains("timeout"), "{name}: {err}");
        }
        assert!(ecs_took >= Duration::from_millis(400), "{ecs_took:?}");
    }
}
