//! Integration tests of the scim crate (one binary).
mod client;
mod core;
mod filter;
mod patch;
