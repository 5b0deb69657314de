//! The cloudsso integration tests: one binary, real servers on 127.0.0.1:0, SQLite temp files and
//! (when GATEHOUSE_TEST_PG_URL is set) fresh PostgreSQL databases.

mod support;

// CS-core
mod acs;
mod console;
mod directory;
mod logon;
mod sso;

// CS-cloud adds its modules below.
mod access_api;
mod cloud_role_logon;

// Regression tests of the review findings.
mod review_fixes;

// Third-party IdPs (pysaml2, samlify).
mod idp_interop;

// The attack suite over HTTP (saml-defense.md).
mod attacks;

// A SCIM checker we did not write (scim2-tester) against our SCIM server (issue 4).
mod scim_tester;

// SCIM synchronization settings, credentials and the read-only rule (issue 4).
mod scim_admin;
mod scim_server;

// RAM user provisioning follows group membership (events, retry).
mod ram_user_events;
