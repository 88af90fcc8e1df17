//! Webhooks as the Standard Webhooks specification defines them: event
//! types, `whsec_` signing secrets, and the `v1` signature of a delivery.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Events a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum WebhookEventType {
    #[serde(rename = "job.completed")]
    JobCompleted,
    #[serde(rename = "job.completed_with_errors")]
    JobCompletedWithErrors,
    #[serde(rename = "job.failed")]
    JobFailed,
    #[serde(rename = "job.cancelled")]
    JobCancelled,
    #[serde(rename = "validation.finished")]
    ValidationFinished,
}

impl WebhookEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobCompleted => "job.completed",
            Self::JobCompletedWithErrors => "job.completed_with_errors",
            Self::JobFailed => "job.failed",
            Self::JobCancelled => "job.cancelled",
            Self::ValidationFinished => "validation.finished",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::JobCompleted,
            Self::JobCompletedWithErrors,
            Self::JobFailed,
            Self::JobCancelled,
            Self::ValidationFinished,
        ]
        .into_iter()
        .find(|e| e.as_str() == raw)
    }
}

/// The Standard Webhooks message id of a delivery: the same on every
/// attempt, so receivers can drop duplicates.
pub fn message_id(delivery: uuid::Uuid) -> String {
    format!("msg_{}", delivery.simple())
}

/// Associated data of a webhook's sealed secret: it opens only in its row.
pub fn secret_aad(tenant: &crate::ids::TenantId, webhook: crate::ids::WebhookId) -> Vec<u8> {
    format!("freight-webhook-secret:{tenant}:{webhook}").into_bytes()
}

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;

/// A new random signing secret, `whsec_<base64 of 24 bytes>`.
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    // The system RNG failing is not recoverable; an all-zero key would be
    // worse than no webhook, so the caller never sees one.
    aws_lc_rs::rand::fill(&mut key).unwrap_or_else(|_| std::process::abort());
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// `webhook-signature` of a message: `v1,<base64 HMAC-SHA256 of
/// "{id}.{timestamp}.{body}">` keyed with the secret's base64 part.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let mut signed = Vec::with_capacity(message_id.len() + body.len() + 24);
    signed.extend_from_slice(message_id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let tag = aws_lc_rs::hmac::sign(&key, &signed);
    Some(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification (and its
        // reference libraries' tests).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn new_secrets_are_random_and_well_formed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&a[6..]).unwrap().len(), 24);
        assert_eq!(
            WebhookEventType::parse("job.failed"),
            Some(WebhookEventType::JobFailed)
        );
    }
}
