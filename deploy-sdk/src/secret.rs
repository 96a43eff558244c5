//! A string that never prints: ECR passwords and registry tokens.

use std::fmt;

/// A credential. `Debug` and `Display` show `***`; read it with [`Secret::expose`] only where it
/// is handed to the registry client.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What a secret value is shown as.
pub(crate) const MASK: &str = "****";

/// Whether an environment variable's name says its value is a credential: it contains
/// `TOKEN`, `SECRET`, `PASSWORD` or `KEY` (any case), so plans print `****` for its value.
pub(crate) fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "KEY"]
        .iter()
        .any(|word| upper.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_secret() {
        for (name, secret) in [
            ("API_TOKEN", true),
            ("db_password", true),
            ("ClientSecret", true),
            ("AWS_SECRET_ACCESS_KEY", true),
            ("SSH_KEY_PATH", true),
            ("monkey", true),
            ("GREETING", false),
            ("PORT", false),
            ("PASS", false),
            ("", false),
        ] {
            assert_eq!(looks_secret(name), secret, "{name}");
        }
    }

    #[test]
    fn never_prints_the_value() {
        let secret = Secret::new("hunter2-token");
        assert_eq!(
            format!("{secret} {secret:?} {secret:#?}"),
            "*** Secret(***) Secret(***)"
        );
        assert_eq!(secret.expose(), "hunter2-token");
    }
}
