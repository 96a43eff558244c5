//! The access key of a state directory: generated on first start, kept in
//! `DIR/credentials.json` (0600), and the only key whose SigV4 signatures the API accepts.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The credentials file's name in the state directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// Base32, as in AWS access key ids (`AKIA` + 16 of these).
const KEY_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The characters of an AWS secret access key.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// An access key id and its secret. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl Credentials {
    /// A new random key: `AKIA` + 16 base32 characters, and a 40-character secret, from the
    /// thread's CSPRNG (ChaCha seeded by the operating system).
    pub fn generate() -> Credentials {
        let mut rng = rand::rng();
        let mut pick = |alphabet: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
                .collect()
        };
        Credentials {
            access_key_id: format!("AKIA{}", pick(KEY_ID_ALPHABET, 16)),
            secret_access_key: pick(SECRET_ALPHABET, 40),
        }
    }

    /// Known credentials (for tests).
    #[cfg(test)]
    pub(crate) fn new(access_key_id: &str, secret_access_key: &str) -> Credentials {
        Credentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
        }
    }

    /// The access key id (`AWS_ACCESS_KEY_ID`).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key (`AWS_SECRET_ACCESS_KEY`). Never log what this returns.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// Reads the credentials a local-ecs generated for `state_dir`.
    pub fn read(state_dir: &Path) -> anyhow::Result<Credentials> {
        let path = state_dir.join(CREDENTIALS_FILE);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        // The parser's message could quote the secret: it is not passed on.
        serde_json::from_slice(&bytes).map_err(|_| {
            anyhow::anyhow!(
                "{} is not a local-ecs credentials file; delete it and local-ecs generates a \
                 new key",
                path.display()
            )
        })
    }

    /// Reads the state directory's credentials, creating them (0600) on first start.
    /// Call with the directory locked: two creators would race.
    pub fn load_or_create(state_dir: &Path) -> anyhow::Result<Credentials> {
        let path = state_dir.join(CREDENTIALS_FILE);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => {
                let creds = Credentials::read(state_dir)?;
                crate::private_files::make_private(&path, false)?;
                Ok(creds)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let creds = Credentials::generate();
                let tmp = state_dir.join(format!("{CREDENTIALS_FILE}.tmp"));
                let mut file = crate::private_files::create_private(&tmp)
                    .with_context(|| format!("cannot create {}", tmp.display()))?;
                let json = serde_json::to_vec_pretty(&creds)?;
                file.write_all(&json)?;
                file.sync_data()?;
                std::fs::rename(&tmp, &path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                tracing::info!(path = %path.display(), access_key_id = %creds.access_key_id, "generated credentials");
                Ok(creds)
            }
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_look_like_aws_keys_and_differ() {
        let a = Credentials::generate();
        let b = Credentials::generate();
        assert_ne!(a, b);
        for c in [&a, &b] {
            assert_eq!(c.access_key_id().len(), 20);
            assert!(c.access_key_id().starts_with("AKIA"));
            assert!(
                c.access_key_id()
                    .bytes()
                    .skip(4)
                    .all(|x| KEY_ID_ALPHABET.contains(&x))
            );
            assert_eq!(c.secret_access_key().len(), 40);
            assert!(
                c.secret_access_key()
                    .bytes()
                    .all(|x| SECRET_ALPHABET.contains(&x))
            );
        }
        let debug = format!("{a:?}");
        assert!(!debug.contains(a.secret_access_key()), "{debug}");
        assert!(debug.contains(a.access_key_id()), "{debug}");
    }

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Credentials::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(CREDENTIALS_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Credentials::load_or_create(dir.path()).unwrap(), first);
        std::fs::write(&path, b"{}").unwrap();
        let err = Credentials::load_or_create(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("not a local-ecs credentials file"),
            "{err}"
        );
    }
}
