//! Signing in: password check with per-address rate limit and atomic per-account lockout, the TOTP
//! second factor (and its enrolment when the instance requires MFA), password change, sign-out.
//!
//! Lockout (saml-defense.md rule 11): an attempt is *reserved* before the password is checked, by one
//! `UPDATE … SET failed_attempts = failed_attempts + 1 WHERE … AND failed_attempts < max`. Parallel
//! attempts therefore cannot exceed `max_failures`: once the reservations are used up, every other
//! attempt is refused without looking at the password. A correct password clears the count.

use serde_json::json;

use crate::audit::{Actor, NewAuditEvent};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::mfa::{self, MfaError, TotpEnrolment};
use crate::password::{HistoryCheckError, Password, PolicyViolation};
use crate::services::Services;
use crate::store::session::{NewSession, Session, SessionParams};
use crate::store::{self, rate_limit};
use crate::user::{User, UserStatus};

/// Length of a rate-limit window in seconds.
pub const RATE_WINDOW_SECS: i64 = 60;

/// `authn_methods` after a password.
pub const METHODS_PASSWORD: &str = "password";
/// `authn_methods` after a password and a TOTP code.
pub const METHODS_PASSWORD_TOTP: &str = "password+totp";

/// Why a sign-in step was refused. The messages are what the user sees: deliberately generic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefusal {
    /// Too many attempts from this address.
    #[error("too many attempts; wait a minute and try again")]
    RateLimited,
    /// Wrong user name or password (or a disabled account: we do not say which).
    #[error("wrong user name or password")]
    InvalidCredentials,
    /// The account is locked after too many failures.
    #[error("the account is locked after too many failed attempts; try again later")]
    Locked,
    /// Wrong or reused TOTP code.
    #[error("wrong verification code")]
    WrongCode,
    /// The session is not waiting for a second factor.
    #[error("the sign-in has expired; start again")]
    NoPendingSignIn,
}

/// What happened after the password step.
#[derive(Debug)]
pub enum SignInOutcome {
    /// Signed in (maybe with a password change still required).
    SignedIn {
        /// New session (cookie token inside).
        session: NewSession,
        /// The user must change the password before going on.
        must_change_password: bool,
    },
    /// Password accepted; a TOTP code is needed (or must first be enrolled).
    SecondFactor {
        /// Session with `mfa_pending`.
        session: NewSession,
        /// The user has no TOTP yet and must enrol one now (instance policy `always`).
        enrol: bool,
    },
    /// Refused.
    Refused(SignInRefusal),
}

/// What else an accepted TOTP code changes (in the same transaction).
#[derive(Debug, Clone, Copy)]
enum TotpSuccess<'a> {
    /// Nothing beyond enabling a pending enrolment.
    Nothing,
    /// Completes the session with this id hash (second factor of a sign-in).
    CompleteSession(&'a str),
}

fn totp_aad(user_id: &str) -> String {
    format!("totp:{user_id}")
}

fn window_start(now: i64) -> i64 {
    now - now.rem_euclid(RATE_WINDOW_SECS)
}

impl Services {
    async fn audit_now(&self, event: NewAuditEvent) -> Result<()> {
        let mut conn = self.store.read().await?;
        store::audit::append(&mut conn, &event, self.now()).await?;
        Ok(())
    }

    /// Counts a sign-in attempt from `source_ip`; `false` when over the instance's per-minute limit.
    pub async fn sign_in_rate_ok(
        &self,
        instance: &Instance,
        source_ip: Option<&str>,
    ) -> Result<bool> {
        let now = self.now();
        let key = format!("signin:{}:{}", instance.id, source_ip.unwrap_or("unknown"));
        let mut conn = self.store.read().await?;
        let count = rate_limit::hit(&mut conn, &key, window_start(now)).await?;
        Ok(count <= instance.settings.rate_limit_per_minute)
    }

    /// The password step (`step_up_mfa`: ask enrolled users for their TOTP regardless of policy).
    pub async fn sign_in_password(
        &self,
        instance: &Instance,
        username: &str,
        password: &Password,
        source_ip: Option<&str>,
        step_up_mfa: bool,
    ) -> Result<SignInOutcome> {
        let actor = Actor::anonymous(source_ip.map(str::to_owned));
        let failure = |reason: &str, user: Option<&User>| {
            let mut e = NewAuditEvent::new(Some(&instance.id), &actor, "authn", "signin")
                .failure()
                .detail(json!({ "username": username, "reason": reason }));
            if let Some(u) = user {
                e = e.target("user", &u.id);
            }
            e
        };
        if !self.sign_in_rate_ok(instance, source_ip).await? {
            self.audit_now(failure("rate_limited", None)).await?;
            return Ok(SignInOutcome::Refused(SignInRefusal::RateLimited));
        }
        let creds = {
            let mut conn = self.store.read().await?;
            store::user::credentials_by_username(&mut conn, &instance.id, username.trim()).await?
        };
        let Some(creds) = creds else {
            self.passwords
                .verify_dummy(password)
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            self.audit_now(failure("unknown_user", None)).await?;
            return Ok(SignInOutcome::Refused(SignInRefusal::InvalidCredentials));
        };
        let user = &creds.user;
        let lockout = &instance.settings.lockout;
        let now = self.now();
        // Transaction 1: the reservation, committed BEFORE the slow password check so that parallel
        // attempts see it. A refusal is audited in the same transaction.
        let reserved = {
            let mut tx = self.store.begin_write().await?;
            let reserved = store::user::reserve_signin_attempt(
                &mut tx,
                &user.id,
                lockout.max_failures,
                now,
                now + lockout.lock_seconds,
            )
            .await?;
            if !reserved {
                store::audit::append(&mut tx, &failure("locked", Some(user)), now).await?;
            }
            tx.commit().await?;
            reserved
        };
        if !reserved {
            return Ok(SignInOutcome::Refused(SignInRefusal::Locked));
        }
        let ok = match &creds.password_hash {
            Some(hash) => self
                .passwords
                .verify(password, hash)
                .await
                .map_err(|e| Error::Internal(e.to_string()))?,
            None => self
                .passwords
                .verify_dummy(password)
                .await
                .map_err(|e| Error::Internal(e.to_string()))?,
        };
        let now = self.now();
        if !ok || user.status != UserStatus::Enabled {
            // Transaction 2: the result of the attempt and its audit event.
            let mut tx = self.store.begin_write().await?;
            if ok {
                // Right password of a disabled account: not a guessing failure, but still refused.
                store::user::record_signin_success(&mut tx, &user.id).await?;
            } else {
                store::user::record_signin_failure(
                    &mut tx,
                    &user.id,
                    lockout.max_failures,
                    now + lockout.lock_seconds,
                )
                .await?;
            }
            let reason = if ok { "disabled" } else { "wrong_password" };
            store::audit::append(&mut tx, &failure(reason, Some(user)), now).await?;
            tx.commit().await?;
            return Ok(SignInOutcome::Refused(SignInRefusal::InvalidCredentials));
        }
        // `step_up_mfa`: an SP asked for a multi-factor context; users with a TOTP are asked for it
        // even when the instance policy would not.
        let needs_mfa = instance
            .settings
            .mfa_policy
            .requires_second_factor(user.mfa_enabled)
            || (step_up_mfa && user.mfa_enabled);
        let mut tx = self.store.begin_write().await?;
        store::user::record_signin_success(&mut tx, &user.id).await?;
        let session = store::session::create(
            &mut tx,
            SessionParams {
                instance_id: &instance.id,
                user_id: &user.id,
                now,
                ttl_secs: instance.settings.session_ttl_secs,
                authn_methods: METHODS_PASSWORD,
                mfa_pending: needs_mfa,
                source_ip,
            },
        )
        .await?;
        let verb = if needs_mfa { "password" } else { "signin" };
        let event = NewAuditEvent::new(Some(&instance.id), &Actor::user(&user.id, source_ip.map(str::to_owned)), "authn", verb)
            .target("user", &user.id)
            .detail(json!({ "username": user.username, "methods": METHODS_PASSWORD, "mfa_pending": needs_mfa }));
        store::audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(if needs_mfa {
            SignInOutcome::SecondFactor {
                session,
                enrol: !user.mfa_enabled,
            }
        } else {
            SignInOutcome::SignedIn {
                session,
                must_change_password: user.must_change_password,
            }
        })
    }

    /// Starts a TOTP enrolment for `user`: generates a secret and stores it sealed, not yet enabled.
    /// Refused when a TOTP is already active (an admin must reset it first).
    pub async fn begin_totp_enrolment(
        &self,
        instance: &Instance,
        user: &User,
    ) -> Result<TotpEnrolment> {
        if user.mfa_enabled {
            return Err(Error::Forbidden("a TOTP authenticator is already enrolled"));
        }
        let enrolment = mfa::new_enrolment(&instance.name, &user.username)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let sealed = self
            .master_key
            .seal(&totp_aad(&user.id), &enrolment.secret)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        // Re-checked inside the transaction: an enrolment confirmed meanwhile is not overwritten.
        let r = sqlx::query(
            "UPDATE users SET totp_secret_enc = $1, totp_last_step = NULL, updated_at = $2 \
             WHERE id = $3 AND instance_id = $4 AND mfa_enabled = 0",
        )
        .bind(&sealed)
        .bind(now)
        .bind(&user.id)
        .bind(&instance.id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Err(Error::Forbidden("a TOTP authenticator is already enrolled"));
        }
        let event = NewAuditEvent::new(
            Some(&instance.id),
            &Actor::user(&user.id, None),
            "mfa",
            "enrol_start",
        )
        .target("user", &user.id);
        store::audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(enrolment)
    }

    /// Checks a TOTP code of `user_id` (enrolled, or pending enrolment when `enrolling`), refusing
    /// reused steps; counts failures toward the lockout. On success, runs `on_success` and appends
    /// `event` in the same transaction as the accepted step; on failure, records the failure and
    /// appends `event` marked as a failure, also in one transaction.
    async fn check_totp(
        &self,
        instance: &Instance,
        user_id: &str,
        code: &str,
        enrolling: bool,
        event: NewAuditEvent,
        on_success: TotpSuccess<'_>,
    ) -> Result<std::result::Result<(), SignInRefusal>> {
        let creds = {
            let mut conn = self.store.read().await?;
            store::user::credentials(&mut conn, &instance.id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?
        };
        let now = self.now();
        let refuse = |event: NewAuditEvent, refusal: SignInRefusal| {
            event
                .failure()
                .detail(json!({ "methods": "totp", "reason": format!("{refusal:?}") }))
        };
        if creds.user.mfa_enabled == enrolling || creds.totp_secret_enc.is_none() {
            let mut tx = self.store.begin_write().await?;
            let refusal = SignInRefusal::NoPendingSignIn;
            store::audit::append(&mut tx, &refuse(event, refusal), now).await?;
            tx.commit().await?;
            return Ok(Err(refusal));
        }
        let sealed = creds.totp_secret_enc.as_deref().unwrap_or_default();
        let secret = self
            .master_key
            .open(&totp_aad(user_id), sealed)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let lockout = &instance.settings.lockout;
        let lock_until = now + lockout.lock_seconds;
        let mut tx = self.store.begin_write().await?;
        if !store::user::reserve_signin_attempt(
            &mut tx,
            user_id,
            lockout.max_failures,
            now,
            lock_until,
        )
        .await?
        {
            let refusal = SignInRefusal::Locked;
            store::audit::append(&mut tx, &refuse(event, refusal), now).await?;
            tx.commit().await?;
            return Ok(Err(refusal));
        }
        let last = creds.totp_last_step.and_then(|s| u64::try_from(s).ok());
        let verified = mfa::verify(&secret, code, u64::try_from(now).unwrap_or(0), last);
        // The step is stored atomically: of two parallel uses of one code only one wins.
        let accepted = match verified {
            Ok(step) => {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                store::user::advance_totp_step(&mut tx, user_id, step).await?
            }
            Err(MfaError::WrongCode | MfaError::CodeReused | MfaError::InvalidSecret) => false,
        };
        if !accepted {
            store::user::record_signin_failure(&mut tx, user_id, lockout.max_failures, lock_until)
                .await?;
            let refusal = SignInRefusal::WrongCode;
            store::audit::append(&mut tx, &refuse(event, refusal), now).await?;
            tx.commit().await?;
            return Ok(Err(refusal));
        }
        store::user::record_signin_success(&mut tx, user_id).await?;
        if enrolling {
            sqlx::query("UPDATE users SET mfa_enabled = 1, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        if let TotpSuccess::CompleteSession(id_hash) = on_success {
            store::session::complete_authn(&mut tx, id_hash, METHODS_PASSWORD_TOTP, now).await?;
        }
        store::audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The second-factor step of a session waiting for it (`enrolling`: the code confirms a new
    /// enrolment, which is then enabled).
    pub async fn sign_in_second_factor(
        &self,
        instance: &Instance,
        session: &Session,
        code: &str,
        enrolling: bool,
        source_ip: Option<&str>,
    ) -> Result<std::result::Result<(), SignInRefusal>> {
        if !session.mfa_pending {
            return Ok(Err(SignInRefusal::NoPendingSignIn));
        }
        if !self.sign_in_rate_ok(instance, source_ip).await? {
            return Ok(Err(SignInRefusal::RateLimited));
        }
        let actor = Actor::user(&session.user_id, source_ip.map(str::to_owned));
        let event = NewAuditEvent::new(Some(&instance.id), &actor, "authn", "signin")
            .target("user", &session.user_id)
            .detail(json!({ "methods": METHODS_PASSWORD_TOTP, "enrolment": enrolling }));
        self.check_totp(
            instance,
            &session.user_id,
            code,
            enrolling,
            event,
            TotpSuccess::CompleteSession(&session.id_hash),
        )
        .await
    }

    /// Enrols a TOTP from the portal for a signed-in user: confirms the pending secret with a code.
    pub async fn confirm_totp_enrolment(
        &self,
        instance: &Instance,
        user: &User,
        code: &str,
        source_ip: Option<&str>,
    ) -> Result<std::result::Result<(), SignInRefusal>> {
        let event = NewAuditEvent::new(
            Some(&instance.id),
            &Actor::user(&user.id, source_ip.map(str::to_owned)),
            "mfa",
            "enrol",
        )
        .target("user", &user.id);
        self.check_totp(instance, &user.id, code, true, event, TotpSuccess::Nothing)
            .await
    }

    /// Changes the password of a signed-in user after checking the current one and the policy.
    pub async fn change_password(
        &self,
        instance: &Instance,
        user: &User,
        current: &Password,
        new: &Password,
        source_ip: Option<&str>,
    ) -> Result<std::result::Result<(), PasswordChangeRefusal>> {
        let creds = {
            let mut conn = self.store.read().await?;
            store::user::credentials(&mut conn, &instance.id, &user.id)
                .await?
                .ok_or(Error::NotFound("user"))?
        };
        let Some(hash) = creds.password_hash.clone() else {
            return Ok(Err(PasswordChangeRefusal::WrongCurrentPassword));
        };
        if !self
            .passwords
            .verify(current, &hash)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
        {
            self.audit_now(
                NewAuditEvent::new(
                    Some(&instance.id),
                    &Actor::user(&user.id, source_ip.map(str::to_owned)),
                    "user",
                    "change_password",
                )
                .target("user", &user.id)
                .failure(),
            )
            .await?;
            return Ok(Err(PasswordChangeRefusal::WrongCurrentPassword));
        }
        let policy = &instance.settings.password_policy;
        if let Err(v) = policy.check(new, &user.username) {
            return Ok(Err(PasswordChangeRefusal::Policy(v)));
        }
        let mut previous = {
            let mut conn = self.store.read().await?;
            store::user::recent_password_hashes(&mut conn, &user.id, policy.history.max(1)).await?
        };
        if !previous.contains(&hash) {
            previous.insert(0, hash);
        }
        match policy.check_history(&self.passwords, new, &previous).await {
            Ok(()) => {}
            Err(HistoryCheckError::Violation(v)) => {
                return Ok(Err(PasswordChangeRefusal::Policy(v)));
            }
            Err(HistoryCheckError::Password(e)) => return Err(Error::Internal(e.to_string())),
        }
        let new_hash = self
            .passwords
            .hash(new)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        store::user::set_password(
            &mut tx,
            &user.id,
            &new_hash,
            false,
            policy.history.max(1),
            now,
        )
        .await?;
        let event = NewAuditEvent::new(
            Some(&instance.id),
            &Actor::user(&user.id, source_ip.map(str::to_owned)),
            "user",
            "change_password",
        )
        .target("user", &user.id);
        store::audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Ends a session.
    pub async fn sign_out(
        &self,
        instance: &Instance,
        session: &Session,
        source_ip: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        store::session::delete(&mut tx, &session.id_hash).await?;
        let event = NewAuditEvent::new(
            Some(&instance.id),
            &Actor::user(&session.user_id, source_ip.map(str::to_owned)),
            "authn",
            "signout",
        )
        .target("user", &session.user_id);
        store::audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Why a password change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordChangeRefusal {
    /// The current password is wrong.
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// The new password breaks the policy.
    #[error(transparent)]
    Policy(#[from] PolicyViolation),
}
