//! Identifiers (`user_…`, `group_…`) and bearer secrets (API tokens, session cookies).

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The system RNG failing is not recoverable; fall back to rand's thread RNG, which is also a CSPRNG.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut buf);
    }
    buf
}

/// A new random identifier `{prefix}_{24 base32 chars}` (120 bits), e.g. `user_k3…`.
pub fn new_id(prefix: &str) -> String {
    let bytes = random_bytes::<24>();
    let mut out = String::with_capacity(prefix.len() + 25);
    out.push_str(prefix);
    out.push('_');
    for b in bytes {
        out.push(ALPHABET[(b & 31) as usize] as char);
    }
    out
}

/// A new identifier that sorts by `unix_seconds`, then by creation order within this process:
/// `{prefix}_{seconds as 10 hex}{process-wide sequence as 12 hex}{4 random hex}`.
pub fn new_time_ordered_id(prefix: &str, unix_seconds: i64) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff_ffff;
    let random = random_bytes::<2>();
    format!(
        "{prefix}_{:010x}{seq:012x}{}",
        unix_seconds.clamp(0, 0xff_ffff_ffff),
        hex::encode(random)
    )
}

/// A new bearer secret: 32 random bytes, base64url, with a recognisable prefix (`ght_…`).
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// SHA-256 of a bearer secret, hex encoded: what we store instead of the secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(digest(&SHA256, secret.as_bytes()).as_ref())
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_differ() {
        let a = new_id("user");
        let b = new_id("user");
        assert!(a.starts_with("user_") && a.len() == 29);
        assert_ne!(a, b);
    }

    #[test]
    fn time_ordered_ids_sort_by_time() {
        let a = new_time_ordered_id("evt", 2_000);
        let b = new_time_ordered_id("evt", 2_000);
        let c = new_time_ordered_id("evt", 3_000);
        assert!(a < b && b < c);
        assert!(new_time_ordered_id("evt", 1_000) < a);
    }

    #[test]
    fn secrets_hash_deterministically() {
        let s = new_secret("ght");
        assert!(s.starts_with("ght_"));
        assert_eq!(hash_secret(&s), hash_secret(&s));
        assert_ne!(hash_secret(&s), hash_secret("ght_other"));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
