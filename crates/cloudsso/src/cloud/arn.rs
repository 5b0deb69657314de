//! Names of RAM resources and their ARNs (`acs:ram::{account}:role/{name}`, …).
//!
//! Outside input becomes one of these types at the edge; inside, a `RoleName` is known to be a
//! valid role name. RAM compares role, user and provider names case-insensitively, so the ARN
//! comparisons here do too, while keeping the spelling the name was created with.

use std::fmt;

use serde::Serialize;

/// Why a name or ARN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, too long, or a character outside the allowed set.
    #[error("invalid {what} {value:?}: {rule}")]
    Invalid {
        /// Which kind of name.
        what: &'static str,
        /// The refused value.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// Not an ARN of the expected form.
    #[error("invalid {what} ARN {value:?}: expected {expected}")]
    BadArn {
        /// Which kind of ARN.
        what: &'static str,
        /// The refused value.
        value: String,
        /// The expected form.
        expected: &'static str,
    },
}

fn check(
    value: &str,
    what: &'static str,
    rule: &'static str,
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
) -> Result<String, NameError> {
    let len = value.chars().count();
    if len < min || len > max || !value.chars().all(allowed) {
        return Err(NameError::Invalid {
            what,
            value: value.to_owned(),
            rule,
        });
    }
    Ok(value.to_owned())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:literal, $min:expr, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses a name, refusing what RAM would refuse.
            pub fn parse(value: &str) -> Result<Self, NameError> {
                check(value, $what, $rule, $min, $max, $allowed).map(Self)
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Equal to `other` ignoring ASCII case (how RAM compares these names).
            pub fn same_as(&self, other: &str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// An account ID of the resource directory: 1–32 digits (generated ones have 16).
    AccountId,
    "account ID",
    "1 to 32 digits",
    1,
    32,
    |c| c.is_ascii_digit()
);
name_type!(
    /// A RAM role name: 1–64 letters, digits, `.` and `-`.
    RoleName,
    "role name",
    "1 to 64 characters: letters, digits, '.' and '-'",
    1,
    64,
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
);
name_type!(
    /// A RAM SAML provider name: 1–128 letters, digits, `.`, `-` and `_`.
    SamlProviderName,
    "SAML provider name",
    "1 to 128 characters: letters, digits, '.', '-' and '_'",
    1,
    128,
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
);
name_type!(
    /// A RAM user name: 1–64 letters, digits, `.`, `-`, `_` and `@` (`@` so that Cloud SSO user
    /// names, which may be e-mail addresses, provision under the same name).
    RamUserName,
    "RAM user name",
    "1 to 64 characters: letters, digits, '.', '-', '_' and '@'",
    1,
    64,
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')
);
name_type!(
    /// A custom policy name: 1–128 letters, digits and `-`.
    PolicyName,
    "policy name",
    "1 to 128 characters: letters, digits and '-'",
    1,
    128,
    |c| c.is_ascii_alphanumeric() || c == '-'
);
name_type!(
    /// A role session name: 2–64 letters, digits, `.`, `@`, `-` and `_`.
    RoleSessionName,
    "role session name",
    "2 to 64 characters: letters, digits, '.', '@', '-' and '_'",
    2,
    64,
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_')
);

/// `acs:ram::{account}:{kind}/{rest}` split into account and rest, for the given kind.
fn split_ram_arn<'a>(value: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let rest = value.strip_prefix("acs:ram::")?;
    let (account, resource) = rest.split_once(':')?;
    let (found_kind, name) = resource.split_once('/')?;
    found_kind
        .eq_ignore_ascii_case(kind)
        .then_some((account, name))
}

/// `acs:ram::{account}:role/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleArn {
    /// The account holding the role.
    pub account: AccountId,
    /// The role.
    pub role: RoleName,
}

impl RoleArn {
    /// Parses a role ARN.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadArn {
            what: "role",
            value: value.to_owned(),
            expected: "acs:ram::{account}:role/{name}",
        };
        let (account, name) = split_ram_arn(value.trim(), "role").ok_or_else(bad)?;
        Ok(Self {
            account: AccountId::parse(account).map_err(|_| bad())?,
            role: RoleName::parse(name).map_err(|_| bad())?,
        })
    }

    /// Whether both name the same role (role names compare case-insensitively).
    pub fn same_as(&self, other: &RoleArn) -> bool {
        self.account == other.account && self.role.same_as(other.role.as_str())
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acs:ram::{}:role/{}", self.account, self.role)
    }
}

/// `acs:ram::{account}:saml-provider/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SamlProviderArn {
    /// The account holding the provider.
    pub account: AccountId,
    /// The provider.
    pub provider: SamlProviderName,
}

impl SamlProviderArn {
    /// Parses a SAML provider ARN.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadArn {
            what: "SAML provider",
            value: value.to_owned(),
            expected: "acs:ram::{account}:saml-provider/{name}",
        };
        let (account, name) = split_ram_arn(value.trim(), "saml-provider").ok_or_else(bad)?;
        Ok(Self {
            account: AccountId::parse(account).map_err(|_| bad())?,
            provider: SamlProviderName::parse(name).map_err(|_| bad())?,
        })
    }

    /// Whether both name the same provider.
    pub fn same_as(&self, other: &SamlProviderArn) -> bool {
        self.account == other.account && self.provider.same_as(other.provider.as_str())
    }
}

impl fmt::Display for SamlProviderArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "acs:ram::{}:saml-provider/{}",
            self.account, self.provider
        )
    }
}

/// The ARN of a RAM user: `acs:ram::{account}:user/{name}`.
pub fn user_arn(account: &AccountId, user: &RamUserName) -> String {
    format!("acs:ram::{account}:user/{user}")
}

/// The ARN of a role session: `acs:ram::{account}:assumed-role/{role}/{session}`.
pub fn assumed_role_arn(role: &RoleArn, session: &RoleSessionName) -> String {
    format!(
        "acs:ram::{}:assumed-role/{}/{}",
        role.account, role.role, session
    )
}

/// The ARN of a custom policy: `acs:ram::{account}:policy/{name}`.
pub fn policy_arn(account: &AccountId, policy: &PolicyName) -> String {
    format!("acs:ram::{account}:policy/{policy}")
}

/// One value of the `https://www.aliyun.com/SAML-Role/Attributes/Role` attribute:
/// `{role ARN},{SAML provider ARN}` (RAM also accepts the two the other way round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePair {
    /// The role to assume.
    pub role: RoleArn,
    /// The SAML provider that vouches for the user.
    pub provider: SamlProviderArn,
}

impl RolePair {
    /// Parses one attribute value; the two ARNs must be in the same account.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadArn {
            what: "role attribute",
            value: value.to_owned(),
            expected: "acs:ram::{account}:role/{role},acs:ram::{account}:saml-provider/{provider}",
        };
        let (a, b) = value.split_once(',').ok_or_else(bad)?;
        let (role, provider) = match (RoleArn::parse(a), SamlProviderArn::parse(b)) {
            (Ok(r), Ok(p)) => (r, p),
            _ => (
                RoleArn::parse(b).map_err(|_| bad())?,
                SamlProviderArn::parse(a).map_err(|_| bad())?,
            ),
        };
        if role.account != provider.account {
            return Err(bad());
        }
        Ok(Self { role, provider })
    }
}

impl fmt::Display for RolePair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.role, self.provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ram_rules() {
        assert!(RoleName::parse("AliyunReservedSSO-Admin.1").is_ok());
        assert!(RoleName::parse("").is_err());
        assert!(RoleName::parse("a_b").is_err());
        assert!(RoleName::parse(&"a".repeat(65)).is_err());
        assert!(RoleName::parse(&"a".repeat(64)).is_ok());
        assert!(SamlProviderName::parse("AliyunReservedSSO-d-00fc2p61ab").is_ok());
        assert!(SamlProviderName::parse("bad/name").is_err());
        assert!(RamUserName::parse("alice@example.com_sso").is_ok());
        assert!(RamUserName::parse("alice smith").is_err());
        assert!(AccountId::parse("1234567890123456").is_ok());
        assert!(AccountId::parse("12ab").is_err());
        assert!(RoleSessionName::parse("a").is_err());
        assert!(RoleSessionName::parse("alice@example.com").is_ok());
        assert!(PolicyName::parse("AliyunReservedSSO-Admin-InlinePolicy").is_ok());
        assert!(PolicyName::parse("x.y").is_err());
        let err = RoleName::parse("a b").unwrap_err();
        assert!(err.to_string().contains("letters, digits"), "{err}");
    }

    #[test]
    fn arns_round_trip_and_compare_case_insensitively() {
        let role =
            RoleArn::parse("acs:ram::1234567890123456:role/AliyunReservedSSO-Admin").unwrap();
        assert_eq!(
            role.to_string(),
            "acs:ram::1234567890123456:role/AliyunReservedSSO-Admin"
        );
        let lower =
            RoleArn::parse("acs:ram::1234567890123456:role/aliyunreservedsso-admin").unwrap();
        assert!(role.same_as(&lower));
        assert_ne!(role, lower);
        let provider =
            SamlProviderArn::parse("acs:ram::1234567890123456:saml-provider/AliyunReservedSSO-d-1")
                .unwrap();
        assert_eq!(
            provider.to_string(),
            "acs:ram::1234567890123456:saml-provider/AliyunReservedSSO-d-1"
        );
        for bad in [
            "acs:ram::1234567890123456:user/alice",
            "acs:ram:cn-hangzhou:1234567890123456role/x",
            "acs:ecs::1234567890123456:role/x",
            "acs:ram::abc:role/x",
            "acs:ram::1234567890123456:role/",
            "acs:ram::1234567890123456:role/a b",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
        assert!(SamlProviderArn::parse("acs:ram::1:role/x").is_err());
        let session = RoleSessionName::parse("alice").unwrap();
        assert_eq!(
            assumed_role_arn(&role, &session),
            "acs:ram::1234567890123456:assumed-role/AliyunReservedSSO-Admin/alice"
        );
    }

    #[test]
    fn role_pairs() {
        let text = "acs:ram::1:role/r,acs:ram::1:saml-provider/p";
        let pair = RolePair::parse(text).unwrap();
        assert_eq!(pair.to_string(), text);
        let swapped = RolePair::parse("acs:ram::1:saml-provider/p,acs:ram::1:role/r").unwrap();
        assert_eq!(swapped, pair);
        assert!(RolePair::parse("acs:ram::1:role/r,acs:ram::2:saml-provider/p").is_err());
        assert!(RolePair::parse("acs:ram::1:role/r").is_err());
        assert!(RolePair::parse("acs:ram::1:role/r,acs:ram::1:role/s").is_err());
    }
}
