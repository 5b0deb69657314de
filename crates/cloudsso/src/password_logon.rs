//! Username/password logon to the portal (products.md §2.5): the password policy, the lockout after
//! `MaxLoginAttempts` failures (one hour), and the TOTP second factor with the directory's MFA
//! setting. Only possible while SSO is off.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;

pub use web::password::{Password, PasswordHasher};

/// How long an account stays locked after too many failed logons.
pub const LOCK_SECS: i64 = 3600;

/// The password policy of a directory (`GetPasswordPolicy` fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PasswordPolicy {
    /// `MinPasswordLength`, 8–32.
    pub min_password_length: u32,
    /// `MaxPasswordLength`, ≥ the minimum, ≤ 128.
    pub max_password_length: u32,
    /// `MinPasswordDifferentChars`: at least this many distinct characters (0 = no rule).
    pub min_password_different_chars: u32,
    /// `RequireLowerCaseChars`.
    pub require_lower_case_chars: bool,
    /// `RequireUpperCaseChars`.
    pub require_upper_case_chars: bool,
    /// `RequireNumbers`.
    pub require_numbers: bool,
    /// `RequireSymbols`.
    pub require_symbols: bool,
    /// `PasswordNotContainUsername`.
    pub password_not_contain_username: bool,
    /// `MaxPasswordAge` in days, 1–120 (0 = never expires).
    pub max_password_age: u32,
    /// `HardExpire`: an expired password cannot be used to log on at all (otherwise the user must
    /// change it at logon).
    pub hard_expire: bool,
    /// `MaxLoginAttempts`, 0–32 (0 = no lockout); the lock lasts one hour.
    pub max_login_attempts: u32,
    /// `PasswordReusePrevention`, 0–24 previous passwords.
    pub password_reuse_prevention: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_password_length: 8,
            max_password_length: 32,
            min_password_different_chars: 0,
            require_lower_case_chars: true,
            require_upper_case_chars: true,
            require_numbers: true,
            require_symbols: false,
            password_not_contain_username: true,
            max_password_age: 90,
            hard_expire: false,
            max_login_attempts: 5,
            password_reuse_prevention: 1,
        }
    }
}

/// Why a password does not satisfy the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// Length outside the policy's range.
    #[error("the password must have {min} to {max} characters")]
    Length {
        /// Minimum.
        min: u32,
        /// Maximum.
        max: u32,
    },
    /// A required character class is missing.
    #[error("the password must contain {0}")]
    MissingClass(&'static str),
    /// Too few distinct characters.
    #[error("the password must contain at least {0} different characters")]
    TooFewDifferentChars(u32),
    /// The password contains the user name.
    #[error("the password must not contain the user name")]
    ContainsUsername,
    /// One of the recent passwords.
    #[error("the password was used recently; choose another one")]
    RecentlyUsed,
}

impl PasswordPolicy {
    /// Checks the ranges of the settings.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let bad = |f: &'static str, m: &str| Err(InvalidInput::new(f, m));
        if !(8..=32).contains(&self.min_password_length) {
            return bad("min_password_length", "must be 8 to 32");
        }
        if self.max_password_length < self.min_password_length || self.max_password_length > 128 {
            return bad(
                "max_password_length",
                "must be at least min_password_length and at most 128",
            );
        }
        if self.min_password_different_chars > self.min_password_length {
            return bad(
                "min_password_different_chars",
                "must not exceed min_password_length",
            );
        }
        if self.max_password_age > 120 {
            return bad("max_password_age", "must be 0 (never) to 120 days");
        }
        if self.max_login_attempts > 32 {
            return bad("max_login_attempts", "must be 0 to 32");
        }
        if self.password_reuse_prevention > 24 {
            return bad("password_reuse_prevention", "must be 0 to 24");
        }
        Ok(())
    }

    /// Checks a new password against the rules that need no stored hashes.
    pub fn check(&self, password: &Password, user_name: &str) -> Result<(), PolicyViolation> {
        let text = password.expose();
        let len = text.chars().count() as u32;
        if len < self.min_password_length || len > self.max_password_length {
            return Err(PolicyViolation::Length {
                min: self.min_password_length,
                max: self.max_password_length,
            });
        }
        if self.require_lower_case_chars && !text.chars().any(|c| c.is_lowercase()) {
            return Err(PolicyViolation::MissingClass("a lower-case letter"));
        }
        if self.require_upper_case_chars && !text.chars().any(|c| c.is_uppercase()) {
            return Err(PolicyViolation::MissingClass("an upper-case letter"));
        }
        if self.require_numbers && !text.chars().any(|c| c.is_ascii_digit()) {
            return Err(PolicyViolation::MissingClass("a digit"));
        }
        if self.require_symbols && !text.chars().any(|c| !c.is_alphanumeric()) {
            return Err(PolicyViolation::MissingClass("a symbol"));
        }
        let distinct: std::collections::BTreeSet<char> = text.chars().collect();
        if (distinct.len() as u32) < self.min_password_different_chars {
            return Err(PolicyViolation::TooFewDifferentChars(
                self.min_password_different_chars,
            ));
        }
        if self.password_not_contain_username
            && !user_name.is_empty()
            && text.to_lowercase().contains(&user_name.to_lowercase())
        {
            return Err(PolicyViolation::ContainsUsername);
        }
        Ok(())
    }
}

/// `MfaAuthenticationAdvanceSettings`: when password logon asks for a TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum MfaSetting {
    /// Every user (the device is bound at the first portal logon).
    #[default]
    Enabled,
    /// Per user (`mfa_required` on the user).
    Byuser,
    /// Never.
    Disabled,
}

impl MfaSetting {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaSetting::Enabled => "Enabled",
            MfaSetting::Byuser => "Byuser",
            MfaSetting::Disabled => "Disabled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Enabled" => Some(MfaSetting::Enabled),
            "Byuser" => Some(MfaSetting::Byuser),
            "Disabled" => Some(MfaSetting::Disabled),
            _ => None,
        }
    }

    /// Whether a logon of a user (with the per-user flag) needs the second factor.
    pub fn requires_mfa(self, user_mfa_required: bool) -> bool {
        match self {
            MfaSetting::Enabled => true,
            MfaSetting::Byuser => user_mfa_required,
            MfaSetting::Disabled => false,
        }
    }
}

/// Hits per source address per minute on the logon endpoints before requests are refused.
pub const LOGON_RATE_PER_MINUTE: i64 = 30;

/// Why a portal logon step was refused. Users see [`LogonError::user_message`]; details go to the
/// audit log.
#[derive(Debug, thiserror::Error)]
pub enum LogonError {
    /// SSO is enabled: username/password logon is off.
    #[error("password logon is disabled because SSO is enabled")]
    PasswordLogonDisabled,
    /// The source address is not in the directory's logon IP allow-list.
    #[error("logon from this address is not allowed")]
    AddressNotAllowed,
    /// Too many attempts from this address.
    #[error("too many attempts")]
    RateLimited,
    /// Unknown user, wrong password, disabled user or no password set.
    #[error("wrong user name or password")]
    InvalidCredentials,
    /// Locked after too many failures.
    #[error("the account is locked until {until}")]
    Locked {
        /// Unix seconds.
        until: i64,
    },
    /// The password expired and the policy forbids logon with it (`HardExpire`).
    #[error("the password has expired")]
    PasswordExpired,
    /// The TOTP code was wrong or reused.
    #[error("wrong verification code")]
    WrongCode,
    /// No logon is in progress for this session.
    #[error("no logon in progress")]
    NoPendingLogon,
    /// Something else failed.
    #[error(transparent)]
    Service(#[from] crate::error::Error),
}

impl LogonError {
    /// What the logon page says.
    pub fn user_message(&self) -> String {
        match self {
            LogonError::PasswordLogonDisabled => {
                "Password logon is disabled for this directory: use the Redirect button to log on through your identity provider.".to_owned()
            }
            LogonError::AddressNotAllowed => "Logon from your network address is not allowed.".to_owned(),
            LogonError::RateLimited => "Too many attempts. Wait a minute and try again.".to_owned(),
            LogonError::InvalidCredentials => "Wrong user name or password.".to_owned(),
            LogonError::Locked { .. } => {
                "Too many failed attempts: the account is locked for one hour.".to_owned()
            }
            LogonError::PasswordExpired => {
                "Your password has expired. Ask your administrator to reset it.".to_owned()
            }
            LogonError::WrongCode => "Wrong verification code.".to_owned(),
            LogonError::NoPendingLogon => "Your logon has expired. Start again.".to_owned(),
            LogonError::Service(_) => "Logon is not possible right now.".to_owned(),
        }
    }
}

/// What comes after a correct password.
#[derive(Debug)]
pub enum LogonStep {
    /// Logged on.
    Done,
    /// Enter the TOTP code of the bound device.
    Mfa,
    /// First logon with MFA required: bind a device (show the secret), then enter a code.
    BindMfa {
        /// `otpauth://` URL for authenticator apps.
        otpauth_url: String,
        /// The secret in base32 for manual entry.
        secret_base32: String,
    },
}

/// The result of a correct password: the session (maybe waiting for MFA) and the next step.
#[derive(Debug)]
pub struct PasswordLogon {
    /// The new session and its cookie token.
    pub session: crate::store::session::NewSession,
    /// What to do next.
    pub step: LogonStep,
    /// The password is past `MaxPasswordAge` (soft expiry: the portal asks for a change).
    pub password_expired: bool,
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::directory::Directory;
    use crate::error::Error;
    use crate::services::Services;
    use crate::store::{self, session::Session, session::SessionKind};
    use crate::user::UserStatus;
    use web::mfa;

    /// How long a logon may wait for its second factor.
    const MFA_PENDING_SECS: i64 = 600;

    fn internal(e: impl std::fmt::Display) -> LogonError {
        LogonError::Service(Error::Internal(e.to_string()))
    }

    impl Services {
        /// Counts a logon attempt from `ip` (atomic, per minute); refuses above the limit.
        pub async fn check_logon_rate(&self, ip: Option<&str>) -> Result<(), LogonError> {
            let Some(ip) = ip else { return Ok(()) };
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let n = store::rate_limit::hit(&mut tx, &format!("logon:{ip}"), now - now % 60).await?;
            tx.commit().await.map_err(Error::from)?;
            if n > LOGON_RATE_PER_MINUTE {
                return Err(LogonError::RateLimited);
            }
            Ok(())
        }

        /// Reserves a logon attempt of `user_id` before its secret is checked (committed, so
        /// parallel attempts count against each other); `false` when the user is locked or all
        /// `max_attempts` are in use. Without a limit (0) only an existing lock refuses.
        async fn reserve_logon_attempt(
            &self,
            user_id: &str,
            max_attempts: i64,
            now: i64,
        ) -> Result<bool, LogonError> {
            if max_attempts <= 0 {
                let mut conn = self.store.read().await?;
                let creds = store::user::credentials(&mut conn, user_id).await?;
                return Ok(creds.and_then(|c| c.locked_until).is_none_or(|u| u <= now));
            }
            let mut tx = self.store.begin_write().await?;
            let reserved =
                store::user::reserve_attempt(&mut tx, user_id, max_attempts, now).await?;
            tx.commit().await.map_err(Error::from)?;
            Ok(reserved.is_some())
        }

        /// Records a wrong secret for a reserved attempt; returns whether the user is now locked.
        async fn record_logon_failure(
            &self,
            user_id: &str,
            max_attempts: i64,
            now: i64,
        ) -> Result<bool, LogonError> {
            let mut tx = self.store.begin_write().await?;
            let locked = if max_attempts <= 0 {
                store::user::record_failure(&mut tx, user_id, 0, now + LOCK_SECS).await?;
                false
            } else {
                store::user::confirm_failure(&mut tx, user_id, max_attempts, now + LOCK_SECS, now)
                    .await?
            };
            tx.commit().await.map_err(Error::from)?;
            Ok(locked)
        }

        /// Gives back a reserved attempt whose secret was right but the logon was refused.
        async fn release_logon_attempt(
            &self,
            user_id: &str,
            max_attempts: i64,
        ) -> Result<(), LogonError> {
            if max_attempts > 0 {
                let mut tx = self.store.begin_write().await?;
                store::user::release_attempt(&mut tx, user_id).await?;
                tx.commit().await.map_err(Error::from)?;
            }
            Ok(())
        }

        /// When the user's lock ends (now plus the lock time while attempts are still in flight).
        async fn locked_until(&self, user_id: &str, now: i64) -> Result<i64, LogonError> {
            let mut conn = self.store.read().await?;
            let creds = store::user::credentials(&mut conn, user_id).await?;
            Ok(creds
                .and_then(|c| c.locked_until)
                .filter(|u| *u > now)
                .unwrap_or(now + LOCK_SECS))
        }

        async fn audit_logon(
            &self,
            d: &Directory,
            actor: &Actor,
            user_id: Option<&str>,
            verb: &str,
            ok: bool,
            detail: serde_json::Value,
        ) {
            let mut ev = NewAuditEvent::new(Some(&d.id), actor, "logon", verb).detail(detail);
            if let Some(u) = user_id {
                ev = ev.target("user", u);
            }
            if !ok {
                ev = ev.failure();
            }
            if let Err(e) = self.record_audit(&ev).await {
                tracing::warn!(error = %e, "cannot record logon audit event");
            }
        }

        /// Username/password logon to the portal of `directory` (products.md §2.5). Refused while SSO
        /// is on. Failures count toward `MaxLoginAttempts` atomically; reaching it locks for one hour.
        pub async fn password_logon(
            &self,
            directory: &Directory,
            user_name: &str,
            password: &Password,
            ip: Option<&str>,
            relay_state: Option<&str>,
        ) -> Result<PasswordLogon, LogonError> {
            let actor = Actor::anonymous(ip.map(str::to_owned));
            let fail = |e: LogonError, user: Option<String>| async move {
                self.audit_logon(
                    directory,
                    &actor,
                    user.as_deref(),
                    "password",
                    false,
                    serde_json::json!({
                        "user_name": user_name, "reason": e.to_string(),
                    }),
                )
                .await;
                Err(e)
            };
            if directory.sso.enabled {
                return fail(LogonError::PasswordLogonDisabled, None).await;
            }
            if !directory
                .login_preference
                .allows(ip.and_then(|i| i.parse().ok()))
            {
                return fail(LogonError::AddressNotAllowed, None).await;
            }
            self.check_logon_rate(ip).await?;
            let now = self.now();
            let user = self.find_user_by_name(&directory.id, user_name).await?;
            let Some(user) = user else {
                self.passwords
                    .verify_dummy(password)
                    .await
                    .map_err(internal)?;
                return fail(LogonError::InvalidCredentials, None).await;
            };
            let creds = {
                let mut conn = self.store.read().await?;
                store::user::credentials(&mut conn, &user.id).await?
            };
            let Some(creds) = creds else {
                return fail(LogonError::InvalidCredentials, None).await;
            };
            let max_attempts = i64::from(directory.password_policy.max_login_attempts);
            if !self
                .reserve_logon_attempt(&user.id, max_attempts, now)
                .await?
            {
                let until = self.locked_until(&user.id, now).await?;
                return fail(LogonError::Locked { until }, Some(user.id)).await;
            }
            let correct = match &creds.password_hash {
                Some(h) => self.passwords.verify(password, h).await.map_err(internal)?,
                None => self
                    .passwords
                    .verify_dummy(password)
                    .await
                    .map_err(internal)?,
            };
            if !correct {
                if self
                    .record_logon_failure(&user.id, max_attempts, now)
                    .await?
                {
                    let until = self.locked_until(&user.id, now).await?;
                    return fail(LogonError::Locked { until }, Some(user.id)).await;
                }
                return fail(LogonError::InvalidCredentials, Some(user.id)).await;
            }
            if user.status != UserStatus::Enabled {
                self.release_logon_attempt(&user.id, max_attempts).await?;
                return fail(LogonError::InvalidCredentials, Some(user.id)).await;
            }
            let policy = &directory.password_policy;
            let expired = policy.max_password_age > 0
                && creds
                    .password_changed_at
                    .is_some_and(|t| t + i64::from(policy.max_password_age) * 86_400 <= now);
            if expired && policy.hard_expire {
                self.release_logon_attempt(&user.id, max_attempts).await?;
                return fail(LogonError::PasswordExpired, Some(user.id)).await;
            }
            let needs_mfa = directory.mfa_setting.requires_mfa(user.mfa_required);
            let mut step = LogonStep::Done;
            let mut pending_totp_enc = None;
            if needs_mfa {
                if creds.totp_secret_enc.is_some() {
                    step = LogonStep::Mfa;
                } else {
                    let enrol = mfa::new_enrolment(
                        &format!("Cloud SSO {}", directory.name),
                        &user.user_name,
                    )
                    .map_err(internal)?;
                    pending_totp_enc = Some(
                        self.master_key
                            .seal(&user.id, &enrol.secret)
                            .map_err(internal)?,
                    );
                    step = LogonStep::BindMfa {
                        otpauth_url: enrol.otpauth_url,
                        secret_base32: enrol.secret_base32,
                    };
                }
            }
            let ttl = if needs_mfa {
                MFA_PENDING_SECS
            } else {
                directory.portal_session_secs
            };
            let mut tx = self.store.begin_write().await?;
            if !store::user::clear_failures_unless_locked(&mut tx, &user.id, now).await? {
                drop(tx);
                let until = self.locked_until(&user.id, now).await?;
                return fail(LogonError::Locked { until }, Some(user.id)).await;
            }
            let session = store::session::create(
                &mut tx,
                Session {
                    id_hash: String::new(),
                    kind: SessionKind::Portal,
                    directory_id: Some(directory.id.clone()),
                    user_id: Some(user.id.clone()),
                    api_token_id: None,
                    authn_method: "password".to_owned(),
                    mfa_pending: needs_mfa,
                    pending_totp_enc,
                    relay_state: relay_state.map(str::to_owned),
                    csrf_token: String::new(),
                    source_ip: ip.map(str::to_owned),
                    created_at: now,
                    expires_at: now + ttl,
                },
            )
            .await?;
            let actor = Actor::user(user.id.clone(), ip.map(str::to_owned));
            let ev = NewAuditEvent::new(Some(&directory.id), &actor, "logon", "password")
                .target("user", &user.id)
                .detail(serde_json::json!({
                    "user_name": user.user_name, "mfa_pending": needs_mfa,
                    "password_expired": expired,
                }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await.map_err(Error::from)?;
            Ok(PasswordLogon {
                session,
                step,
                password_expired: expired,
            })
        }

        /// The second step of a password logon: checks the TOTP code (binding the device on first
        /// use) and completes the session, which then lives for the directory's portal session time.
        /// Wrong codes count toward the lockout.
        pub async fn verify_logon_mfa(
            &self,
            directory: &Directory,
            session: &Session,
            code: &str,
            ip: Option<&str>,
        ) -> Result<(), LogonError> {
            if !session.mfa_pending
                || session.directory_id.as_deref() != Some(directory.id.as_str())
            {
                return Err(LogonError::NoPendingLogon);
            }
            let Some(user_id) = session.user_id.clone() else {
                return Err(LogonError::NoPendingLogon);
            };
            self.check_logon_rate(ip).await?;
            let now = self.now();
            let creds = {
                let mut conn = self.store.read().await?;
                store::user::credentials(&mut conn, &user_id).await?
            }
            .ok_or(LogonError::NoPendingLogon)?;
            let max_attempts = i64::from(directory.password_policy.max_login_attempts);
            if !self
                .reserve_logon_attempt(&user_id, max_attempts, now)
                .await?
            {
                let until = self.locked_until(&user_id, now).await?;
                return Err(LogonError::Locked { until });
            }
            let binding = session.pending_totp_enc.is_some();
            let sealed = session
                .pending_totp_enc
                .clone()
                .or(creds.totp_secret_enc.clone())
                .ok_or(LogonError::NoPendingLogon)?;
            let secret = self.master_key.open(&user_id, &sealed).map_err(internal)?;
            let last = if binding {
                None
            } else {
                creds.totp_last_step.map(|s| s as u64)
            };
            let actor = Actor::user(user_id.clone(), ip.map(str::to_owned));
            let step = match mfa::verify(&secret, code, now.max(0) as u64, last) {
                Ok(step) => step as i64,
                Err(e) => {
                    let locked = self
                        .record_logon_failure(&user_id, max_attempts, now)
                        .await?;
                    self.audit_logon(
                        directory,
                        &actor,
                        Some(&user_id),
                        "mfa",
                        false,
                        serde_json::json!({ "reason": e.to_string() }),
                    )
                    .await;
                    if locked {
                        let until = self.locked_until(&user_id, now).await?;
                        return Err(LogonError::Locked { until });
                    }
                    return Err(LogonError::WrongCode);
                }
            };
            let mut tx = self.store.begin_write().await?;
            if !store::user::clear_failures_unless_locked(&mut tx, &user_id, now).await? {
                drop(tx);
                let until = self.locked_until(&user_id, now).await?;
                return Err(LogonError::Locked { until });
            }
            if binding {
                store::user::set_totp(&mut tx, &user_id, Some(&sealed), Some(step), now).await?;
            } else if !store::user::advance_totp_step(&mut tx, &user_id, step).await? {
                // A parallel request used the same code first.
                return Err(LogonError::WrongCode);
            }
            store::session::complete_mfa(&mut tx, &session.id_hash, "password+totp").await?;
            sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id_hash = $2")
                .bind(now + directory.portal_session_secs)
                .bind(&session.id_hash)
                .execute(&mut *tx)
                .await
                .map_err(Error::from)?;
            let ev = NewAuditEvent::new(
                Some(&directory.id),
                &actor,
                "logon",
                if binding { "mfa_bind" } else { "mfa" },
            )
            .target("user", &user_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await.map_err(Error::from)?;
            Ok(())
        }

        /// Ends a portal or console session.
        pub async fn logout(&self, session: &Session, actor: &Actor) -> crate::error::Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            store::session::delete(&mut tx, &session.id_hash).await?;
            let mut ev =
                NewAuditEvent::new(session.directory_id.as_deref(), actor, "logon", "logout");
            if let Some(u) = &session.user_id {
                ev = ev.target("user", u);
            }
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// A user changes their own password (the current one must be right).
        pub async fn change_own_password(
            &self,
            directory: &Directory,
            user_id: &str,
            current: &Password,
            new: &Password,
            actor: &Actor,
        ) -> crate::error::Result<()> {
            let creds = {
                let mut conn = self.store.read().await?;
                store::user::credentials(&mut conn, user_id).await?
            }
            .ok_or(Error::NotFound("user"))?;
            let ok = match &creds.password_hash {
                Some(h) => self
                    .passwords
                    .verify(current, h)
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?,
                None => false,
            };
            if !ok {
                return Err(Error::invalid("current_password", "is wrong"));
            }
            let ev = NewAuditEvent::new(Some(&directory.id), actor, "user", "change_own_password")
                .target("user", user_id);
            self.change_password_checked(&directory.id, user_id, new, &ev)
                .await
        }
    }
}

impl From<sqlx::Error> for LogonError {
    fn from(e: sqlx::Error) -> Self {
        LogonError::Service(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules() {
        let p = PasswordPolicy::default();
        assert!(p.validate().is_ok());
        assert!(p.check(&Password::new("Abcdefg1"), "alice").is_ok());
        assert!(matches!(
            p.check(&Password::new("Ab1"), "alice"),
            Err(PolicyViolation::Length { .. })
        ));
        assert_eq!(
            p.check(&Password::new("abcdefg1"), "alice"),
            Err(PolicyViolation::MissingClass("an upper-case letter"))
        );
        assert_eq!(
            p.check(&Password::new("xAlice123"), "alice"),
            Err(PolicyViolation::ContainsUsername)
        );
        let strict = PasswordPolicy {
            require_symbols: true,
            min_password_different_chars: 8,
            ..PasswordPolicy::default()
        };
        assert!(strict.check(&Password::new("Aaaaaaa1!"), "u").is_err());
        assert!(strict.check(&Password::new("Abcdefg1!"), "u").is_ok());
        let bad = PasswordPolicy {
            max_login_attempts: 33,
            ..PasswordPolicy::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn mfa_setting() {
        assert!(MfaSetting::Enabled.requires_mfa(false));
        assert!(MfaSetting::Byuser.requires_mfa(true));
        assert!(!MfaSetting::Byuser.requires_mfa(false));
        assert!(!MfaSetting::Disabled.requires_mfa(true));
    }
}
