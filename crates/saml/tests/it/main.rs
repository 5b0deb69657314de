//! Integration tests of the saml crate (one binary).
mod authn_request;
mod c14n_diff;
mod dsig;
mod metadata;
mod response;
mod support;
mod writer_lxml;
mod writer_prop;
mod xmlenc;
mod xmlsec;
