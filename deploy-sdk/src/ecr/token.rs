//! GetAuthorizationToken without the token in any log.
//!
//! The ECR model does not mark `authorizationToken` sensitive, so with `RUST_LOG=trace` the
//! SDK's orchestrator (aws-smithy-runtime) logs the token twice: the response body it read
//! ("read HTTP response body", redacted only when the config bag holds `SensitiveOutput` and
//! `LOG_SENSITIVE_BODIES` is not `true`), and the parsed output's derived `Debug`
//! (`output_or_error`). This interceptor runs before both: it swaps the answer's body for one
//! that, once read, has every `authorizationToken` replaced by [`HIDDEN`], and keeps the tokens
//! aside as [`Secret`]s. What the SDK reads, logs and parses never holds a token; neither does
//! the output it returns. (The earlier "received response from service" trace prints the body
//! while it is still an unread stream: no bytes.)

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::SensitiveOutput;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use http_body::Frame;
use serde_json::Value;

use crate::Secret;

/// What the SDK sees in place of each token.
pub(super) const HIDDEN: &str = "hidden-by-deploy-sdk";

/// The tokens of the last answer, in the order of its `authorizationData`.
#[derive(Debug, Clone, Default)]
pub(super) struct Tokens(Arc<Mutex<Vec<Option<Secret>>>>);

impl Tokens {
    /// Takes the tokens kept so far.
    pub(super) fn take(&self) -> Vec<Option<Secret>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn replace(&self, tokens: Vec<Option<Secret>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = tokens;
    }
}

/// The interceptor for one GetAuthorizationToken call.
#[derive(Debug)]
pub(super) struct HideTokens {
    tokens: Tokens,
}

impl HideTokens {
    /// Keeps the tokens it takes out of the answer in `tokens`.
    pub(super) fn new(tokens: Tokens) -> HideTokens {
        HideTokens { tokens }
    }
}

impl Intercept for HideTokens {
    fn name(&self) -> &'static str {
        "HideEcrAuthorizationTokens"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The SDK's own redaction of the body it logs, for good measure (the body is
        // tokenless anyway, even with LOG_SENSITIVE_BODIES=true).
        cfg.interceptor_state().store_put(SensitiveOutput);
        let body = context.response_mut().body_mut();
        let answer = std::mem::replace(body, SdkBody::taken());
        *body = SdkBody::from_body_1_x(Tokenless {
            answer,
            read: Vec::new(),
            tokens: self.tokens.clone(),
            state: State::Reading,
        });
        Ok(())
    }
}

enum State {
    Reading,
    Done,
}

/// The answer's body, read whole, then handed on without its tokens.
struct Tokenless {
    answer: SdkBody,
    read: Vec<u8>,
    tokens: Tokens,
    state: State,
}

impl http_body::Body for Tokenless {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let State::Done = this.state {
            return Poll::Ready(None);
        }
        loop {
            match ready!(Pin::new(&mut this.answer).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.read.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => break,
            }
        }
        this.state = State::Done;
        let read = std::mem::take(&mut this.read);
        let (body, tokens) = without_tokens(read);
        this.tokens.replace(tokens);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(body)))))
    }
}

/// The JSON answer with each `authorizationData[].authorizationToken` replaced by [`HIDDEN`],
/// and the tokens. An answer that is not such JSON (an error) has no token: kept as is.
fn without_tokens(body: Vec<u8>) -> (Vec<u8>, Vec<Option<Secret>>) {
    let Ok(mut json) = serde_json::from_slice::<Value>(&body) else {
        return (body, Vec::new());
    };
    let Some(data) = json
        .get_mut("authorizationData")
        .and_then(Value::as_array_mut)
    else {
        return (body, Vec::new());
    };
    let tokens = data
        .iter_mut()
        .map(|item| {
            let token = item.get_mut("authorizationToken")?;
            let secret = token.as_str().map(Secret::new);
            *token = Value::String(HIDDEN.to_owned());
            secret
        })
        .collect();
    // Serialising a Value cannot fail; were it to, an empty answer still holds no token.
    let body = serde_json::to_vec(&json).unwrap_or_else(|_| b"{}".to_vec());
    (body, tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_taken_out_in_order_and_nothing_else_changes() {
        let answer = serde_json::json!({ "authorizationData": [
            { "authorizationToken": "QVdTOmZpcnN0", "proxyEndpoint": "https://one", "expiresAt": 1.8e9 },
            { "proxyEndpoint": "https://two" },
            { "authorizationToken": "QVdTOnRoaXJk" },
        ]});
        let (body, tokens) = without_tokens(serde_json::to_vec(&answer).unwrap());
        let text = String::from_utf8(body).unwrap();
        assert!(!text.contains("QVdT"), "{text}");
        let mut expected = answer.clone();
        expected["authorizationData"][0]["authorizationToken"] = HIDDEN.into();
        expected["authorizationData"][2]["authorizationToken"] = HIDDEN.into();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
        let tokens: Vec<Option<&str>> = tokens
            .iter()
            .map(|t| t.as_ref().map(Secret::expose))
            .collect();
        assert_eq!(tokens, [Some("QVdTOmZpcnN0"), None, Some("QVdTOnRoaXJk")]);
    }

    #[test]
    fn other_answers_pass_unchanged() {
        for body in [
            &br#"{"__type":"ServerException","message":"try again"}"#[..],
            b"<html>502</html>",
            b"",
        ] {
            let (out, tokens) = without_tokens(body.to_vec());
            assert_eq!(out, body);
            assert!(tokens.is_empty());
        }
    }
}
