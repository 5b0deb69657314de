//! The idaas integration tests: one binary, real servers on 127.0.0.1:0, SQLite temp files and
//! (when GATEHOUSE_TEST_PG_URL is set) fresh PostgreSQL databases.

mod support;

mod accounts_api;
mod isolation;
mod openapi;
mod store_accounts;
mod store_audit;
mod store_db;
mod store_import;
// H-sso adds its modules below.
mod apps;
mod portal;
mod saml_interop;
mod saml_negative;
mod signin;
// Review fixes.
mod atomicity;
// Issue 4: provisioning configuration and outbox enqueue (IDAAS-PROV-DATA).
mod provisioning_config;
// Provisioning delivery (IDAAS-PROV-ENGINE).
mod provisioning_sync;
// Provisioning SSRF defence (SEC-PROV).
mod egress;
mod scim_target;
