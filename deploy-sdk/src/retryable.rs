//! Which SDK errors are worth retrying, decided the way the AWS SDK's own retry classifiers
//! decide (aws-smithy-runtime's `TransientErrorClassifier`, `ModeledAsRetryableClassifier` and
//! `HttpStatusCodeClassifier`, aws-runtime's `AwsErrorCodeClassifier`), so that an error the
//! SDK gave up retrying is judged by the same rules when a watch decides to poll through it.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{ErrorKind, ProvideErrorKind};

/// HTTP statuses the SDK retries whatever the error code (`HttpStatusCodeClassifier`'s
/// defaults).
const TRANSIENT_STATUS_CODES: [u16; 4] = [500, 502, 503, 504];

/// The kind of retryable error `err` is, or `None` when retrying cannot help (a refused
/// request, a missing resource, a request that could not be built).
pub(crate) fn error_kind<E>(err: &SdkError<E, HttpResponse>) -> Option<ErrorKind>
where
    E: ProvideErrorKind + ProvideErrorMetadata,
{
    match err {
        // No answer in time, or an answer that could not be read.
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Some(ErrorKind::TransientError),
        SdkError::DispatchFailure(failure) if failure.is_timeout() || failure.is_io() => {
            Some(ErrorKind::TransientError)
        }
        // A connector says what an "other" failure is; a user error (bad endpoint, bad
        // certificate) stays one.
        SdkError::DispatchFailure(failure) => failure.as_other(),
        SdkError::ServiceError(context) => {
            let error = context.err();
            let code = ProvideErrorMetadata::code(error);
            error
                .retryable_error_kind()
                .or_else(|| {
                    code.filter(|c| THROTTLING_ERRORS.contains(c))
                        .map(|_| ErrorKind::ThrottlingError)
                })
                .or_else(|| {
                    code.filter(|c| TRANSIENT_ERRORS.contains(c))
                        .map(|_| ErrorKind::TransientError)
                })
                .or_else(|| {
                    TRANSIENT_STATUS_CODES
                        .contains(&context.raw().status().as_u16())
                        .then_some(ErrorKind::TransientError)
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    type EcsError = SdkError<DescribeServicesError, HttpResponse>;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn service_error(status: u16, code: &str) -> EcsError {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        SdkError::service_error(DescribeServicesError::generic(meta), response(status))
    }

    #[test]
    fn kinds_of_failures_without_an_answer() {
        use ErrorKind::*;
        let cases: [(&str, EcsError, Option<ErrorKind>); 7] = [
            (
                "timeout",
                SdkError::timeout_error("slow"),
                Some(TransientError),
            ),
            (
                "unreadable answer",
                SdkError::response_error("truncated", response(200)),
                Some(TransientError),
            ),
            (
                "connection reset",
                SdkError::dispatch_failure(ConnectorError::io("reset".into())),
                Some(TransientError),
            ),
            (
                "connect timeout",
                SdkError::dispatch_failure(ConnectorError::timeout("slow".into())),
                Some(TransientError),
            ),
            (
                "bad endpoint",
                SdkError::dispatch_failure(ConnectorError::user("no such host".into())),
                None,
            ),
            (
                "other, classed by the connector",
                SdkError::dispatch_failure(ConnectorError::other(
                    "challenge".into(),
                    Some(ClientError),
                )),
                Some(ClientError),
            ),
            (
                "request not built",
                SdkError::construction_failure("no region"),
                None,
            ),
        ];
        for (name, err, want) in cases {
            assert_eq!(error_kind(&err), want, "{name}");
        }
    }

    #[test]
    fn kinds_of_service_errors() {
        use ErrorKind::*;
        let cases = [
            (400, "ThrottlingException", Some(ThrottlingError)),
            (400, "RequestLimitExceeded", Some(ThrottlingError)),
            (429, "TooManyRequestsException", Some(ThrottlingError)),
            (400, "RequestTimeoutException", Some(TransientError)),
            (500, "ServerException", Some(TransientError)),
            (500, "InternalFailure", Some(TransientError)),
            (503, "ServiceUnavailable", Some(TransientError)),
            (502, "", Some(TransientError)),
            (504, "", Some(TransientError)),
            (400, "AccessDeniedException", None),
            (400, "ClusterNotFoundException", None),
            (400, "InvalidParameterException", None),
            (404, "", None),
            (501, "", None),
        ];
        for (status, code, want) in cases {
            assert_eq!(
                error_kind(&service_error(status, code)),
                want,
                "{status} {code}"
            );
        }
    }

    /// An error whose model says it is retryable (Smithy's `@retryable`).
    #[derive(Debug)]
    struct Modeled;

    impl std::fmt::Display for Modeled {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("modeled")
        }
    }

    impl std::error::Error for Modeled {}

    impl ProvideErrorKind for Modeled {
        fn retryable_error_kind(&self) -> Option<ErrorKind> {
            Some(ErrorKind::ServerError)
        }

        fn code(&self) -> Option<&str> {
            Some("ModeledRetryableException")
        }
    }

    impl ProvideErrorMetadata for Modeled {
        fn meta(&self) -> &ErrorMetadata {
            static META: std::sync::OnceLock<ErrorMetadata> = std::sync::OnceLock::new();
            META.get_or_init(|| {
                ErrorMetadata::builder()
                    .code("ModeledRetryableException")
                    .build()
            })
        }
    }

    #[test]
    fn the_model_decides_first() {
        let err = SdkError::service_error(Modeled, response(400));
        assert_eq!(error_kind(&err), Some(ErrorKind::ServerError));
    }
}
