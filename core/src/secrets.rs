//! Encryption at rest for connection configs (they hold passwords).
//! ChaCha20-Poly1305 with a random nonce per value; the key comes from
//! `FREIGHT_ENCRYPTION_KEY` or is derived from the JWT secret.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::connection::ConnectionConfig;

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A key given as 64 hex characters, or else any passphrase, hashed to 32 bytes.
    pub fn from_key_material(material: &str) -> Self {
        let key: [u8; 32] = match hex::decode(material) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                key
            }
            _ => Sha256::new()
                .chain_update(b"freight-connection-secrets:")
                .chain_update(material.as_bytes())
                .finalize()
                .into(),
        };
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption only fails for inputs beyond 256 GiB; configs are tiny.
        let ciphertext = self.cipher.encrypt(&nonce, plaintext).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE_LEN {
            return Err(StoreError::Secret);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| StoreError::Secret)
    }

    pub fn seal_connection(&self, config: &ConnectionConfig) -> Vec<u8> {
        // Serialising a plain struct of strings cannot fail.
        let json = serde_json::to_vec(config).unwrap_or_default();
        self.seal(&json)
    }

    pub fn open_connection(&self, sealed: &[u8]) -> Result<ConnectionConfig, StoreError> {
        let json = self.open(sealed)?;
        serde_json::from_slice(&json).map_err(|_| StoreError::Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_hide_the_plaintext() {
        let secret_box = SecretBox::from_key_material("dev key");
        let sealed = secret_box.seal(b"password=hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(secret_box.open(&sealed).unwrap(), b"password=hunter2");
        let other = SecretBox::from_key_material("another key");
        assert!(other.open(&sealed).is_err());
    }
}
