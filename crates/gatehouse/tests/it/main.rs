//! End-to-end tests of the `gatehouse` binary: `up` makes a working demo (demo.json keys, SSO
//! through the built-in demo SP, IdP-initiated launch from the portal, `--reset`), and the CLI
//! scripts Step 1 of the seed procedure against it.

#[macro_use]
mod chromium;
mod browser;
mod browser_cloudsso;
mod seed;
mod support;
mod up;
