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

/// Longest webhook URL accepted, in characters (ASCII: bytes too).
pub const MAX_URL_LEN: usize = 2048;

/// A decimal octet, 0-255, as WHATWG URL parsing reads one.
const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
/// A port, 0-65535.
const PORT: &str =
    "([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
/// A path, query or fragment character of RFC 3986 (unreserved,
/// sub-delims, `:` and `@`), or a percent-encoded octet.
const PCHAR: &str = "([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})";

/// The JSON Schema `pattern` of a webhook URL: `http://` or `https://`,
/// a host (a name whose last label does not start with a digit, a dotted
/// IPv4 address or a bracketed IPv6 one), an optional port, then path,
/// query and fragment in RFC 3986 characters; no credentials. What matches
/// passes [`check_url`] (an IPv6 literal must also be a valid address).
pub fn url_pattern() -> String {
    let label = "[A-Za-z0-9_~-]";
    let name = format!("({label}*\\.)*[A-Za-z_~-]{label}*\\.?");
    let ipv4 = format!("{OCTET}(\\.{OCTET}){{3}}");
    let ipv6 = "\\[[0-9A-Fa-f:.]+\\]";
    format!(
        "^[Hh][Tt][Tt][Pp][Ss]?://({ipv6}|{ipv4}|{name})(:{PORT})?(/{PCHAR}*)*(\\?({PCHAR}|[/?])*)?(#({PCHAR}|[/?])*)?$"
    )
}

/// The form of a webhook URL, before any address rule: at most 2048
/// characters of those a URI may hold (ASCII, no spaces: percent-encode
/// the rest), an absolute `http` or `https` URL naming a host, without
/// credentials (receivers verify the signature instead). The message says
/// what is wrong.
pub fn check_url(raw: &str) -> Result<url::Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("at most {MAX_URL_LEN} characters"));
    }
    if !raw.bytes().all(is_uri_byte) {
        return Err(
            "the characters of a URI only (RFC 3986: ASCII, no spaces); percent-encode others"
                .into(),
        );
    }
    let authority = ["http://", "https://"].iter().find_map(|prefix| {
        raw.get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .map(|_| &raw[prefix.len()..])
    });
    let Some(authority) = authority else {
        return Err("must start with http:// or https://".into());
    };
    // `http:///x` parses (the host is then `x`), but names no host.
    if authority.is_empty() || authority.starts_with(['/', '?', '#']) {
        return Err("the URL names no host".into());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "credentials in the URL are not supported; receivers verify the signature".into(),
        );
    }
    if url.host().is_none() {
        return Err("the URL names no host".into());
    }
    Ok(url)
}

/// A character RFC 3986 allows in a URI: unreserved, reserved or `%`.
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
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
