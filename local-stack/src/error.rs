//! One error: the AWS call that failed and what the service said.

use std::fmt;

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An AWS call that failed, or answered without what it must return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The API action, e.g. `elasticloadbalancing:CreateTargetGroup`.
    pub action: &'static str,
    /// The error code, when the service sent one.
    pub code: Option<String>,
    /// What the service or the SDK said.
    pub message: String,
}

impl Error {
    /// The error of an SDK call of `action`.
    pub(crate) fn from_sdk<E, R>(action: &'static str, err: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        let message = match err.message() {
            Some(message) => message.to_owned(),
            // No service message (a connection error, say): the whole chain says what failed.
            None => {
                let mut text = err.to_string();
                let mut source = std::error::Error::source(&err);
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                text
            }
        };
        Error {
            action,
            code,
            message,
        }
    }

    /// A successful answer of `action` without `what`.
    pub(crate) fn missing(action: &'static str, what: &str) -> Error {
        Error {
            action,
            code: None,
            message: format!("the response has no {what}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: ", self.action)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
