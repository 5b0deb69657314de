//! Temporary STS credentials: the AccessKeyId (`STS.…`), the AccessKeySecret (HMAC key of the
//! request signature), the SecurityToken and the expiration derived from the session duration.
//!
//! Randomness is injected ([`generate_with`]) so tests are deterministic; [`generate`] uses the
//! system CSPRNG. The secret never prints (`Debug` redacts it) and is zeroed on drop.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use time::macros::format_description;
use zeroize::Zeroizing;

/// Prefix of every STS AccessKeyId.
pub const ACCESS_KEY_ID_PREFIX: &str = "STS.";

/// Prefix of every SecurityToken.
pub const SECURITY_TOKEN_PREFIX: &str = "CAIS";

/// Shortest and longest session, in seconds (RAM's AssumeRoleWithSAML bounds).
pub const SESSION_DURATION_RANGE: std::ops::RangeInclusive<i64> = 900..=43_200;

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// An AccessKeySecret: does not print, zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeySecret(Zeroizing<String>);

impl AccessKeySecret {
    /// Wraps a secret read back from storage.
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret itself (to hand to the user once, or to verify a signature).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKeySecret(<redacted>)")
    }
}

/// A freshly issued set of temporary credentials.
#[derive(Debug, Clone)]
pub struct IssuedCredentials {
    /// `STS.` followed by 24 base58 characters.
    pub access_key_id: String,
    /// 40 base58 characters (about 234 bits).
    pub access_key_secret: AccessKeySecret,
    /// `CAIS` followed by 128 base64url characters (96 random bytes).
    pub security_token: String,
    /// When they stop working (unix seconds).
    pub expires_at: i64,
}

impl IssuedCredentials {
    /// The expiration as STS writes it (`YYYY-MM-DDThh:mm:ssZ`).
    pub fn expiration(&self) -> String {
        format_expiration(self.expires_at)
    }
}

/// Formats an expiration like STS (`YYYY-MM-DDThh:mm:ssZ`).
pub fn format_expiration(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn base58(random: &mut dyn FnMut(&mut [u8]), len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random(&mut buf);
        // Rejection sampling keeps the characters uniform: 58 * 4 = 232 ≤ 256.
        for b in buf {
            if b < 232 && out.len() < len {
                out.push(BASE58[usize::from(b % 58)] as char);
            }
        }
    }
    out
}

/// Issues credentials valid for `session_seconds` from `unix_now`, drawing bytes from `random`.
pub fn generate_with(
    unix_now: i64,
    session_seconds: i64,
    random: &mut dyn FnMut(&mut [u8]),
) -> IssuedCredentials {
    let access_key_id = format!("{ACCESS_KEY_ID_PREFIX}{}", base58(random, 24));
    let access_key_secret = AccessKeySecret::new(base58(random, 40));
    let mut token = [0u8; 96];
    random(&mut token);
    let security_token = format!("{SECURITY_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(token));
    IssuedCredentials {
        access_key_id,
        access_key_secret,
        security_token,
        expires_at: unix_now.saturating_add(session_seconds),
    }
}

/// Issues credentials from the system CSPRNG.
pub fn generate(unix_now: i64, session_seconds: i64) -> IssuedCredentials {
    generate_with(unix_now, session_seconds, &mut |buf: &mut [u8]| {
        if aws_lc_rs::rand::fill(buf).is_err() {
            rand::RngCore::fill_bytes(&mut rand::rng(), buf);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_expiration() {
        let c = generate(1_780_000_000, 3600);
        assert!(c.access_key_id.starts_with("STS.") && c.access_key_id.len() == 28);
        assert!(c.access_key_id[4..].bytes().all(|b| BASE58.contains(&b)));
        assert_eq!(c.access_key_secret.expose().len(), 40);
        assert!(c.security_token.starts_with("CAIS") && c.security_token.len() == 4 + 128);
        assert_eq!(c.expires_at, 1_780_003_600);
        assert_eq!(c.expiration(), "2026-05-28T21:26:40Z");
        assert!(!format!("{c:?}").contains(c.access_key_secret.expose()));
        let d = generate(1_780_000_000, 3600);
        assert_ne!(c.access_key_id, d.access_key_id);
        assert_ne!(c.access_key_secret, d.access_key_secret);
    }

    #[test]
    fn injected_randomness_is_deterministic() {
        let mut counter = 0u8;
        let mut fill = |buf: &mut [u8]| {
            for b in buf {
                *b = counter;
                counter = counter.wrapping_add(1);
            }
        };
        let a = generate_with(0, 900, &mut fill);
        let mut counter = 0u8;
        let mut fill = |buf: &mut [u8]| {
            for b in buf {
                *b = counter;
                counter = counter.wrapping_add(1);
            }
        };
        let b = generate_with(0, 900, &mut fill);
        assert_eq!(a.access_key_id, b.access_key_id);
        assert_eq!(a.security_token, b.security_token);
        assert_eq!(a.expiration(), "1970-01-01T00:15:00Z");
    }
}
