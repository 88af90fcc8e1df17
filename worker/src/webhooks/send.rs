//! One attempt of one delivery: the policy check, the signed POST.

use std::time::Duration;

use freight_core::policy::ConnectionPolicy;
use freight_core::secrets::SecretBox;
use freight_core::webhooks::{message_id, secret_aad, signature};

use super::Claimed;
use super::SenderConfig;

/// What one attempt came to.
#[derive(Debug)]
pub enum Outcome {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// No answer, or not 2xx: retried with backoff.
    Failed { status: Option<u16>, error: String },
    /// The connection policy refuses the endpoint (or its secret does not
    /// open): retrying will not help.
    Refused(String),
}

impl Outcome {
    pub fn http_status(&self) -> Option<i32> {
        match self {
            Self::Delivered { status } => Some(i32::from(*status)),
            Self::Failed { status, .. } => status.map(i32::from),
            Self::Refused(_) => None,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Delivered { .. } => None,
            Self::Failed { error, .. } | Self::Refused(error) => Some(error),
        }
    }
}

/// Longest response body read (and dropped) from an endpoint.
const MAX_ERROR_LEN: usize = 500;

pub(super) async fn deliver(
    secrets: &SecretBox,
    policy: &ConnectionPolicy,
    config: &SenderConfig,
    delivery: &Claimed,
) -> Outcome {
    let (url, address) = match policy.vet_url("url", &delivery.url).await {
        Ok(checked) => checked,
        Err(refused) => return Outcome::Refused(format!("connection not allowed: {refused}")),
    };
    let secret = match secrets.open(
        &delivery.secret_sealed,
        &secret_aad(&delivery.tenant, delivery.webhook),
    ) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => {
            return Outcome::Refused(
                "the webhook's secret does not open with the configured keys".into(),
            );
        }
    };
    let body = match serde_json::to_vec(&delivery.payload) {
        Ok(body) => body,
        Err(e) => return Outcome::Refused(format!("payload: {e}")),
    };
    let id = message_id(delivery.id);
    let timestamp = chrono::Utc::now().timestamp();
    let Some(signature) = signature(&secret, &id, timestamp, &body) else {
        return Outcome::Refused("the webhook's secret is malformed".into());
    };
    // Pinned to the checked address; redirects, and proxies named in the
    // process's environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), would
    // lead past the policy.
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.request_timeout)
        .connect_timeout(Duration::from_secs(5))
        .resolve(&host, address)
        .user_agent(concat!("Freight-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build();
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            return Outcome::Failed {
                status: None,
                error: e.to_string(),
            };
        }
    };
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Outcome::Delivered {
            status: r.status().as_u16(),
        },
        Ok(r) => Outcome::Failed {
            status: Some(r.status().as_u16()),
            error: format!("the endpoint answered {}", r.status()),
        },
        Err(e) => Outcome::Failed {
            status: None,
            error: describe(&e),
        },
    }
}

fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = format!("{what}: {e}");
    text.truncate(MAX_ERROR_LEN);
    text
}
