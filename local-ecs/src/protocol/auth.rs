//! SigV4: every API request is signed with the state directory's key, checked here by
//! computing the signature it should carry with the SDK's own signer (`aws-sigv4`).
//!
//! The errors are AWS's: JSON and CBOR services name them `MissingAuthenticationTokenException`,
//! `UnrecognizedClientException`, `InvalidSignatureException` and `IncompleteSignature`;
//! awsQuery services `MissingAuthenticationToken`, `InvalidClientTokenId`,
//! `SignatureDoesNotMatch` and `IncompleteSignature`.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderMap, Method, StatusCode, Uri};
use sha2::{Digest, Sha256};

use crate::credentials::Credentials;
use crate::error::ApiError;
use crate::ids::DEFAULT_REGION;

/// How far a request's `X-Amz-Date` may be from now, as on AWS.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Which names a protocol gives the authentication errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// awsJson and Smithy RPC v2 CBOR.
    Json,
    /// awsQuery.
    Query,
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header without the parts SigV4 needs (the message says which).
    Incomplete(String),
    /// Signed with an access key id local-ecs did not issue.
    UnknownKey,
    /// A wrong signature, or a right one from too long ago (the message says which).
    BadSignature(String),
}

/// AWS's message for a signature that does not match.
pub const MISMATCH: &str = "The request signature we calculated does not match the signature \
    you provided. Check your AWS Secret Access Key and signing method. Consult the service \
    documentation for details.";

impl AuthError {
    /// The error as the request's protocol names it.
    pub fn to_api_error(&self, family: Family) -> ApiError {
        let json = family == Family::Json;
        let (code, message, status) = match self {
            AuthError::Missing => (
                if json {
                    "MissingAuthenticationTokenException"
                } else {
                    "MissingAuthenticationToken"
                },
                "Missing Authentication Token: sign the request with SigV4 using the key in the \
                 state directory's credentials.json (`cargo xtask local env` prints it)"
                    .to_owned(),
                StatusCode::FORBIDDEN,
            ),
            AuthError::Incomplete(message) => (
                "IncompleteSignature",
                message.clone(),
                StatusCode::BAD_REQUEST,
            ),
            AuthError::UnknownKey => (
                if json {
                    "UnrecognizedClientException"
                } else {
                    "InvalidClientTokenId"
                },
                "The security token included in the request is invalid.".to_owned(),
                if json {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            AuthError::BadSignature(message) => (
                if json {
                    "InvalidSignatureException"
                } else {
                    "SignatureDoesNotMatch"
                },
                message.clone(),
                if json {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
        };
        ApiError::new(code, message).with_status(status)
    }
}

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authorization<'a> {
    key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, AuthError> {
    let (algorithm, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!(
            "Unsupported Authorization algorithm {algorithm:?}: local-ecs accepts {ALGORITHM}"
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let missing: Vec<String> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
    ]
    .iter()
    .filter(|(_, missing)| *missing)
    .map(|(name, _)| format!("Authorization header requires '{name}' parameter."))
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthError::Incomplete(missing.join(" ")));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(AuthError::Incomplete(format!(
            "Credential should have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/aws4_request, got '{credential}'"
        )));
    };
    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    if !signed_headers.contains(&"host") {
        return Err(AuthError::Incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    Ok(Authorization {
        key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// A request that passed: the region and service of its credential scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The region it was signed for (us-east-1 when the scope's is not a region name).
    pub region: String,
    /// The service it was signed for (`ecs`, `elasticloadbalancing`, `monitoring`, ...).
    pub service: String,
}

/// The parts of a request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its target (path and query).
    pub uri: &'a Uri,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its whole body.
    pub body: &'a [u8],
}

/// Verifies a request's SigV4 signature against `credentials` at time `now`.
pub fn verify(
    credentials: &Credentials,
    request: SignedRequest<'_>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let header = request
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or_default().trim())
        .filter(|h| !h.is_empty())
        .ok_or(AuthError::Missing)?;
    let auth = parse_authorization(header)?;
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            AuthError::Incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header."
                    .into(),
            )
        })?;
    let signed_at = parse_amz_date(amz_date)?;
    if !constant_time_eq(
        auth.key_id.as_bytes(),
        credentials.access_key_id().as_bytes(),
    ) {
        return Err(AuthError::UnknownKey);
    }
    check_skew(amz_date, signed_at, now)?;
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(AuthError::BadSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        )));
    }
    let expected = expected_signature(credentials, &auth, request, signed_at)?;
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(AuthError::BadSignature(MISMATCH.into()));
    }
    Ok(Verified {
        region: region_name(auth.region).to_owned(),
        service: auth.service.to_owned(),
    })
}

/// `YYYYMMDDTHHMMSSZ` → the instant.
fn parse_amz_date(value: &str) -> Result<SystemTime, AuthError> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, format)
        .map(|t| SystemTime::from(t.assume_utc()))
        .map_err(|_| {
            AuthError::Incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn check_skew(amz_date: &str, signed_at: SystemTime, now: SystemTime) -> Result<(), AuthError> {
    let basic = |t: SystemTime| {
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        time::OffsetDateTime::from(t)
            .format(format)
            .unwrap_or_default()
    };
    if signed_at + MAX_SKEW < now {
        return Err(AuthError::BadSignature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            basic(now - MAX_SKEW),
            basic(now)
        )));
    }
    if signed_at > now + MAX_SKEW {
        return Err(AuthError::BadSignature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            basic(now + MAX_SKEW),
            basic(now)
        )));
    }
    Ok(())
}

/// The signature the request would carry had it been signed with `credentials`: the signed
/// headers as received, the body (or the `x-amz-content-sha256` the client declared, once
/// checked against the body).
fn expected_signature(
    credentials: &Credentials,
    auth: &Authorization<'_>,
    request: SignedRequest<'_>,
    signed_at: SystemTime,
) -> Result<String, AuthError> {
    let mismatch = || AuthError::BadSignature(MISMATCH.into());
    let mut headers = Vec::new();
    for name in &auth.signed_headers {
        for value in request.headers.get_all(*name) {
            headers.push((*name, value.to_str().map_err(|_| mismatch())?));
        }
    }
    let body = match request
        .headers
        .get(CONTENT_SHA256)
        .map(|v| v.to_str().unwrap_or_default())
    {
        None => SignableBody::Bytes(request.body),
        Some(UNSIGNED_PAYLOAD) => SignableBody::UnsignedPayload,
        Some(declared) => {
            let actual = hex(&Sha256::digest(request.body));
            if declared != actual {
                return Err(AuthError::BadSignature(
                    "The provided 'x-amz-content-sha256' header does not match what was \
                     computed."
                        .into(),
                ));
            }
            SignableBody::Precomputed(actual)
        }
    };
    let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = format!("http://local-ecs{target}");
    let signable = SignableRequest::new(request.method.as_str(), &uri, headers.into_iter(), body)
        .map_err(|_| mismatch())?;
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        None,
        None,
        "local-ecs",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Exactly the headers the client signed are given: none is to be left out.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let output = sign(signable, &params).map_err(|_| mismatch())?;
    Ok(output.signature().to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The credential scope's region if it is a region name, else us-east-1.
fn region_name(region: &str) -> &str {
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid { region } else { DEFAULT_REGION }
}

/// Compares secrets without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The service named in the credential scope of a SigV4 `Authorization` header (`ecs`,
/// `elasticloadbalancing`, `monitoring`, ...), if it has a readable one: which awsQuery
/// service an unauthenticated request was meant for, to answer in its XML namespace.
pub fn scope_service(header: Option<&str>) -> Option<&str> {
    header?
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|part| part.strip_prefix("Credential="))
        .and_then(|credential| credential.split('/').nth(3))
        .filter(|service| !service.is_empty())
}

#[cfg(test)]
mod tests;
