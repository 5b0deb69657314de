//! SAML 2.0 and XML-DSig for Gatehouse, without I/O.
//!
//! Everything here is a pure function of its inputs: time, IDs and key material are passed in by the
//! caller. Inbound XML goes through one hardened reader ([`xml::reader`]); outbound XML is written by
//! [`xml::writer`], whose output is already in exclusive canonical form, so what we sign is exactly
//! what we send.
#![forbid(unsafe_code)]

pub mod xml;

pub mod algorithm;
pub mod dsig;
pub mod key;

pub mod authn_request;
pub mod binding;
pub mod instant;
pub mod metadata;
pub mod response;
pub mod status;
pub mod xmlenc;
