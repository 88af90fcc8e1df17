//! Encryption at rest for connection configs (they hold passwords).
//! ChaCha20-Poly1305 with a random nonce per value and the owning tenant,
//! job and side as associated data, so a sealed config copied into another
//! row does not open there. The key comes from `FREIGHT_ENCRYPTION_KEY`;
//! `FREIGHT_PREVIOUS_ENCRYPTION_KEY` still opens what an earlier key sealed
//! until `freight reseal` has re-sealed it.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::connection::ConnectionConfig;
use crate::ids::{JobId, TenantId};

const NONCE_LEN: usize = 12;

/// Version of sealed configs written today (`jobs.configs_sealed_version`):
/// 1 had no associated data and is re-sealed at start-up.
pub const SEAL_VERSION: i16 = 2;

/// Which row and side a sealed config belongs to: its associated data.
#[derive(Debug, Clone, Copy)]
pub struct SealBinding<'a> {
    pub tenant: &'a TenantId,
    pub job: JobId,
    /// `source` or `target`.
    pub side: &'static str,
}

impl SealBinding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "freight-connection:v{SEAL_VERSION}:{}:{}:{}",
            self.tenant, self.job, self.side
        )
        .into_bytes()
    }
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// Keys that may still open values (rotation); never used to seal.
    previous: Vec<ChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A key given as 64 hex characters, or else any passphrase, hashed to 32 bytes.
    pub fn from_key_material(material: &str) -> Self {
        Self {
            cipher: Self::cipher(material),
            previous: Vec::new(),
        }
    }

    /// Also opens values sealed with `material` (the key before a rotation).
    pub fn with_previous_key(mut self, material: &str) -> Self {
        self.previous.push(Self::cipher(material));
        self
    }

    fn cipher(material: &str) -> ChaCha20Poly1305 {
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
        ChaCha20Poly1305::new(Key::from_slice(&key))
    }

    /// Seals `plaintext` with the current key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption only fails for inputs beyond 256 GiB; configs are tiny.
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Opens a value sealed with the current or a previous key and `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE_LEN {
            return Err(StoreError::Secret);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        std::iter::once(&self.cipher)
            .chain(&self.previous)
            .find_map(|cipher| {
                cipher
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: ciphertext,
                            aad,
                        },
                    )
                    .ok()
            })
            .ok_or(StoreError::Secret)
    }

    pub fn seal_connection(&self, config: &ConnectionConfig, binding: SealBinding<'_>) -> Vec<u8> {
        // Serialising a plain struct of strings cannot fail.
        let json = serde_json::to_vec(config).unwrap_or_default();
        self.seal(&json, &binding.associated_data())
    }

    /// Opens a config sealed for exactly this tenant, job and side.
    pub fn open_connection(
        &self,
        sealed: &[u8],
        binding: SealBinding<'_>,
    ) -> Result<ConnectionConfig, StoreError> {
        let json = self.open(sealed, &binding.associated_data())?;
        serde_json::from_slice(&json).map_err(|_| StoreError::Secret)
    }

    /// Opens a config sealed before configs were bound to their row
    /// (version 1), only to re-seal it.
    pub fn open_unbound_connection(&self, sealed: &[u8]) -> Result<ConnectionConfig, StoreError> {
        let json = self.open(sealed, &[])?;
        serde_json::from_slice(&json).map_err(|_| StoreError::Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_hide_the_plaintext() {
        let secret_box = SecretBox::from_key_material("dev key");
        let sealed = secret_box.seal(b"password=hunter2", b"row 1");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            secret_box.open(&sealed, b"row 1").unwrap(),
            b"password=hunter2"
        );
        assert!(
            secret_box.open(&sealed, b"row 2").is_err(),
            "bound to its row"
        );
        let other = SecretBox::from_key_material("another key");
        assert!(other.open(&sealed, b"row 1").is_err());
        let rotated = other.with_previous_key("dev key");
        assert_eq!(
            rotated.open(&sealed, b"row 1").unwrap(),
            b"password=hunter2"
        );
    }
}
