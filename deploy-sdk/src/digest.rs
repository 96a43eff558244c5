//! Content digests: `sha256:<hex>`, the one algorithm this crate writes and accepts.

use std::fmt::Write as _;
use std::str::FromStr;

use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `data`, the form OCI digests take.
pub fn sha256_digest(data: &[u8]) -> String {
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in Sha256::digest(data) {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// `digest` if it is `sha256:` and 64 lowercase hex digits; else what is wrong with it.
pub(crate) fn parse_sha256(digest: &str) -> Result<Digest, String> {
    Digest::from_str(digest)
        .ok()
        .filter(|d| *d.algorithm() == DigestAlgorithm::Sha256)
        .ok_or_else(|| {
            format!("{digest:?} is not a sha256 digest (sha256: and 64 lowercase hex digits)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_data() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let digest = sha256_digest(b"hello");
        assert_eq!(parse_sha256(&digest).map(|d| d.to_string()), Ok(digest));
    }

    #[test]
    fn only_sha256_digests_are_accepted() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(parse_sha256(&format!("sha256:{hex}")).is_ok());
        for bad in [
            "".to_owned(),
            hex.clone(),
            "sha256:123".to_owned(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha512:{hex}{hex}"),
            format!("md5:{hex}"),
        ] {
            let err = parse_sha256(&bad).unwrap_err();
            assert!(err.contains("not a sha256 digest"), "{bad}: {err}");
        }
    }
}
