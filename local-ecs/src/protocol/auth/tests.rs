use std::time::UNIX_EPOCH;

use aws_sigv4::http_request::SignableBody;

use super::*;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn creds() -> Credentials {
    Credentials::new(KEY_ID, SECRET)
}

/// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn check(headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<Verified, AuthError> {
    let uri: Uri = "/".parse().unwrap();
    let request = SignedRequest {
        method: &Method::POST,
        uri: &uri,
        headers,
        body,
    };
    verify(&creds(), request, now)
}

/// Signs `POST /` with `body` as a client would (the SDK's signer), with `secret`.
fn signed(secret: &str, body: &[u8], content_sha256: Option<&str>) -> HeaderMap {
    let mut pairs = vec![
        ("host", "127.0.0.1:4580"),
        ("x-amz-date", "20150830T123600Z"),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    if let Some(sha) = content_sha256 {
        pairs.push((CONTENT_SHA256, sha));
    }
    let signable_body = match content_sha256 {
        Some(UNSIGNED_PAYLOAD) => SignableBody::UnsignedPayload,
        Some(sha) => SignableBody::Precomputed(sha.to_owned()),
        None => SignableBody::Bytes(body),
    };
    let identity = aws_credential_types::Credentials::new(KEY_ID, secret, None, None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("ecs")
        .time(suite_time())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "POST",
        "http://127.0.0.1:4580/",
        pairs.iter().copied(),
        signable_body,
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut map = headers(&pairs);
    for (name, value) in instructions.headers() {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

#[test]
fn aws_test_suite_vector_verifies() {
    // get-vanilla from AWS's SigV4 test suite.
    let map = headers(&[
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
    ]);
    let uri: Uri = "/".parse().unwrap();
    let request = SignedRequest {
        method: &Method::GET,
        uri: &uri,
        headers: &map,
        body: b"",
    };
    let verified = verify(&creds(), request, suite_time()).unwrap();
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.service, "service");
}

#[test]
fn a_signed_body_verifies_and_a_changed_one_does_not() {
    let body = br#"{"cluster":"c"}"#;
    let map = signed(SECRET, body, None);
    let verified = check(&map, body, suite_time()).unwrap();
    assert_eq!(verified.region, "eu-west-1");
    assert_eq!(verified.service, "ecs");
    assert_eq!(
        check(&map, br#"{"cluster":"d"}"#, suite_time()),
        Err(AuthError::BadSignature(MISMATCH.into()))
    );
}

#[test]
fn a_declared_payload_hash_is_checked_and_unsigned_payload_accepted() {
    let body = b"Action=DescribeLoadBalancers&Version=2015-12-01";
    let sha = hex(&Sha256::digest(body));
    let map = signed(SECRET, body, Some(&sha));
    assert!(check(&map, body, suite_time()).is_ok());
    let err = check(&map, b"Action=Other", suite_time()).unwrap_err();
    assert!(
        matches!(&err, AuthError::BadSignature(m) if m.contains("x-amz-content-sha256")),
        "{err:?}"
    );
    let map = signed(SECRET, body, Some(UNSIGNED_PAYLOAD));
    assert!(check(&map, b"anything", suite_time()).is_ok());
}

#[test]
fn a_wrong_secret_or_key_id_is_refused() {
    let body = b"{}";
    let map = signed("not-the-secret", body, None);
    assert_eq!(
        check(&map, body, suite_time()),
        Err(AuthError::BadSignature(MISMATCH.into()))
    );
    let other = Credentials::new("AKIAOTHER", SECRET);
    let map = signed(SECRET, body, None);
    let uri: Uri = "/".parse().unwrap();
    let request = SignedRequest {
        method: &Method::POST,
        uri: &uri,
        headers: &map,
        body,
    };
    assert_eq!(
        verify(&other, request, suite_time()),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn old_and_future_signatures_are_refused_beyond_15_minutes() {
    let body = b"{}";
    let map = signed(SECRET, body, None);
    let minutes = |m: u64| Duration::from_secs(m * 60);
    assert!(check(&map, body, suite_time() + minutes(14)).is_ok());
    assert!(check(&map, body, suite_time() - minutes(14)).is_ok());
    let err = check(&map, body, suite_time() + minutes(16)).unwrap_err();
    assert_eq!(
        err,
        AuthError::BadSignature(
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z \
             (20150830T125200Z - 15 min.)"
                .into()
        )
    );
    let err = check(&map, body, suite_time() - minutes(16)).unwrap_err();
    assert!(
        matches!(&err, AuthError::BadSignature(m) if m.starts_with("Signature not yet current")),
        "{err:?}"
    );
}

#[test]
fn malformed_headers_are_incomplete_and_a_missing_one_is_missing() {
    let now = suite_time();
    assert_eq!(check(&headers(&[]), b"", now), Err(AuthError::Missing));
    let base = [("host", "localhost"), ("x-amz-date", "20150830T123600Z")];
    let with = |auth: &str| {
        let mut pairs = base.to_vec();
        pairs.push(("authorization", auth));
        headers(&pairs)
    };
    for (auth, says) in [
        ("Bearer abc", "Unsupported Authorization algorithm"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request",
            "requires 'Signature' parameter",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/us-east-1, SignedHeaders=host, Signature=00",
            "exactly 5 slash-delimited elements",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, \
             SignedHeaders=x-amz-date, Signature=00",
            "'Host' must be a 'SignedHeader'",
        ),
    ] {
        let err = check(&with(auth), b"", now).unwrap_err();
        assert!(
            matches!(&err, AuthError::Incomplete(m) if m.contains(says)),
            "{auth}: {err:?}"
        );
    }
    let no_date = headers(&[(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, \
         SignedHeaders=host, Signature=00",
    )]);
    assert!(matches!(
        check(&no_date, b"", now),
        Err(AuthError::Incomplete(m)) if m.contains("'X-Amz-Date'")
    ));
}

#[test]
fn errors_are_named_as_each_protocol_names_them() {
    let cases = [
        (
            AuthError::Missing,
            "MissingAuthenticationTokenException",
            403,
            "MissingAuthenticationToken",
            403,
        ),
        (
            AuthError::UnknownKey,
            "UnrecognizedClientException",
            400,
            "InvalidClientTokenId",
            403,
        ),
        (
            AuthError::BadSignature(MISMATCH.into()),
            "InvalidSignatureException",
            400,
            "SignatureDoesNotMatch",
            403,
        ),
        (
            AuthError::Incomplete("x".into()),
            "IncompleteSignature",
            400,
            "IncompleteSignature",
            400,
        ),
    ];
    for (err, json_code, json_status, query_code, query_status) in cases {
        let json = err.to_api_error(Family::Json);
        assert_eq!(
            (json.code.as_str(), json.status.as_u16()),
            (json_code, json_status)
        );
        let query = err.to_api_error(Family::Query);
        assert_eq!(
            (query.code.as_str(), query.status.as_u16()),
            (query_code, query_status)
        );
    }
    assert_eq!(
        AuthError::UnknownKey.to_api_error(Family::Json).message,
        "The security token included in the request is invalid."
    );
}

#[test]
fn scope_service_and_region_names() {
    let h = "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/monitoring/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc";
    assert_eq!(scope_service(Some(h)), Some("monitoring"));
    assert_eq!(scope_service(Some("Bearer x")), None);
    assert_eq!(region_name("eu-west-1"), "eu-west-1");
    assert_eq!(region_name("EU WEST"), DEFAULT_REGION);
}
