//! The request signature of the built-in cloud's API (`GH-HMAC-SHA256`, version `1.0`).
//!
//! It follows the shape of Alibaba Cloud's RPC signature, with SHA-256 and the path included.
//! A client holding STS credentials (AccessKeyId, AccessKeySecret, SecurityToken) signs a request
//! like this:
//!
//! 1. Add the parameters `AccessKeyId`, `SecurityToken`, `Timestamp` (UTC,
//!    `YYYY-MM-DDThh:mm:ssZ`), `SignatureNonce` (8–64 characters of `A-Z a-z 0-9 - _ .`, new for
//!    every request), `SignatureMethod=HMAC-SHA256` and `SignatureVersion=1.0` to the request's own
//!    parameters (`Action=GetCallerIdentity`, …). Query string and form body count as one set; a
//!    name may appear only once.
//! 2. Canonicalize: drop `Signature`, percent-encode every name and value (RFC 3986: everything but
//!    `A-Z a-z 0-9 - _ . ~` becomes `%XX`, upper-case hex, UTF-8), sort the pairs by encoded name
//!    (byte order), join as `name=value` with `&`.
//! 3. StringToSign = `METHOD` `\n` `path` `\n` canonical parameters, where METHOD is upper case and
//!    path is the request path without the query (`/cloud/sts`).
//! 4. `Signature` = base64 (standard alphabet, padded) of HMAC-SHA256 keyed with the
//!    AccessKeySecret's UTF-8 bytes over StringToSign; send it as one more parameter.
//!
//! The server refuses a request whose timestamp is more than [`MAX_SKEW_SECONDS`] (15 minutes)
//! away from its clock, whose AccessKeyId is unknown or expired or whose SecurityToken does not
//! belong to it, whose signature does not match (any parameter changed), or whose
//! (AccessKeyId, SignatureNonce) pair it has already seen: nonces are remembered until the
//! timestamp would be refused anyway ([`SignedRequest::nonce_expires_at`]). The nonce is recorded
//! only after the signature verifies, so unsigned junk cannot fill the nonce store.
//!
//! This module is pure: it parses, canonicalizes, signs and verifies; the caller looks up the
//! credential and keeps the nonces.

use std::collections::BTreeMap;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::macros::format_description;

/// Largest accepted distance between the request's `Timestamp` and the server clock (seconds).
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// The only `SignatureMethod`.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA256";

/// The only `SignatureVersion`.
pub const SIGNATURE_VERSION: &str = "1.0";

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required parameter is missing or empty.
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    /// A parameter appears more than once.
    #[error("parameter {0} appears more than once")]
    DuplicateParameter(String),
    /// `SignatureMethod` is not `HMAC-SHA256`.
    #[error("unsupported SignatureMethod {0:?}")]
    UnsupportedMethod(String),
    /// `SignatureVersion` is not `1.0`.
    #[error("unsupported SignatureVersion {0:?}")]
    UnsupportedVersion(String),
    /// `Timestamp` is not `YYYY-MM-DDThh:mm:ssZ`.
    #[error("Timestamp {0:?} is not YYYY-MM-DDThh:mm:ssZ")]
    BadTimestamp(String),
    /// `SignatureNonce` has the wrong length or characters.
    #[error("SignatureNonce must be 8 to 64 characters of A-Z a-z 0-9 - _ .")]
    BadNonce,
    /// `Signature` is not base64.
    #[error("Signature is not base64")]
    BadSignatureEncoding,
    /// The timestamp is too far from the server's clock.
    #[error("request timestamp is {skew} s away from the server clock (at most {max} s allowed)")]
    Expired {
        /// Distance in seconds.
        skew: i64,
        /// The limit.
        max: i64,
    },
    /// No credential has this AccessKeyId.
    #[error("unknown AccessKeyId")]
    UnknownAccessKey,
    /// The credential has expired.
    #[error("the credentials expired")]
    CredentialsExpired,
    /// The SecurityToken does not belong to the AccessKeyId.
    #[error("the SecurityToken does not match the AccessKeyId")]
    SecurityTokenMismatch,
    /// The signature does not match the request.
    #[error("the request signature does not match")]
    SignatureMismatch,
    /// The nonce was used before.
    #[error("the SignatureNonce was already used (replayed request)")]
    Replayed,
}

const TIMESTAMP_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats a unix time as a request `Timestamp`.
pub fn format_timestamp(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(TIMESTAMP_FORMAT).ok())
        .unwrap_or_default()
}

fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    time::PrimitiveDateTime::parse(text, TIMESTAMP_FORMAT)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| SignatureError::BadTimestamp(text.to_owned()))
}

/// RFC 3986 percent-encoding: unreserved characters stay, every other byte becomes `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The string a request's signature covers (see the module docs).
pub fn string_to_sign<'a>(
    method: &str,
    path: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut pairs: Vec<(String, String)> = params
        .into_iter()
        .filter(|(name, _)| *name != "Signature")
        .map(|(n, v)| (percent_encode(n), percent_encode(v)))
        .collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}\n{}\n{}", method.to_ascii_uppercase(), path, canonical)
}

fn hmac_key(secret: &str) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())
}

/// What a client needs to sign a request.
#[derive(Debug, Clone, Copy)]
pub struct SigningCredentials<'a> {
    /// `AccessKeyId`.
    pub access_key_id: &'a str,
    /// `AccessKeySecret` (the HMAC key).
    pub access_key_secret: &'a str,
    /// `SecurityToken`.
    pub security_token: &'a str,
}

/// Signs a request (client side): returns `params` plus the authentication parameters and the
/// `Signature`, ready to send as a form body or query string.
pub fn sign_request(
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    credentials: SigningCredentials<'_>,
    unix_now: i64,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    for (name, value) in [
        ("AccessKeyId", credentials.access_key_id.to_owned()),
        ("SecurityToken", credentials.security_token.to_owned()),
        ("Timestamp", format_timestamp(unix_now)),
        ("SignatureNonce", nonce.to_owned()),
        ("SignatureMethod", SIGNATURE_METHOD.to_owned()),
        ("SignatureVersion", SIGNATURE_VERSION.to_owned()),
    ] {
        all.push((name.to_owned(), value));
    }
    let to_sign = string_to_sign(
        method,
        path,
        all.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    );
    let tag = hmac::sign(&hmac_key(credentials.access_key_secret), to_sign.as_bytes());
    all.push(("Signature".to_owned(), STANDARD.encode(tag.as_ref())));
    all
}

/// A request carrying a signature, parsed (not yet verified).
#[derive(Debug, Clone)]
pub struct SignedRequest {
    method: String,
    path: String,
    params: BTreeMap<String, String>,
    timestamp: i64,
    signature: Vec<u8>,
}

impl SignedRequest {
    /// Parses the parameters of a request (query and form together) to `path` with `method`.
    pub fn parse(
        method: &str,
        path: &str,
        params: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SignatureError> {
        let mut map = BTreeMap::new();
        for (name, value) in params {
            if map.contains_key(&name) {
                return Err(SignatureError::DuplicateParameter(name));
            }
            map.insert(name, value);
        }
        let required = |name: &'static str| {
            map.get(name)
                .filter(|v| !v.is_empty())
                .ok_or(SignatureError::MissingParameter(name))
        };
        required("AccessKeyId")?;
        required("SecurityToken")?;
        let method_param = required("SignatureMethod")?;
        if method_param != SIGNATURE_METHOD {
            return Err(SignatureError::UnsupportedMethod(method_param.clone()));
        }
        let version = required("SignatureVersion")?;
        if version != SIGNATURE_VERSION {
            return Err(SignatureError::UnsupportedVersion(version.clone()));
        }
        let timestamp = parse_timestamp(required("Timestamp")?)?;
        let nonce = required("SignatureNonce")?;
        if !(8..=64).contains(&nonce.len())
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(SignatureError::BadNonce);
        }
        let signature = STANDARD
            .decode(required("Signature")?.trim())
            .map_err(|_| SignatureError::BadSignatureEncoding)?;
        Ok(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            params: map,
            timestamp,
            signature,
        })
    }

    /// `AccessKeyId`.
    pub fn access_key_id(&self) -> &str {
        self.param("AccessKeyId").unwrap_or_default()
    }

    /// `SecurityToken`.
    pub fn security_token(&self) -> &str {
        self.param("SecurityToken").unwrap_or_default()
    }

    /// `SignatureNonce`.
    pub fn nonce(&self) -> &str {
        self.param("SignatureNonce").unwrap_or_default()
    }

    /// `Timestamp` in unix seconds.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Until when the nonce must be remembered: after that the timestamp alone refuses a replay.
    pub fn nonce_expires_at(&self) -> i64 {
        self.timestamp.saturating_add(MAX_SKEW_SECONDS)
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Refuses a timestamp more than [`MAX_SKEW_SECONDS`] away from `now`.
    pub fn check_freshness(&self, unix_now: i64) -> Result<(), SignatureError> {
        let skew = (unix_now - self.timestamp).abs();
        if skew > MAX_SKEW_SECONDS {
            return Err(SignatureError::Expired {
                skew,
                max: MAX_SKEW_SECONDS,
            });
        }
        Ok(())
    }

    /// Verifies the signature with the credential's secret (constant time).
    pub fn verify(&self, access_key_secret: &str) -> Result<(), SignatureError> {
        let to_sign = string_to_sign(
            &self.method,
            &self.path,
            self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        );
        hmac::verify(
            &hmac_key(access_key_secret),
            to_sign.as_bytes(),
            &self.signature,
        )
        .map_err(|_| SignatureError::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: SigningCredentials<'static> = SigningCredentials {
        access_key_id: "STS.testkey",
        access_key_secret: "secret-1",
        security_token: "CAIStoken",
    };
    const NOW: i64 = 1_780_000_000;

    fn signed(params: &[(&str, &str)], nonce: &str) -> Vec<(String, String)> {
        sign_request("POST", "/cloud/sts", params, CREDS, NOW, nonce)
    }

    fn parse(params: Vec<(String, String)>) -> Result<SignedRequest, SignatureError> {
        SignedRequest::parse("POST", "/cloud/sts", params)
    }

    #[test]
    fn known_answer() {
        // Fixed vector so that other implementations (the CLI, scripts) can check themselves.
        let s = string_to_sign(
            "post",
            "/cloud/sts",
            [
                ("Action", "GetCallerIdentity"),
                ("b c", "ä/~"),
                ("Signature", "x"),
            ],
        );
        assert_eq!(
            s,
            "POST\n/cloud/sts\nAction=GetCallerIdentity&b%20c=%C3%A4%2F~"
        );
        let tag = hmac::sign(&hmac_key("key"), s.as_bytes());
        assert_eq!(STANDARD.encode(tag.as_ref()).len(), 44);
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_timestamp("2026-05-28T20:26:40Z").unwrap(), NOW);
    }

    #[test]
    fn sign_then_verify() {
        let req = parse(signed(&[("Action", "GetCallerIdentity")], "nonce-0001")).unwrap();
        assert_eq!(req.access_key_id(), "STS.testkey");
        assert_eq!(req.security_token(), "CAIStoken");
        assert_eq!(req.nonce(), "nonce-0001");
        assert_eq!(req.timestamp(), NOW);
        assert_eq!(req.nonce_expires_at(), NOW + MAX_SKEW_SECONDS);
        req.check_freshness(NOW + MAX_SKEW_SECONDS).unwrap();
        req.check_freshness(NOW - MAX_SKEW_SECONDS).unwrap();
        req.verify("secret-1").unwrap();
        assert_eq!(
            req.verify("secret-2"),
            Err(SignatureError::SignatureMismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let req = parse(signed(&[("Action", "GetCallerIdentity")], "nonce-0001")).unwrap();
        assert!(matches!(
            req.check_freshness(NOW + MAX_SKEW_SECONDS + 1),
            Err(SignatureError::Expired { .. })
        ));
        assert!(matches!(
            req.check_freshness(NOW - MAX_SKEW_SECONDS - 1),
            Err(SignatureError::Expired { .. })
        ));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let base = signed(
            &[("Action", "GetCallerIdentity"), ("Extra", "1")],
            "nonce-0001",
        );
        // Change each parameter value in turn (except Signature itself).
        for i in 0..base.len() {
            if base[i].0 == "Signature" {
                continue;
            }
            let mut tampered = base.clone();
            tampered[i].1.push('x');
            match parse(tampered) {
                Ok(req) => assert_eq!(
                    req.verify("secret-1"),
                    Err(SignatureError::SignatureMismatch),
                    "{}",
                    base[i].0
                ),
                Err(e) => assert!(
                    matches!(
                        e,
                        SignatureError::UnsupportedMethod(_)
                            | SignatureError::UnsupportedVersion(_)
                            | SignatureError::BadTimestamp(_)
                    ),
                    "{e}"
                ),
            }
        }
        // Adding a parameter, or another path or method, breaks it too.
        let mut added = base.clone();
        added.push(("New".into(), "v".into()));
        assert_eq!(
            parse(added).unwrap().verify("secret-1"),
            Err(SignatureError::SignatureMismatch)
        );
        let other_path = SignedRequest::parse("POST", "/cloud/other", base.clone()).unwrap();
        assert_eq!(
            other_path.verify("secret-1"),
            Err(SignatureError::SignatureMismatch)
        );
        let other_method = SignedRequest::parse("GET", "/cloud/sts", base.clone()).unwrap();
        assert_eq!(
            other_method.verify("secret-1"),
            Err(SignatureError::SignatureMismatch)
        );
        // Removing one.
        let removed: Vec<_> = base.iter().filter(|(n, _)| n != "Extra").cloned().collect();
        assert_eq!(
            parse(removed).unwrap().verify("secret-1"),
            Err(SignatureError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        let base = signed(&[("Action", "GetCallerIdentity")], "nonce-0001");
        let without = |name: &str| -> Vec<(String, String)> {
            base.iter().filter(|(n, _)| n != name).cloned().collect()
        };
        let replace = |name: &str, value: &str| -> Vec<(String, String)> {
            base.iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        if n == name {
                            value.to_owned()
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect()
        };
        for name in [
            "AccessKeyId",
            "SecurityToken",
            "Timestamp",
            "SignatureNonce",
            "SignatureMethod",
            "SignatureVersion",
            "Signature",
        ] {
            assert!(
                matches!(parse(without(name)), Err(SignatureError::MissingParameter(n)) if n == name),
                "{name}"
            );
        }
        assert!(matches!(
            parse(replace("SignatureMethod", "HMAC-SHA1")),
            Err(SignatureError::UnsupportedMethod(_))
        ));
        assert!(matches!(
            parse(replace("SignatureVersion", "2.0")),
            Err(SignatureError::UnsupportedVersion(_))
        ));
        assert!(matches!(
            parse(replace("Timestamp", "2026-05-28 20:26:40")),
            Err(SignatureError::BadTimestamp(_))
        ));
        assert!(matches!(
            parse(replace("SignatureNonce", "short")),
            Err(SignatureError::BadNonce)
        ));
        assert!(matches!(
            parse(replace("SignatureNonce", "has space in it")),
            Err(SignatureError::BadNonce)
        ));
        assert!(matches!(
            parse(replace("Signature", "***")),
            Err(SignatureError::BadSignatureEncoding)
        ));
        let mut dup = base.clone();
        dup.push(("Action".into(), "Other".into()));
        assert!(matches!(parse(dup), Err(SignatureError::DuplicateParameter(n)) if n == "Action"));
    }
}
