//! Gatehouse shared HTTP and identity plumbing used by both services (IDaaS and Cloud SSO).
//!
//! Time and identifiers, secrets at rest, password hashing, TOTP, audit actors, and the HTTP edge
//! pieces every API shares (error type, extractors, CSRF, cookie helpers). Nothing here knows about
//! either service's domain or database.
#![forbid(unsafe_code)]

pub mod api_token;
pub mod audit;
pub mod clock;
pub mod error;
pub mod http;
pub mod id;
pub mod master_key;
pub mod mfa;
pub mod password;
pub mod rate_limit;
pub mod sql;

pub use clock::{Clock, ManualClock, SystemClock};
