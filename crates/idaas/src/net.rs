//! IP networks (CIDR) for the trusted-proxy list, the client address behind proxies, and the
//! address ranges an outgoing request (SP metadata fetch, SCIM provisioning, OAuth token endpoint)
//! must never reach: [`is_public`], [`resolve_public`] and, for reqwest clients, [`PublicResolver`].
//! The one switch that lifts the rule is the server's "allow private network targets" setting
//! (`Config::metadata_fetch_allow_private`, for tests and local demos).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IP network {0:?} (expected ADDRESS or ADDRESS/PREFIX)")]
pub struct IpNetParseError(pub String);

impl IpNet {
    /// Builds a network; `None` when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` lies in this network (an IPv4-mapped IPv6 address matches as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IpNetParseError(s.to_owned());
        let t = s.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| err())?
            }
            Some(_) => return Err(err()),
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix).ok_or_else(err)
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it carries.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of a request: the TCP peer, unless the peer is a trusted proxy, in which case
/// the rightmost `X-Forwarded-For` hop that is not itself a trusted proxy.
///
/// `forwarded_for` are the values of every `X-Forwarded-For` header in order. Hops are read right
/// to left, because only the part appended by our own proxies can be believed: a client can put
/// anything at the left. A hop that does not parse ends the walk at the last trusted address.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// Ranges that are not reachable on the public internet (or tunnel to addresses that may not be):
/// an outgoing fetch to any of them is refused unless private fetches are explicitly allowed.
const BLOCKED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local (cloud metadata)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation TEST-NET-1
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, including broadcast
];

const BLOCKED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96), // unspecified, loopback, IPv4-compatible
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96), // IPv4-mapped
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96), // IPv4-translated
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96), // NAT64
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments, incl. Teredo 2001::/32
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16), // segment routing SIDs
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),  // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),  // multicast
];

/// Whether `ip` is a publicly routable unicast address (none of the blocked ranges).
pub fn is_public(ip: IpAddr) -> bool {
    let blocked = match ip {
        IpAddr::V4(v4) => BLOCKED_V4.iter().any(|(a, p)| {
            IpNet {
                addr: IpAddr::V4(*a),
                prefix: *p,
            }
            .contains(IpAddr::V4(v4))
        }),
        IpAddr::V6(v6) => BLOCKED_V6.iter().any(|(a, p)| {
            // Compared as IPv6 on purpose: `contains` would unwrap a mapped address first.
            let mask = u128::MAX.checked_shl(128 - u32::from(*p)).unwrap_or(0);
            u128::from(*a) & mask == u128::from(v6) & mask
        }),
    };
    !blocked
}

/// Why an outgoing request's host was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// DNS resolution failed or gave no address.
    #[error("the host name {host:?} could not be resolved")]
    Resolve {
        /// The host name.
        host: String,
    },
    /// The host is, or resolves to, a non-public address and private network targets are not
    /// allowed.
    #[error(
        "{host} is or resolves to {ip}, a loopback, private, link-local or otherwise non-public \
         address; private network targets are not allowed on this server"
    )]
    NotPublic {
        /// The host as given.
        host: String,
        /// The offending address.
        ip: IpAddr,
    },
}

/// Checks one address of `host` against the policy: public, or `allow_private`.
pub fn check_address(host: &str, ip: IpAddr, allow_private: bool) -> Result<(), EgressError> {
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(EgressError::NotPublic {
            host: host.to_owned(),
            ip,
        })
    }
}

/// Checks the host of an outgoing URL that is an IP literal (no resolver ever sees those);
/// domain names pass (they are checked when resolved, by [`resolve_public`]).
pub fn check_url_host(url: &url::Url, allow_private: bool) -> Result<(), EgressError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) | None => return Ok(()),
    };
    check_address(url.host_str().unwrap_or_default(), ip, allow_private)
}

/// Resolves `host` (a name or an IP literal, brackets allowed) with the system resolver and
/// returns its addresses with `port`; unless `allow_private`, every address must be public (one
/// non-public answer refuses the host: a DNS name must not be able to mix in an internal target).
/// Callers connect only to the addresses returned (pinned), so a later, different DNS answer
/// cannot switch the target.
pub async fn resolve_public(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, EgressError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolve_err = || EgressError::Resolve {
        host: host.to_owned(),
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|_| resolve_err())?
        .collect();
    if addrs.is_empty() {
        return Err(resolve_err());
    }
    for a in &addrs {
        check_address(host, a.ip(), allow_private)?;
    }
    Ok(addrs)
}

/// A reqwest DNS resolver that resolves with [`resolve_public`] and refuses non-public answers
/// with [`scim::client::AddressRefused`] (a permanent, non-retryable SCIM client error). Every
/// connection of a client built with it goes to an address it checked. IP-literal URLs never reach
/// a resolver: check them with [`check_url_host`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's default) in.
            match resolve_public(&host, 0, false).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(e @ EgressError::NotPublic { .. }) => {
                    Err(Box::new(scim::client::AddressRefused(e.to_string()))
                        as Box<dyn std::error::Error + Send + Sync>)
                }
                Err(e @ EgressError::Resolve { .. }) => Err(Box::new(e) as _),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parses_and_matches_cidrs() {
        let n: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains(ip("10.1.200.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")), "mapped IPv4 matches");
        let one: IpNet = "192.0.2.7".parse().unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "nope",
            "10.0.0.0/8/1",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1"]);
        // Untrusted peer: the header is ignored whatever it says.
        assert_eq!(
            client_address(ip("203.0.113.9"), ["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // Trusted peer: the rightmost untrusted hop; hops a client put further left are ignored.
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                ["6.6.6.6, 198.51.100.4, 10.0.0.2"],
                &trusted
            ),
            ip("198.51.100.4")
        );
        // Several headers are one list.
        assert_eq!(
            client_address(ip("10.0.0.1"), ["6.6.6.6", "198.51.100.4"], &trusted),
            ip("198.51.100.4")
        );
        // No header: the proxy itself.
        assert_eq!(client_address(ip("10.0.0.1"), [], &trusted), ip("10.0.0.1"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_address(ip("10.0.0.1"), ["1.1.1.1, junk, 10.0.0.3"], &trusted),
            ip("10.0.0.3")
        );
        // Nothing trusted configured: always the peer.
        assert_eq!(
            client_address(ip("127.0.0.1"), ["1.2.3.4"], &[]),
            ip("127.0.0.1")
        );
    }

    #[tokio::test]
    async fn resolution_refuses_non_public_answers_unless_allowed() {
        for host in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "10.1.2.3",
            "169.254.169.254",
        ] {
            let e = resolve_public(host, 443, false).await.unwrap_err();
            assert!(
                matches!(&e, EgressError::NotPublic { host: h, .. } if h == host),
                "{host}: {e:?}"
            );
            let addrs = resolve_public(host, 443, true).await.unwrap();
            assert!(addrs.iter().all(|a| a.port() == 443), "{addrs:?}");
        }
        assert!(resolve_public("8.8.8.8", 443, false).await.is_ok());
        assert!(matches!(
            resolve_public("name.invalid", 443, true).await,
            Err(EgressError::Resolve { .. })
        ));
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(check_url_host(&url("https://[fc00::1]/"), false).is_err());
        assert!(check_url_host(&url("https://[fc00::1]/"), true).is_ok());
        assert!(
            check_url_host(&url("https://localhost/"), false).is_ok(),
            "names: resolver"
        );
    }

    #[test]
    fn every_non_public_range_is_blocked() {
        for blocked in [
            "0.0.0.0",
            "0.255.1.2",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::ffff:0:10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c000:0204::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(!is_public(ip(blocked)), "{blocked} must be blocked");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public(ip(public)), "{public} is public");
        }
    }
}
