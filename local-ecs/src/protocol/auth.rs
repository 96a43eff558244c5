//! The SigV4 `Authorization` header: required, never verified, read for its region.

use crate::error::ApiError;
use crate::ids::DEFAULT_REGION;

/// The region named in the credential scope of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/ecs/aws4_request, ...`).
///
/// A missing header is an AWS-shaped authentication error; a header without a readable scope
/// falls back to us-east-1. Signatures are not checked: local-ecs holds no secrets.
pub fn region_from_authorization(header: Option<&str>) -> Result<String, ApiError> {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(ApiError::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token: sign the request with SigV4 (any credentials work \
             against local-ecs)",
        )
        .with_status(http::StatusCode::FORBIDDEN));
    };
    let region = header
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|part| part.strip_prefix("Credential="))
        .and_then(|credential| credential.split('/').nth(2))
        .filter(|region| {
            !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or(DEFAULT_REGION);
    Ok(region.to_owned())
}

/// The service named in the credential scope of a SigV4 `Authorization` header (`ecs`,
/// `elasticloadbalancing`, `monitoring`, ...), if it has a readable one.
pub fn scope_service(header: Option<&str>) -> Option<&str> {
    header?
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|part| part.strip_prefix("Credential="))
        .and_then(|credential| credential.split('/').nth(3))
        .filter(|service| !service.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_credential_scope() {
        let h = "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/ecs/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(region_from_authorization(Some(h)).unwrap(), "eu-west-1");
        assert_eq!(scope_service(Some(h)), Some("ecs"));
        assert_eq!(scope_service(Some("Bearer x")), None);
        assert_eq!(
            region_from_authorization(Some("Bearer x")).unwrap(),
            "us-east-1"
        );
        let err = region_from_authorization(None).unwrap_err();
        assert_eq!(err.code, "MissingAuthenticationTokenException");
    }
}
