//! Image references: `registry/repository[:tag|@digest]`, parsed by `oci-client`.

use std::fmt;
use std::net::Ipv6Addr;

use oci_client::{ParseError, Reference};

use crate::error::{Error, Result};

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host with optional port (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`,
    /// `127.0.0.1:4580`). Docker Hub references get `docker.io`.
    pub registry: String,
    /// Repository path (`hello-ecr-repo`, `library/nginx`).
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Digest (`sha256:…`), if given.
    pub digest: Option<String>,
}

/// The form every parse error names.
const EXPECTED: &str = "expected registry/repository[:tag][@sha256:digest]";

impl ImageRef {
    /// Parses `registry/repository[:tag][@digest]`.
    pub fn parse(reference: &str) -> Result<ImageRef> {
        let invalid = |problem: &str| Error::InvalidInput {
            what: format!("image reference {reference:?}"),
            problem: format!("{problem} ({EXPECTED})"),
        };
        let reference = reference.trim();
        if reference.is_empty() || reference.contains(char::is_whitespace) {
            return Err(invalid("empty or contains whitespace"));
        }
        // The digest is checked first: the grammar below would only call it "invalid format".
        if let Some((_, digest)) = reference.split_once('@') {
            crate::digest::parse_sha256(digest).map_err(|problem| invalid(&problem))?;
        }
        // oci-client's grammar has no IPv6 literals: parse with a stand-in host, then put the
        // literal back.
        let ipv6 = ipv6_host(reference);
        let parseable = match ipv6 {
            Some(host) => reference.replacen(host, "localhost", 1),
            None => reference.to_owned(),
        };
        let parsed =
            Reference::try_from(parseable.as_str()).map_err(|e| invalid(&parse_problem(&e)))?;
        let registry = match ipv6 {
            Some(host) => parsed.registry().replacen("localhost", host, 1),
            None => parsed.registry().to_owned(),
        };
        // oci-client says `latest` when neither tag nor digest is given; what a missing tag
        // means is the caller's choice.
        let tag = parsed
            .tag()
            .filter(|tag| parsed.digest().is_some() || parseable.ends_with(&format!(":{tag}")));
        Ok(ImageRef {
            registry,
            repository: parsed.repository().to_owned(),
            tag: tag.map(str::to_owned),
            digest: parsed.digest().map(str::to_owned),
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn repository_uri(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// This repository with `digest` pinned: `registry/repository@sha256:…`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository_uri())
    }

    /// Whether the registry is on this machine (plain HTTP is allowed only there).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => self.registry.split(':').next().unwrap_or_default(),
        };
        host == "localhost" || host == "::1" || host.starts_with("127.")
    }
}

/// The bracketed IPv6 host a reference starts with (`[::1]` of `[::1]:5000/repo`), if any.
fn ipv6_host(reference: &str) -> Option<&str> {
    let end = reference.strip_prefix('[')?.find(']')? + 2;
    let host = &reference[..end];
    host[1..end - 1].parse::<Ipv6Addr>().ok()?;
    Some(host)
}

/// What is wrong, in words that say what is allowed.
fn parse_problem(err: &ParseError) -> String {
    match err {
        ParseError::DigestInvalidFormat
        | ParseError::DigestInvalidLength
        | ParseError::DigestUnsupported => "the digest must be sha256: and 64 hex digits".into(),
        ParseError::TagInvalidFormat => {
            "the tag may hold up to 128 of A-Z a-z 0-9 . _ - and not start with . or -".into()
        }
        ParseError::NameEmpty => "the repository name is empty".into(),
        ParseError::NameTooLong => "the repository name is longer than 255 characters".into(),
        ParseError::NameContainsUppercase | ParseError::ReferenceInvalidFormat => {
            "the repository must be lowercase letters and digits, separated by '.', '_', '-' \
             or '/', and the tag up to 128 of A-Z a-z 0-9 . _ - not starting with . or -"
                .into()
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository_uri())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_the_usual_forms() {
        let cases = [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-ecr-repo:abc1234",
                (
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                    "hello-ecr-repo",
                    Some("abc1234"),
                    None,
                ),
            ),
            (
                "127.0.0.1:4580/hello-ecr-repo",
                ("127.0.0.1:4580", "hello-ecr-repo", None, None),
            ),
            (
                "localhost:5000/team/app:latest",
                ("localhost:5000", "team/app", Some("latest"), None),
            ),
            ("nginx", ("docker.io", "library/nginx", None, None)),
            (
                "bitnami/redis:7",
                ("docker.io", "bitnami/redis", Some("7"), None),
            ),
        ];
        for (input, (registry, repository, tag, digest)) in cases {
            let r = ImageRef::parse(input).unwrap();
            assert_eq!(
                (
                    r.registry.as_str(),
                    r.repository.as_str(),
                    r.tag.as_deref(),
                    r.digest.as_deref()
                ),
                (registry, repository, tag, digest),
                "{input}"
            );
        }
        let pinned = ImageRef::parse(&format!("127.0.0.1:4580/repo@{DIGEST}")).unwrap();
        assert_eq!(pinned.digest.as_deref(), Some(DIGEST));
        assert_eq!(pinned.to_string(), format!("127.0.0.1:4580/repo@{DIGEST}"));
        assert!(pinned.is_loopback());
        assert!(!ImageRef::parse("example.com/repo").unwrap().is_loopback());
        assert!(ImageRef::parse("[::1]:5000/repo").unwrap().is_loopback());
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "repo:",
            "Repo/Upper",
            "host/repo:bad tag",
            "host/repo@sha256:123",
            "host/repo:-x",
            "host//repo",
        ] {
            let Err(err) = ImageRef::parse(bad) else {
                panic!("{bad:?} accepted");
            };
            assert!(
                err.to_string()
                    .contains("expected registry/repository[:tag][@sha256:digest]"),
                "{err}"
            );
        }
        let err = ImageRef::parse("host/repo@sha256:123").unwrap_err();
        assert!(err.to_string().contains("not a sha256 digest"), "{err}");
        let err = ImageRef::parse("host/Repo").unwrap_err();
        assert!(err.to_string().contains("must be lowercase"), "{err}");
    }

    #[test]
    fn tags_are_kept_only_when_given() {
        let cases = [
            ("[::1]:5000/repo:v1", ("[::1]:5000", Some("v1"))),
            ("[::1]/repo", ("[::1]", None)),
            (
                "localhost:5000/app:latest",
                ("localhost:5000", Some("latest")),
            ),
            ("localhost:5000/app", ("localhost:5000", None)),
        ];
        for (input, (registry, tag)) in cases {
            let r = ImageRef::parse(input).unwrap();
            assert_eq!(
                (r.registry.as_str(), r.tag.as_deref()),
                (registry, tag),
                "{input}"
            );
            assert_eq!(r.to_string(), input);
        }
        let both = ImageRef::parse(&format!("example.com/team/app:v2@{DIGEST}")).unwrap();
        assert_eq!(
            (both.tag.as_deref(), both.digest.as_deref()),
            (Some("v2"), Some(DIGEST))
        );
    }
}
