//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step of skew): enrolment secrets,
//! `otpauth://` URLs for authenticator apps, and verification that refuses a step already used.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

/// Length of a TOTP step in seconds.
pub const STEP_SECONDS: u64 = 30;

/// When a user must pass a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// Never asked.
    Off,
    /// Every user, every sign-in (users without a TOTP must enrol first).
    Always,
    /// Only users who enabled a TOTP.
    #[default]
    PerUser,
}

impl MfaPolicy {
    /// Whether a sign-in of a user (with or without an enrolled TOTP) needs the second factor.
    pub fn requires_second_factor(self, user_has_totp: bool) -> bool {
        match self {
            MfaPolicy::Off => false,
            MfaPolicy::Always => true,
            MfaPolicy::PerUser => user_has_totp,
        }
    }
}

/// Why a TOTP code was refused or a secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MfaError {
    /// The code does not match any step in the accepted window.
    #[error("the verification code is wrong")]
    WrongCode,
    /// The code matches a step that was already accepted once (replay).
    #[error("the verification code was already used")]
    CodeReused,
    /// The stored secret is unusable (too short, undecodable).
    #[error("the TOTP secret is invalid")]
    InvalidSecret,
}

/// A freshly generated TOTP secret to show to the user during enrolment.
pub struct TotpEnrolment {
    /// Raw secret bytes (to be sealed with the master key before storage).
    pub secret: Zeroizing<Vec<u8>>,
    /// The secret in base32, for manual entry.
    pub secret_base32: String,
    /// `otpauth://totp/...` URL for QR codes and authenticator apps.
    pub otpauth_url: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment")
            .field("otpauth_url", &"<redacted>")
            .finish()
    }
}

fn totp(secret: &[u8], issuer: Option<&str>, account: &str) -> Result<Totp, MfaError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret.to_vec())
        .with_issuer(issuer.map(|i| i.replace(':', " ")))
        .with_account_name(account.replace(':', " "))
        .build()
        .map_err(|_| MfaError::InvalidSecret)
}

/// Generates a new 160-bit secret for `account` (the user name) at `issuer` (the instance name).
pub fn new_enrolment(issuer: &str, account: &str) -> Result<TotpEnrolment, MfaError> {
    let mut bytes = Zeroizing::new(vec![0u8; 20]);
    aws_lc_rs::rand::fill(bytes.as_mut_slice()).map_err(|_| MfaError::InvalidSecret)?;
    let t = totp(&bytes, Some(issuer), account)?;
    let otpauth_url = t.to_url().map_err(|_| MfaError::InvalidSecret)?;
    let secret_base32 = Secret::from(bytes.to_vec()).to_base32();
    Ok(TotpEnrolment {
        secret: bytes,
        secret_base32,
        otpauth_url,
    })
}

/// Checks `code` at time `now` (unix seconds) against `secret`, accepting the previous, current and next
/// step, and refusing any step not newer than `last_accepted_step`. Returns the step to store.
pub fn verify(
    secret: &[u8],
    code: &str,
    now: u64,
    last_accepted_step: Option<u64>,
) -> Result<u64, MfaError> {
    let t = totp(secret, None, "")?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(MfaError::WrongCode);
    }
    // Look at each step of the window ourselves so that a replayed code in step N does not hide a
    // fresh match in N+1.
    let origin = now / STEP_SECONDS;
    let mut replay = false;
    for step in origin.saturating_sub(1)..=origin + 1 {
        if t.check(&code, step * STEP_SECONDS) == Some(step) {
            if last_accepted_step.is_some_and(|last| step <= last) {
                replay = true;
                continue;
            }
            return Ok(step);
        }
    }
    Err(if replay {
        MfaError::CodeReused
    } else {
        MfaError::WrongCode
    })
}

/// The code for `secret` at time `now` (used by tests and by nothing else at runtime).
pub fn code_at(secret: &[u8], now: u64) -> Result<String, MfaError> {
    Ok(totp(secret, None, "")?.generate(now).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_vector() {
        // RFC 6238 Appendix B, SHA-1, T = 59 s -> 94287082 (8 digits); 6-digit truncation is 287082.
        assert_eq!(code_at(SECRET, 59).unwrap(), "287082");
    }

    #[test]
    fn accepts_adjacent_steps_only() {
        let now = 1_000_000_020;
        let step = now / STEP_SECONDS;
        let prev = code_at(SECRET, now - 30).unwrap();
        let next = code_at(SECRET, now + 30).unwrap();
        let far = code_at(SECRET, now + 90).unwrap();
        assert_eq!(verify(SECRET, &prev, now, None), Ok(step - 1));
        assert_eq!(verify(SECRET, &next, now, None), Ok(step + 1));
        assert_eq!(verify(SECRET, &far, now, None), Err(MfaError::WrongCode));
        assert_eq!(verify(SECRET, "12345", now, None), Err(MfaError::WrongCode));
        assert_eq!(
            verify(SECRET, "abcdef", now, None),
            Err(MfaError::WrongCode)
        );
    }

    #[test]
    fn refuses_reuse_of_the_last_step() {
        let now = 1_000_000_020;
        let code = code_at(SECRET, now).unwrap();
        let step = verify(SECRET, &code, now, None).unwrap();
        assert_eq!(
            verify(SECRET, &code, now, Some(step)),
            Err(MfaError::CodeReused)
        );
        assert_eq!(
            verify(SECRET, &code, now + 10, Some(step)),
            Err(MfaError::CodeReused)
        );
        let older = code_at(SECRET, now - 30).unwrap();
        assert_eq!(
            verify(SECRET, &older, now, Some(step)),
            Err(MfaError::CodeReused)
        );
        let newer = code_at(SECRET, now + 30).unwrap();
        assert_eq!(verify(SECRET, &newer, now, Some(step)), Ok(step + 1));
    }

    #[test]
    fn enrolment_url_and_secret() {
        let e = new_enrolment("Acme: IDaaS", "alice").unwrap();
        assert!(
            e.otpauth_url.starts_with("otpauth://totp/"),
            "{}",
            e.otpauth_url
        );
        assert!(
            e.otpauth_url
                .contains(&format!("secret={}", e.secret_base32))
        );
        assert_eq!(e.secret.len(), 20);
        let now = 1_700_000_000;
        let code = code_at(&e.secret, now).unwrap();
        assert!(verify(&e.secret, &code, now, None).is_ok());
    }

    #[test]
    fn policy() {
        assert!(!MfaPolicy::Off.requires_second_factor(true));
        assert!(MfaPolicy::Always.requires_second_factor(false));
        assert!(MfaPolicy::PerUser.requires_second_factor(true));
        assert!(!MfaPolicy::PerUser.requires_second_factor(false));
    }
}
