//! Login preferences (products.md §2.5): whether portal users may fetch STS credentials, and the
//! portal logon IP allow-list (≤ 100 IPv4 addresses or CIDR blocks).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;

/// Most entries in the logon IP allow-list.
pub const MAX_NETWORK_MASKS: usize = 100;

/// The login preferences of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct LoginPreference {
    /// `AllowUserToGetCredentials`: portal users may fetch STS credentials for the CLI.
    pub allow_user_to_get_credentials: bool,
    /// `LoginNetworkMasks`: portal logon (password or SSO) only from these IPv4 addresses/CIDRs;
    /// empty = from anywhere.
    pub login_network_masks: Vec<String>,
}

/// An IPv4 network `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    addr: u32,
    prefix: u8,
}

impl Ipv4Net {
    /// Parses `a.b.c.d` (a /32) or `a.b.c.d/len`.
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let bad = || {
            InvalidInput::new(
                "login_network_masks",
                format!("not an IPv4 address or CIDR: {text:?}"),
            )
        };
        let (ip, prefix) = match text.trim().split_once('/') {
            Some((ip, len)) => (ip, len.parse::<u8>().map_err(|_| bad())?),
            None => (text.trim(), 32),
        };
        if prefix > 32 {
            return Err(bad());
        }
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        Ok(Self {
            addr: u32::from(ip),
            prefix,
        })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        (u32::from(ip) & mask) == (self.addr & mask)
    }
}

impl LoginPreference {
    /// Checks and normalizes the allow-list (accepts the API's `;`-separated form too: a lone `;`
    /// clears it).
    pub fn new(
        allow_user_to_get_credentials: bool,
        masks: &[String],
    ) -> Result<Self, InvalidInput> {
        let entries: Vec<String> = masks
            .iter()
            .flat_map(|m| m.split(';'))
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        if entries.len() > MAX_NETWORK_MASKS {
            return Err(InvalidInput::new(
                "login_network_masks",
                format!("at most {MAX_NETWORK_MASKS} entries"),
            ));
        }
        for e in &entries {
            Ipv4Net::parse(e)?;
        }
        Ok(Self {
            allow_user_to_get_credentials,
            login_network_masks: entries,
        })
    }

    /// Whether a portal logon from `ip` is allowed (no list = anywhere; unknown address with a list =
    /// refused; IPv6 addresses are refused by a list, which holds IPv4 entries only, except
    /// IPv4-mapped ones).
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        if self.login_network_masks.is_empty() {
            return true;
        }
        let v4 = match ip {
            Some(IpAddr::V4(v4)) => v4,
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => return false,
            },
            None => return false,
        };
        self.login_network_masks
            .iter()
            .filter_map(|m| Ipv4Net::parse(m).ok())
            .any(|n| n.contains(v4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        let p = LoginPreference::new(false, &["10.0.0.0/8; 192.168.1.7".to_owned()]).unwrap();
        assert_eq!(p.login_network_masks.len(), 2);
        assert!(p.allows(Some("10.1.2.3".parse().unwrap())));
        assert!(p.allows(Some("192.168.1.7".parse().unwrap())));
        assert!(!p.allows(Some("192.168.1.8".parse().unwrap())));
        assert!(!p.allows(None));
        assert!(
            LoginPreference::new(false, &[";".to_owned()])
                .unwrap()
                .allows(None)
        );
        assert!(LoginPreference::new(false, &["300.1.1.1".to_owned()]).is_err());
        assert!(LoginPreference::new(false, &["1.1.1.1/33".to_owned()]).is_err());
        let many: Vec<String> = (0..101).map(|i| format!("10.0.0.{}", i % 250)).collect();
        assert!(LoginPreference::new(false, &many).is_err());
        let all = LoginPreference::new(false, &["0.0.0.0/0".to_owned()]).unwrap();
        assert!(all.allows(Some("8.8.8.8".parse().unwrap())));
    }
}
