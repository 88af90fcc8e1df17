//! The address rules: what a server name or address may resolve to.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

use super::{ConnectionPolicy, PolicyViolation};

/// One entry of `FREIGHT_EGRESS_ALLOW` / `FREIGHT_EGRESS_DENY`: a CIDR
/// block (or single address) or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressRule {
    Network(IpNet),
    Host(String),
}

impl EgressRule {
    /// Parses a comma-separated list; an entry that is neither a CIDR, an
    /// address nor a host name is an error naming it.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::from_str)
            .collect()
    }

    fn matches(&self, host: &str, ip: IpAddr) -> bool {
        match self {
            Self::Network(net) => net.contains(&ip),
            Self::Host(name) => *name == normalize_host(host),
        }
    }
}

impl FromStr for EgressRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self::Network(net));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Network(IpNet::from(ip)));
        }
        let name = normalize_host(s);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if valid {
            Ok(Self::Host(name))
        } else {
            Err(format!(
                "{s:?} is neither a CIDR block, an address nor a host name"
            ))
        }
    }
}

/// Host names compare without case and without a trailing dot.
fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Link-local addresses, where clouds answer with instance credentials.
fn always_denied(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            let fe80 = (v6.segments()[0] & 0xffc0) == 0xfe80;
            let aws_metadata = v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            fe80 || aws_metadata
        }
    }
}

/// `::ffff:a.b.c.d` is `a.b.c.d` for every rule.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Addresses of this host's interfaces (for "this host" comparisons).
pub(super) fn local_addresses() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| canonical(i.ip())).collect())
        .unwrap_or_default()
}

impl ConnectionPolicy {
    fn is_this_host(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || ip.is_unspecified() || self.local_addresses.contains(&ip)
    }

    /// Whether `addr` reaches one of Freight's own services.
    fn reaches_protected(&self, addr: SocketAddr) -> bool {
        self.reaches(&self.protected, addr)
    }

    /// Whether `addr` reaches a service only webhooks are kept from.
    pub(super) fn reaches_protected_from_webhooks(&self, addr: SocketAddr) -> bool {
        self.reaches(&self.protected_from_webhooks, addr)
    }

    fn reaches(&self, protected: &[SocketAddr], addr: SocketAddr) -> bool {
        let ip = canonical(addr.ip());
        protected.iter().any(|p| {
            let pip = canonical(p.ip());
            p.port() == addr.port()
                && (pip == ip || (self.is_this_host(pip) && self.is_this_host(ip)))
        })
    }

    fn check_address(
        &self,
        field: &str,
        host: &str,
        addr: SocketAddr,
    ) -> Result<(), PolicyViolation> {
        let ip = canonical(addr.ip());
        let refuse = |why: &str| PolicyViolation::new(field, format!("{host}: {why}"));
        if always_denied(ip) {
            return Err(refuse(
                "link-local and cloud metadata addresses are never allowed",
            ));
        }
        if self.reaches_protected(SocketAddr::new(ip, addr.port())) {
            return Err(refuse("this is one of Freight's own services"));
        }
        if self.deny.iter().any(|r| r.matches(host, ip)) {
            return Err(refuse("denied by the operator's egress policy"));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.matches(host, ip)) {
            return Err(refuse("not in the operator's egress allow list"));
        }
        Ok(())
    }

    /// Resolves `host` and checks every address it resolves to; returns the
    /// one to connect to.
    pub(super) async fn resolve_and_check(
        &self,
        field: &str,
        host: &str,
        port: u16,
    ) -> Result<SocketAddr, PolicyViolation> {
        let lookup = host.trim_end_matches('.');
        let resolved: Vec<SocketAddr> = match lookup.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((lookup, port))
                .await
                .map_err(|_| {
                    PolicyViolation::new(field, format!("{host}: the name does not resolve"))
                })?
                .collect(),
        };
        let first = *resolved.first().ok_or_else(|| {
            PolicyViolation::new(field, format!("{host}: the name does not resolve"))
        })?;
        // Every answer must pass: a name may not mix an allowed address
        // with a denied one and leave the choice to the driver.
        for addr in &resolved {
            self.check_address(field, host, *addr)?;
        }
        Ok(first)
    }
}
