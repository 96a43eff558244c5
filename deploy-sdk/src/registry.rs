//! Image references: `registry/repository[:tag|@digest]`.

use std::fmt;

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

impl ImageRef {
    /// Parses `registry/repository[:tag][@digest]`.
    pub fn parse(reference: &str) -> Result<ImageRef> {
        let invalid = |problem: &str| Error::InvalidInput {
            what: format!("image reference {reference:?}"),
            problem: format!("{problem} (expected registry/repository[:tag][@sha256:digest])"),
        };
        let reference = reference.trim();
        if reference.is_empty() || reference.contains(char::is_whitespace) {
            return Err(invalid("empty or contains whitespace"));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest
                    .strip_prefix("sha256:")
                    .ok_or_else(|| invalid("the digest must start with sha256:"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("the digest must be sha256: and 64 hex digits"));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (reference, None),
        };
        // A ':' after the last '/' starts a tag; one before it is a registry port.
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(rest[colon + 1..].to_owned()))
            }
            _ => (rest, None),
        };
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !tag.starts_with(['.', '-']);
            if !valid {
                return Err(invalid("the tag may hold up to 128 of A-Z a-z 0-9 . _ -"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_owned(), path.to_owned())
            }
            Some(_) => ("docker.io".to_owned(), name.to_owned()),
            None => ("docker.io".to_owned(), format!("library/{name}")),
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if !valid_repo {
            return Err(invalid(
                "the repository must be lowercase letters, digits, '.', '_', '-' and '/'",
            ));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
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
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
