//! End-to-end tests of the `gatehouse` binary: `up` makes a working demo (demo.json keys, SSO
//! through the built-in demo SP, IdP-initiated launch from the portal, `--reset`), and the CLI
//! scripts Step 1 of the seed procedure against it.

#[macro_use]
mod chromium;
mod browser;
mod browser_cloudsso;
mod browser_sync;
mod cli_cloudsso;
mod cli_sync;
mod seed;
mod support;
mod up;
// Issue 4: account sync end to end (SYNC-E2E).
mod scim_crash;
mod scim_sync;
