//! The one secret-string type, shared by every crate including the MCP
//! bridge (which links nothing else of Freight's): passwords, tokens and
//! connection URLs are held as [`Secret`], so a `{:?}` in a log line or an
//! error prints `"***"` and never the value.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string: `Debug` never prints it, and there is no `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_hides_the_value_and_serde_keeps_it() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "\"***\"");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(\"***\")");
        // Serialised as the plain string: callers seal it before storing.
        let json = serde_json::to_string(&secret).expect("serialise");
        assert_eq!(json, "\"hunter2\"");
        let back: Secret = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back.expose(), "hunter2");
    }
}
