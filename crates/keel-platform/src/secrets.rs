//! Secrets Keel must be able to read back (webhook signing secrets, stored idempotent responses)
//! are sealed with a server key before they reach the database, so a copy of the database alone
//! gives nothing usable.
//!
//! Sealing is ChaCha20-Poly1305 (ring) with a random 96-bit nonce per value and the value's
//! purpose (`webhook.secret`) as associated data, so a sealed value cannot be moved to another
//! column. A sealed value reads `ks1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`; the key id
//! (the first 8 hex digits of the key's SHA-256) says which key opens it, so keys rotate: put the
//! new key first and keep the old ones as `previous` until every value has been rewritten.
//!
//! The key comes from configuration (`KEEL_SECRET_KEY`, 32 bytes in base64). Without one, Keel
//! makes a key file in its data directory on first start (mode 0600), which suits one node;
//! several nodes must share a configured key.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use std::sync::Arc;

const PREFIX: &str = "ks1";
const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("invalid secret key: {0}")]
    InvalidKey(String),
    #[error("cannot read or create the key file {path}: {cause}")]
    KeyFile { path: String, cause: String },
    #[error("a sealed value was made with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("a sealed value is corrupt or was altered")]
    Corrupt,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8]) -> Result<Key, SecretError> {
        if bytes.len() != 32 {
            return Err(SecretError::InvalidKey(format!("must be 32 bytes, got {}", bytes.len())));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let id = digest.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, bytes).map_err(|_| SecretError::InvalidKey("rejected".into()))?;
        Ok(Key { id, key: LessSafeKey::new(unbound) })
    }
}

/// Seals and opens secrets with the current key; opens with previous keys too.
#[derive(Clone)]
pub struct SecretBox {
    keys: Arc<Vec<Key>>,
    rng: SystemRandom,
}

fn decode_key(raw: &str) -> Result<Vec<u8>, SecretError> {
    STANDARD
        .decode(raw.trim())
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw.trim()))
        .map_err(|e| SecretError::InvalidKey(format!("not base64: {e}")))
}

impl SecretBox {
    /// A box from raw keys: the first seals, all open.
    pub fn from_keys(current: &[u8], previous: &[Vec<u8>]) -> Result<SecretBox, SecretError> {
        let mut keys = vec![Key::new(current)?];
        for k in previous {
            keys.push(Key::new(k)?);
        }
        Ok(SecretBox { keys: Arc::new(keys), rng: SystemRandom::new() })
    }

    /// The configured key (base64) and previous keys, or else the key file in `data_dir`, made
    /// on first use.
    pub fn configure(key: Option<&str>, previous: &[String], data_dir: &Path) -> Result<SecretBox, SecretError> {
        let previous = previous.iter().map(|p| decode_key(p)).collect::<Result<Vec<_>, _>>()?;
        let current = match key {
            Some(raw) => decode_key(raw)?,
            None => Self::key_file(data_dir)?,
        };
        Self::from_keys(&current, &previous)
    }

    fn key_file(dir: &Path) -> Result<Vec<u8>, SecretError> {
        let path = dir.join(KEY_FILE);
        let fail = |cause: String| SecretError::KeyFile { path: path.display().to_string(), cause };
        match std::fs::read_to_string(&path) {
            Ok(text) => return decode_key(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e.to_string())),
            Err(_) => {}
        }
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| fail("no randomness".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                std::io::Write::write_all(&mut file, format!("{}\n", STANDARD.encode(key)).as_bytes())
                    .map_err(|e| fail(e.to_string()))?;
                Ok(key.to_vec())
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                decode_key(&std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?)
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Seals `plain` for `purpose` with the current key.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        // SystemRandom only fails when the OS has no randomness, which nothing here survives.
        self.rng.fill(&mut nonce).expect("the operating system's random source");
        let mut data = plain.to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(purpose.as_bytes()), &mut data)
            .expect("sealing a bounded value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(out))
    }

    pub fn seal_str(&self, purpose: &str, plain: &str) -> String {
        self.seal(purpose, plain.as_bytes())
    }

    /// Whether a stored value is sealed (values written before sealing existed are not).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with("ks1.")
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(PREFIX), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Corrupt);
        };
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| SecretError::UnknownKey(id.to_string()))?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretError::Corrupt)?;
        if raw.len() < NONCE_LEN {
            return Err(SecretError::Corrupt);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Corrupt)?;
        let mut data = rest.to_vec();
        let plain =
            key.key.open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut data).map_err(|_| SecretError::Corrupt)?;
        Ok(plain.to_vec())
    }

    /// Opens a sealed string; a value stored before sealing existed is returned as it is.
    pub fn open_str(&self, purpose: &str, stored: &str) -> Result<String, SecretError> {
        if !Self::is_sealed(stored) {
            return Ok(stored.to_string());
        }
        String::from_utf8(self.open(purpose, stored)?).map_err(|_| SecretError::Corrupt)
    }

    /// A box with a random key (tests, and processes that never persist sealed values).
    pub fn ephemeral() -> SecretBox {
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).expect("the operating system's random source");
        Self::from_keys(&key, &[]).expect("a 32-byte key")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seals_and_opens_and_binds_the_purpose() {
        let b = SecretBox::ephemeral();
        let sealed = b.seal_str("webhook.secret", "whsec_abc");
        assert!(sealed.starts_with("ks1.") && !sealed.contains("whsec"));
        assert_ne!(sealed, b.seal_str("webhook.secret", "whsec_abc"), "a fresh nonce each time");
        assert_eq!(b.open_str("webhook.secret", &sealed).unwrap(), "whsec_abc");
        assert!(matches!(b.open_str("other.purpose", &sealed), Err(SecretError::Corrupt)));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(b.open_str("webhook.secret", &tampered).is_err());
        assert_eq!(b.open_str("webhook.secret", "whsec_legacy").unwrap(), "whsec_legacy");
    }

    #[test]
    fn keys_rotate() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let before = SecretBox::from_keys(&old, &[]).unwrap();
        let sealed = before.seal_str("p", "s");
        let after = SecretBox::from_keys(&new, &[old.to_vec()]).unwrap();
        assert_eq!(after.open_str("p", &sealed).unwrap(), "s");
        assert!(after.seal_str("p", "s").split('.').nth(1) != sealed.split('.').nth(1));
        let forgotten = SecretBox::from_keys(&new, &[]).unwrap();
        assert!(matches!(forgotten.open_str("p", &sealed), Err(SecretError::UnknownKey(_))));
    }

    #[test]
    fn the_key_file_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::configure(None, &[], dir.path()).unwrap();
        let b = SecretBox::configure(None, &[], dir.path()).unwrap();
        assert_eq!(b.open_str("p", &a.seal_str("p", "s")).unwrap(), "s");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(SecretBox::configure(Some("c2hvcnQ="), &[], dir.path()).is_err(), "a short key is refused");
    }
}
