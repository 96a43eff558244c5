//! The error every API operation returns: an AWS error code, a message, and whose fault it is.

use http::StatusCode;

/// An AWS-shaped API error; each protocol renders it in its own wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error code (`ClusterNotFoundException`, `TargetGroupNotFound`, ...).
    pub code: String,
    /// A message for people, saying what to change.
    pub message: String,
    /// The HTTP status the error is sent with.
    pub status: StatusCode,
    /// Whether the caller is at fault (`Sender`) or local-ecs is (`Receiver`).
    pub sender_fault: bool,
}

impl ApiError {
    /// A client error (HTTP 400) with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            sender_fault: true,
        }
    }

    /// Like [`ApiError::new`] with another HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A fault of local-ecs itself (HTTP 500).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            code: "ServerException".to_owned(),
            message: message.into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            sender_fault: false,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The result of an API operation.
pub type ApiResult<T> = Result<T, ApiError>;
