//! SAML HTTP bindings (SAML bindings §3.4 HTTP-Redirect and §3.5 HTTP-POST), without I/O.
//!
//! HTTP-Redirect: the message is raw-DEFLATEd, base64-encoded and URL-encoded into a query parameter.
//! Its optional signature is *detached*: it covers the octets
//! `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as they appear in the URL (still URL-encoded), so
//! [`decode_redirect`] takes the raw query string and never re-encodes anything before verifying.
//!
//! Limits: the raw query is capped at [`MAX_REDIRECT_QUERY_BYTES`], the inflated message at
//! [`MAX_INFLATED_BYTES`] (which stops deflate bombs: we stop reading at the cap), a POST value at
//! [`MAX_POST_VALUE_BYTES`], and RelayState at [`MAX_RELAY_STATE_BYTES`]. The spec asks senders for
//! at most 80 bytes of RelayState; real SPs send more (long return URLs), so we accept up to 1024
//! bytes and refuse anything longer.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use url::form_urlencoded;

use crate::algorithm::{AlgorithmPolicy, SignatureAlgorithm};
use crate::key::{Certificate, SigningKey};

/// Largest raw query string [`decode_redirect`] accepts.
pub const MAX_REDIRECT_QUERY_BYTES: usize = 64 * 1024;
/// Largest inflated HTTP-Redirect message (anything bigger is treated as a deflate bomb).
pub const MAX_INFLATED_BYTES: usize = 128 * 1024;
/// Largest base64 form value [`decode_post`] accepts (whitespace included).
pub const MAX_POST_VALUE_BYTES: usize = 1024 * 1024;
/// Largest RelayState accepted (the spec's 80 is too small for real SPs; see the module docs).
pub const MAX_RELAY_STATE_BYTES: usize = 1024;

/// Why a binding-level message was refused.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// The raw query string is longer than [`MAX_REDIRECT_QUERY_BYTES`].
    #[error("query string too long ({len} bytes, max {max})")]
    QueryTooLong {
        /// Length found.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A parameter has a malformed `%XX` escape or is not UTF-8 once decoded.
    #[error("parameter {name} is not properly URL-encoded")]
    BadUrlEncoding {
        /// Parameter name.
        name: String,
    },
    /// A SAML parameter appears more than once.
    #[error("parameter {name} appears more than once")]
    DuplicateParameter {
        /// Parameter name.
        name: String,
    },
    /// Neither `SAMLRequest` nor `SAMLResponse` is present.
    #[error("no SAMLRequest or SAMLResponse parameter")]
    MissingMessage,
    /// Both `SAMLRequest` and `SAMLResponse` are present.
    #[error("both SAMLRequest and SAMLResponse present")]
    BothRequestAndResponse,
    /// A value is not valid base64.
    #[error("parameter {name} is not valid base64")]
    BadBase64 {
        /// Parameter name.
        name: &'static str,
    },
    /// The message is not a valid raw DEFLATE stream.
    #[error("message is not valid DEFLATE data")]
    BadDeflate,
    /// The inflated message would exceed [`MAX_INFLATED_BYTES`].
    #[error("inflated message exceeds {max} bytes")]
    InflatedTooLarge {
        /// Limit.
        max: usize,
    },
    /// The decoded message is not UTF-8.
    #[error("message is not UTF-8")]
    NotUtf8,
    /// A POST form value is larger than [`MAX_POST_VALUE_BYTES`].
    #[error("form value too large ({len} bytes, max {max})")]
    PostValueTooLarge {
        /// Length found.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// RelayState is longer than [`MAX_RELAY_STATE_BYTES`].
    #[error("RelayState too long ({len} bytes, max {max})")]
    RelayStateTooLong {
        /// Length found.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// `Signature` without `SigAlg`, or `SigAlg` without `Signature`.
    #[error("Signature and SigAlg must be given together")]
    IncompleteSignature,
    /// `SigAlg` names an algorithm we do not know.
    #[error("unknown signature algorithm {uri:?}")]
    UnknownAlgorithm {
        /// The URI given.
        uri: String,
    },
    /// `SigAlg` names an algorithm the policy refuses (e.g. SHA-1).
    #[error("signature algorithm {uri} is not allowed")]
    AlgorithmNotAllowed {
        /// The URI given.
        uri: String,
    },
    /// A signature was required but the message is unsigned.
    #[error("message is not signed")]
    Unsigned,
    /// No certificate to verify with: fail closed.
    #[error("no trusted certificate configured")]
    NoTrustedCertificate,
    /// The signature does not verify with any trusted certificate.
    #[error("signature does not verify")]
    SignatureInvalid,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Which SAML parameter carries the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageParam {
    /// `SAMLRequest`.
    Request,
    /// `SAMLResponse`.
    Response,
}

impl MessageParam {
    /// The parameter name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Request => "SAMLRequest",
            Self::Response => "SAMLResponse",
        }
    }
}

/// The detached signature of an HTTP-Redirect message, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedSignature {
    /// The `SigAlg` URI as sent.
    pub algorithm_uri: String,
    /// The decoded `Signature` bytes.
    pub signature: Vec<u8>,
    /// The exact octets the signature covers, taken from the raw query.
    pub signed_octets: String,
}

/// A decoded HTTP-Redirect message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectMessage {
    /// Which parameter carried the message.
    pub param: MessageParam,
    /// The inflated XML (still to be parsed by the hardened reader).
    pub xml: String,
    /// The decoded RelayState, if any.
    pub relay_state: Option<String>,
    /// The detached signature, if any (see [`RedirectMessage::verify_signature`]).
    pub signature: Option<DetachedSignature>,
}

impl RedirectMessage {
    /// Verifies the detached signature with any of `trusted_certs`; returns the algorithm used.
    ///
    /// Fails closed: an unsigned message, an empty certificate list, an unknown or disallowed
    /// algorithm are all errors.
    pub fn verify_signature(
        &self,
        trusted_certs: &[Certificate],
        policy: &AlgorithmPolicy,
    ) -> Result<SignatureAlgorithm, BindingError> {
        let sig = self.signature.as_ref().ok_or(BindingError::Unsigned)?;
        let alg = SignatureAlgorithm::from_uri(&sig.algorithm_uri).ok_or_else(|| {
            BindingError::UnknownAlgorithm {
                uri: sig.algorithm_uri.clone(),
            }
        })?;
        if !policy.allows_signature(alg) {
            return Err(BindingError::AlgorithmNotAllowed {
                uri: sig.algorithm_uri.clone(),
            });
        }
        if trusted_certs.is_empty() {
            return Err(BindingError::NoTrustedCertificate);
        }
        let ok = trusted_certs.iter().any(|cert| {
            cert.verify_signature(alg, sig.signed_octets.as_bytes(), &sig.signature)
                .is_ok()
        });
        if ok {
            Ok(alg)
        } else {
            Err(BindingError::SignatureInvalid)
        }
    }
}

/// Base64 engine for inbound values: standard alphabet, padding optional (some SPs strip it).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes base64 after removing ASCII whitespace (line breaks from form encoders, spaces).
fn decode_base64(value: &str, name: &'static str) -> Result<Vec<u8>, BindingError> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT_BASE64
        .decode(compact.as_bytes())
        .map_err(|_| BindingError::BadBase64 { name })
}

/// Inflates raw DEFLATE data, refusing output larger than `cap` bytes.
pub fn inflate_capped(compressed: &[u8], cap: usize) -> Result<Vec<u8>, BindingError> {
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    DeflateDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| BindingError::BadDeflate)?;
    if out.len() > cap {
        return Err(BindingError::InflatedTooLarge { max: cap });
    }
    Ok(out)
}

/// Raw-DEFLATEs `data` (no zlib header, as the Redirect binding requires).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Percent-decodes a query value. `plus_is_space` selects form semantics (`+` = space); base64
/// values keep `+` literally, since a legitimate encoder sends `%2B` and base64 has no spaces.
fn percent_decode(raw: &str, name: &str, plus_is_space: bool) -> Result<String, BindingError> {
    let bad = || BindingError::BadUrlEncoding {
        name: name.to_owned(),
    };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Decodes an HTTP-Redirect binding message from the raw (still URL-encoded) query string.
///
/// A leading `?` is ignored; parameters other than the SAML ones are ignored. The signature is
/// extracted but not verified: call [`RedirectMessage::verify_signature`].
pub fn decode_redirect(raw_query: &str) -> Result<RedirectMessage, BindingError> {
    if raw_query.len() > MAX_REDIRECT_QUERY_BYTES {
        return Err(BindingError::QueryTooLong {
            len: raw_query.len(),
            max: MAX_REDIRECT_QUERY_BYTES,
        });
    }
    let query = raw_query.strip_prefix('?').unwrap_or(raw_query);

    let mut request: Option<&str> = None;
    let mut response: Option<&str> = None;
    let mut relay_state: Option<&str> = None;
    let mut sig_alg: Option<&str> = None;
    let mut signature: Option<&str> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "SAMLRequest" => &mut request,
            "SAMLResponse" => &mut response,
            "RelayState" => &mut relay_state,
            "SigAlg" => &mut sig_alg,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(BindingError::DuplicateParameter {
                name: name.to_owned(),
            });
        }
    }

    let (param, raw_message) = match (request, response) {
        (Some(r), None) => (MessageParam::Request, r),
        (None, Some(r)) => (MessageParam::Response, r),
        (None, None) => return Err(BindingError::MissingMessage),
        (Some(_), Some(_)) => return Err(BindingError::BothRequestAndResponse),
    };

    let b64 = percent_decode(raw_message, param.name(), false)?;
    let compressed = decode_base64(&b64, param.name())?;
    let inflated = inflate_capped(&compressed, MAX_INFLATED_BYTES)?;
    let xml = String::from_utf8(inflated).map_err(|_| BindingError::NotUtf8)?;

    let relay_state_decoded = relay_state
        .map(|raw| percent_decode(raw, "RelayState", true))
        .transpose()?;
    if let Some(rs) = &relay_state_decoded
        && rs.len() > MAX_RELAY_STATE_BYTES
    {
        return Err(BindingError::RelayStateTooLong {
            len: rs.len(),
            max: MAX_RELAY_STATE_BYTES,
        });
    }

    let signature = match (sig_alg, signature) {
        (None, None) => None,
        (Some(raw_alg), Some(raw_sig)) => {
            // SAML bindings §3.4.4.1: the signed octets are the raw parameters in this order.
            let mut signed_octets = format!("{}={raw_message}", param.name());
            if let Some(rs) = relay_state {
                signed_octets.push_str("&RelayState=");
                signed_octets.push_str(rs);
            }
            signed_octets.push_str("&SigAlg=");
            signed_octets.push_str(raw_alg);
            let sig_b64 = percent_decode(raw_sig, "Signature", false)?;
            Some(DetachedSignature {
                algorithm_uri: percent_decode(raw_alg, "SigAlg", true)?,
                signature: decode_base64(&sig_b64, "Signature")?,
                signed_octets,
            })
        }
        _ => return Err(BindingError::IncompleteSignature),
    };

    Ok(RedirectMessage {
        param,
        xml,
        relay_state: relay_state_decoded,
        signature,
    })
}

/// URL-encodes a query value (form encoding: everything but `A-Za-z0-9*-._` is escaped).
fn url_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Encodes a message for the HTTP-Redirect binding and returns the query string (without `?`).
///
/// With a signer, appends `SigAlg` and `Signature` computed over the encoded octets.
pub fn encode_redirect(
    param: MessageParam,
    xml: &str,
    relay_state: Option<&str>,
    signer: Option<(&SigningKey, SignatureAlgorithm)>,
) -> Result<String, BindingError> {
    if let Some(rs) = relay_state
        && rs.len() > MAX_RELAY_STATE_BYTES
    {
        return Err(BindingError::RelayStateTooLong {
            len: rs.len(),
            max: MAX_RELAY_STATE_BYTES,
        });
    }
    let message = STANDARD.encode(deflate(xml.as_bytes()));
    let mut query = format!("{}={}", param.name(), url_encode(&message));
    if let Some(rs) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&url_encode(rs));
    }
    if let Some((key, alg)) = signer {
        query.push_str("&SigAlg=");
        query.push_str(&url_encode(alg.uri()));
        let signature = key
            .sign(alg, query.as_bytes())
            .map_err(|e| BindingError::Signing(e.to_string()))?;
        query.push_str("&Signature=");
        query.push_str(&url_encode(&STANDARD.encode(signature)));
    }
    Ok(query)
}

/// Decodes an HTTP-POST `SAMLRequest`/`SAMLResponse` form value (already form-decoded) to XML.
///
/// Whitespace inside the base64 (line wrapping) is ignored.
pub fn decode_post(value: &str) -> Result<String, BindingError> {
    if value.len() > MAX_POST_VALUE_BYTES {
        return Err(BindingError::PostValueTooLarge {
            len: value.len(),
            max: MAX_POST_VALUE_BYTES,
        });
    }
    let bytes = decode_base64(value, "SAMLResponse")?;
    String::from_utf8(bytes).map_err(|_| BindingError::NotUtf8)
}

/// Base64-encodes an XML message for an HTTP-POST form value.
pub fn encode_post(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}

/// Escapes text for an HTML attribute value or text node.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What to put in an auto-submitting HTTP-POST binding page.
#[derive(Debug, Clone, Copy)]
pub struct PostForm<'a> {
    /// Where the browser posts the form (the SP's ACS URL for a Response).
    pub action: &'a str,
    /// `SAMLResponse` (IdP → SP) or `SAMLRequest` (SP → IdP).
    pub param: MessageParam,
    /// The XML message; it is base64-encoded into the form.
    pub xml: &'a str,
    /// RelayState to pass through unchanged, if any.
    pub relay_state: Option<&'a str>,
    /// CSP nonce of the inline submit script; the server sends
    /// `Content-Security-Policy: script-src 'nonce-<nonce>'; form-action <action origin>`.
    pub csp_nonce: &'a str,
}

/// Renders the auto-submitting HTML page of the HTTP-POST binding (SAML bindings §3.5.4).
///
/// The form submits itself through a small inline script carrying `csp_nonce` (an `onload`
/// attribute would need `'unsafe-inline'`); without JavaScript a `<noscript>` button does it.
pub fn render_post_form(form: &PostForm<'_>) -> String {
    let mut html = String::with_capacity(form.xml.len() * 4 / 3 + 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    html.push_str("<title>Signing in</title>\n</head>\n<body>\n");
    html.push_str("<form id=\"saml-post\" method=\"post\" action=\"");
    html.push_str(&html_escape(form.action));
    html.push_str("\">\n<input type=\"hidden\" name=\"");
    html.push_str(form.param.name());
    html.push_str("\" value=\"");
    html.push_str(&html_escape(&encode_post(form.xml)));
    html.push_str("\">\n");
    if let Some(rs) = form.relay_state {
        html.push_str("<input type=\"hidden\" name=\"RelayState\" value=\"");
        html.push_str(&html_escape(rs));
        html.push_str("\">\n");
    }
    html.push_str(
        "<noscript><p>JavaScript is disabled. Press Continue to go on.</p>\
         <button type=\"submit\">Continue</button></noscript>\n</form>\n",
    );
    html.push_str("<script nonce=\"");
    html.push_str(&html_escape(form.csp_nonce));
    html.push_str("\">document.getElementById(\"saml-post\").submit();</script>\n");
    html.push_str("</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb+c", "x", true).unwrap(), "a+b c");
        assert_eq!(percent_decode("a%2Bb+c", "x", false).unwrap(), "a+b+c");
        assert!(percent_decode("%zz", "x", true).is_err());
        assert!(percent_decode("%4", "x", true).is_err());
        assert!(percent_decode("%ff", "x", true).is_err());
    }

    #[test]
    fn deflate_round_trip_and_cap() {
        let data = b"<samlp:AuthnRequest/>".repeat(10);
        let packed = deflate(&data);
        assert_eq!(inflate_capped(&packed, data.len()).unwrap(), data);
        assert!(matches!(
            inflate_capped(&packed, data.len() - 1),
            Err(BindingError::InflatedTooLarge { .. })
        ));
        assert!(matches!(
            inflate_capped(b"\xff\xff\xff", 100),
            Err(BindingError::BadDeflate)
        ));
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            html_escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
