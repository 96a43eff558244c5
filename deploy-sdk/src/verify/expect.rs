//! How an answer of the new build is recognised.

use crate::error::{Error, Result};

/// How an answer from the new build is recognised. At least one test must be set; every
/// test that is set must pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectation {
    /// Text the body of a new answer contains (e.g. the new greeting, HTML-escaped), within
    /// the first [`super::VerifyOptions::max_body_bytes`] of the body.
    pub body_contains: Option<String>,
    /// A header the new build sends, with its value (e.g. `x-app-version: <build id>`).
    pub header: Option<(String, String)>,
    /// Turns the tests round: an answer counts as "new" when it succeeds and does *not* pass
    /// them. After a rollback from a build that failed verification, this proves that
    /// another build (the one rolled back to) serves again. See [`Expectation::unlike`].
    pub unlike: bool,
}

impl Expectation {
    /// New answers carry `name: value`.
    pub fn header(name: impl Into<String>, value: impl Into<String>) -> Expectation {
        Expectation {
            header: Some((name.into(), value.into())),
            ..Expectation::default()
        }
    }

    /// New answers' bodies contain `text`.
    pub fn body(text: impl Into<String>) -> Expectation {
        Expectation {
            body_contains: Some(text.into()),
            ..Expectation::default()
        }
    }

    /// Answers from any build but the one this expectation recognises: the proof that a
    /// rollback took that build out of service.
    pub fn unlike(self) -> Expectation {
        Expectation {
            unlike: !self.unlike,
            ..self
        }
    }

    pub(super) fn check(&self) -> Result<()> {
        if self.body_contains.is_none() && self.header.is_none() {
            return Err(Error::InvalidInput {
                what: "verification".into(),
                problem: "nothing identifies the new build: expect a body text, a header, or both"
                    .into(),
            });
        }
        Ok(())
    }

    pub(super) fn matches(&self, headers: &reqwest::header::HeaderMap, body: &str) -> bool {
        let header_ok = self.header.as_ref().is_none_or(|(name, value)| {
            headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == value)
        });
        let body_ok = self
            .body_contains
            .as_ref()
            .is_none_or(|text| body.contains(text.as_str()));
        (header_ok && body_ok) != self.unlike
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_need_a_test() {
        assert!(Expectation::default().check().is_err());
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-app-version", "v2".parse().unwrap());
        let both = Expectation {
            body_contains: Some("Hi".into()),
            header: Some(("x-app-version".into(), "v2".into())),
            unlike: false,
        };
        assert!(both.matches(&headers, "Hi there"));
        assert!(!both.matches(&headers, "Hello"));
        assert!(!Expectation::header("x-app-version", "v3").matches(&headers, "Hi"));
        // Unlike the failed build: its answers no longer count, every other build's do.
        let not_v2 = Expectation::header("x-app-version", "v2").unlike();
        assert!(!not_v2.matches(&headers, "Hi"));
        assert!(not_v2.matches(&reqwest::header::HeaderMap::new(), "Hi"));
        assert!(!not_v2.clone().unlike().unlike);
    }
}
