//! Passwords: Argon2id hashing off the async runtime with bounded concurrency, and the password policy
//! (length, character classes, history, forced change on first sign-in).
//!
//! Hashing is deliberately expensive, so it runs on tokio's blocking pool behind a semaphore sized to
//! the number of cores: a burst of sign-ins queues instead of starving every other request.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// Why hashing or verifying failed (never because the password was wrong: that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The configured Argon2 parameters are out of range.
    #[error("invalid Argon2 parameters: {0}")]
    InvalidParams(String),
    /// A stored hash is not a valid PHC string.
    #[error("stored password hash is malformed")]
    MalformedHash,
    /// Argon2 itself failed.
    #[error("password hashing failed")]
    Hashing,
    /// The blocking task was cancelled or panicked, or the semaphore closed.
    #[error("password worker unavailable")]
    WorkerUnavailable,
}

/// Argon2id cost parameters (from the server configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Argon2Params {
    /// Memory in KiB (OWASP minimum 19456).
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Cheap parameters for tests only (still Argon2id, still salted).
    pub fn for_tests() -> Self {
        Self {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// A password as typed by a user. Does not print; zeroed on drop.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password received from outside.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Hashes and verifies passwords with Argon2id on the blocking pool.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist so that the
    /// response time does not reveal which user names exist.
    dummy_hash: Arc<String>,
    /// Counts hashes running on the blocking pool (tests check the bound holds).
    #[cfg(test)]
    probe: Arc<probe::Probe>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("permits", &self.permits.available_permits())
            .finish()
    }
}

impl PasswordHasher {
    /// Builds a hasher with a concurrency limit equal to the number of cores.
    pub fn new(params: Argon2Params) -> Result<Self, PasswordError> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self::with_concurrency(params, cores)
    }

    /// Builds a hasher allowing at most `concurrency` hashes at once.
    pub fn with_concurrency(
        params: Argon2Params,
        concurrency: usize,
    ) -> Result<Self, PasswordError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError::InvalidParams(e.to_string()))?;
        let mut random = [0u8; 24];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| PasswordError::Hashing)?;
        let dummy = hash_blocking(&params, &hex::encode(random))?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: Arc::new(dummy),
            #[cfg(test)]
            probe: Arc::new(probe::Probe::default()),
        })
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$...`).
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let params = self.params.clone();
        let password = password.clone();
        self.run_bounded(move || hash_blocking(&params, password.expose()))
            .await
    }

    /// Checks `password` against a stored PHC string. `Ok(false)` means "wrong password".
    pub async fn verify(&self, password: &Password, phc: &str) -> Result<bool, PasswordError> {
        let password = password.clone();
        let phc = phc.to_owned();
        self.run_bounded(move || verify_blocking(password.expose(), &phc))
            .await
    }

    /// Runs `work` on the blocking pool holding one permit for as long as the work runs.
    ///
    /// The permit is owned by the blocking closure, not by this future: when the caller drops the
    /// future (a client disconnect, a timeout), the hash already started keeps its permit until it
    /// finishes, so at most `concurrency` hashes ever run at once.
    async fn run_bounded<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::WorkerUnavailable)?;
        #[cfg(test)]
        let probe = Arc::clone(&self.probe);
        tokio::task::spawn_blocking(move || {
            #[cfg(test)]
            let _running = probe.enter();
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|_| PasswordError::WorkerUnavailable)?
    }

    /// Spends the same time as a real verification, for unknown accounts; always `false`.
    pub async fn verify_dummy(&self, password: &Password) -> Result<bool, PasswordError> {
        let dummy = Arc::clone(&self.dummy_hash);
        self.verify(password, &dummy).await.map(|_| false)
    }
}

#[cfg(test)]
mod probe {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Running and peak number of hashes on the blocking pool.
    #[derive(Debug, Default)]
    pub(super) struct Probe {
        running: AtomicUsize,
        pub(super) peak: AtomicUsize,
    }

    /// Decrements the running count when the hash ends.
    pub(super) struct Running<'a>(&'a Probe);

    impl Probe {
        pub(super) fn enter(&self) -> Running<'_> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            Running(self)
        }

        pub(super) fn running(&self) -> usize {
            self.running.load(Ordering::SeqCst)
        }
    }

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, PasswordError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

fn verify_blocking(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::MalformedHash)?;
    // Parameters come from the stored hash, so older hashes keep verifying after a config change.
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(PasswordError::MalformedHash),
    }
}

/// An instance's password rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_length: usize,
    /// How many of the four classes (lower case, upper case, digit, other) must appear.
    pub require_classes: u8,
    /// How many previous passwords may not be reused (0 = no history check).
    pub history: usize,
    /// Users created by an administrator must choose a new password at their first sign-in.
    pub force_change_on_first_signin: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            require_classes: 3,
            history: 3,
            force_change_on_first_signin: true,
        }
    }
}

/// Longest password we accept: bounds the Argon2 input and the form size.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Why a new password does not satisfy the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// Shorter than the policy minimum.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// Required minimum.
        min: usize,
    },
    /// Longer than [`MAX_PASSWORD_LEN`].
    #[error("the password must have at most {max} characters")]
    TooLong {
        /// Allowed maximum.
        max: usize,
    },
    /// Not enough character classes.
    #[error(
        "the password must mix at least {required} of: lower case, upper case, digits, symbols"
    )]
    TooFewClasses {
        /// Classes required.
        required: u8,
        /// Classes found.
        found: u8,
    },
    /// The password equals the user name (case-insensitive).
    #[error("the password must not be the user name")]
    SameAsUsername,
    /// One of the last `history` passwords.
    #[error("the password was used recently; choose another one")]
    RecentlyUsed,
}

impl PasswordPolicy {
    /// Checks length, classes and the user name (the history check needs hashes: see
    /// [`PasswordPolicy::check_history`]).
    pub fn check(&self, password: &Password, username: &str) -> Result<(), PolicyViolation> {
        let text = password.expose();
        let len = text.chars().count();
        if len < self.min_length.max(1) {
            return Err(PolicyViolation::TooShort {
                min: self.min_length.max(1),
            });
        }
        if len > MAX_PASSWORD_LEN {
            return Err(PolicyViolation::TooLong {
                max: MAX_PASSWORD_LEN,
            });
        }
        let found = character_classes(text);
        let required = self.require_classes.min(4);
        if found < required {
            return Err(PolicyViolation::TooFewClasses { required, found });
        }
        if !username.is_empty() && text.to_lowercase() == username.to_lowercase() {
            return Err(PolicyViolation::SameAsUsername);
        }
        Ok(())
    }

    /// Refuses a password equal to the current one or to one of the last `history` ones
    /// (`previous_hashes` newest first; the current hash included).
    pub async fn check_history(
        &self,
        hasher: &PasswordHasher,
        password: &Password,
        previous_hashes: &[String],
    ) -> Result<(), HistoryCheckError> {
        for phc in previous_hashes.iter().take(self.history.max(1)) {
            if hasher.verify(password, phc).await? {
                return Err(HistoryCheckError::Violation(PolicyViolation::RecentlyUsed));
            }
        }
        Ok(())
    }
}

/// Outcome of a history check that did not pass.
#[derive(Debug, thiserror::Error)]
pub enum HistoryCheckError {
    /// The password was used recently.
    #[error(transparent)]
    Violation(#[from] PolicyViolation),
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
}

fn character_classes(text: &str) -> u8 {
    let lower = text.chars().any(|c| c.is_lowercase());
    let upper = text.chars().any(|c| c.is_uppercase());
    let digit = text.chars().any(|c| c.is_ascii_digit());
    let other = text.chars().any(|c| !c.is_alphanumeric());
    u8::from(lower) + u8::from(upper) + u8::from(digit) + u8::from(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::with_concurrency(Argon2Params::for_tests(), 2).unwrap()
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hasher();
        let phc = h.hash(&Password::new("Correct-horse-1")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(
            h.verify(&Password::new("Correct-horse-1"), &phc)
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&Password::new("correct-horse-1"), &phc)
                .await
                .unwrap()
        );
        assert!(!h.verify_dummy(&Password::new("anything")).await.unwrap());
        assert!(matches!(
            h.verify(&Password::new("x"), "not a phc").await,
            Err(PasswordError::MalformedHash)
        ));
    }

    #[tokio::test]
    async fn salts_differ() {
        let h = hasher();
        let a = h.hash(&Password::new("same")).await.unwrap();
        let b = h.hash(&Password::new("same")).await.unwrap();
        assert_ne!(a, b);
    }

    /// Cancelled callers must not free a permit while their hash still runs on the blocking pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_hashes_keep_their_permit() {
        let params = Argon2Params {
            memory_kib: 8 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        let h = PasswordHasher::with_concurrency(params, 2).unwrap();
        let mut tasks = Vec::new();
        for i in 0..24 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                let pw = Password::new(format!("pw-{i}"));
                // Tiny deadline: most calls are dropped while their hash is queued or running.
                let _ =
                    tokio::time::timeout(std::time::Duration::from_millis(1), h.hash(&pw)).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Wait for the blocking pool to drain the hashes that were already started.
        for _ in 0..500 {
            if h.probe.running() == 0 && h.permits.available_permits() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let peak = h.probe.peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!(peak >= 1, "some hash must have started");
        assert!(peak <= 2, "{peak} hashes ran at once with a bound of 2");
        assert_eq!(h.permits.available_permits(), 2);
    }

    #[test]
    fn invalid_params_are_refused() {
        let bad = Argon2Params {
            memory_kib: 1,
            iterations: 0,
            parallelism: 0,
        };
        assert!(matches!(
            PasswordHasher::new(bad),
            Err(PasswordError::InvalidParams(_))
        ));
    }

    #[test]
    fn policy_rules() {
        let p = PasswordPolicy::default();
        assert_eq!(
            p.check(&Password::new("Ab1!"), "u"),
            Err(PolicyViolation::TooShort { min: 8 })
        );
        assert_eq!(
            p.check(&Password::new("abcdefgh"), "u"),
            Err(PolicyViolation::TooFewClasses {
                required: 3,
                found: 1
            })
        );
        assert_eq!(
            p.check(&Password::new("Alice-2024x"), "alice-2024X"),
            Err(PolicyViolation::SameAsUsername)
        );
        assert_eq!(
            p.check(&Password::new("x".repeat(300)), "u"),
            Err(PolicyViolation::TooLong { max: 256 })
        );
        assert!(p.check(&Password::new("Abcdefg1"), "u").is_ok());
        let lax = PasswordPolicy {
            min_length: 4,
            require_classes: 1,
            ..PasswordPolicy::default()
        };
        assert!(lax.check(&Password::new("abcd"), "u").is_ok());
    }

    #[tokio::test]
    async fn history_refuses_recent_passwords() {
        let h = hasher();
        let old = vec![
            h.hash(&Password::new("Newest-1")).await.unwrap(),
            h.hash(&Password::new("Older-22")).await.unwrap(),
            h.hash(&Password::new("Oldest-333")).await.unwrap(),
        ];
        let p = PasswordPolicy {
            history: 2,
            ..PasswordPolicy::default()
        };
        assert!(matches!(
            p.check_history(&h, &Password::new("Older-22"), &old).await,
            Err(HistoryCheckError::Violation(PolicyViolation::RecentlyUsed))
        ));
        assert!(
            p.check_history(&h, &Password::new("Oldest-333"), &old)
                .await
                .is_ok()
        );
        let none = PasswordPolicy {
            history: 0,
            ..PasswordPolicy::default()
        };
        assert!(
            none.check_history(&h, &Password::new("Newest-1"), &old)
                .await
                .is_err(),
            "current password never reusable"
        );
    }

    #[test]
    fn password_debug_redacts() {
        assert_eq!(
            format!("{:?}", Password::new("hunter2")),
            "Password(<redacted>)"
        );
    }
}
