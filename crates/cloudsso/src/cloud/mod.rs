//! The built-in resource directory: the cloud behind the portal (DESIGN.md "Cloud accounts").
//!
//! Accounts (a management account and members) with RAM roles, RAM users, policies and SAML
//! providers; an STS issuing temporary credentials from a verified role assertion; a signed-request
//! API (`GetCallerIdentity`) proving those credentials work; and the console landing page.
//! The pure pieces (policy language, names and ARNs, the request signature, credentials) are
//! submodules here; storage is in `store::cloud`, HTTP in `http::cloud`.

pub mod arn;
pub mod credentials;
pub mod policy;
pub mod ram;
pub mod resource;
pub mod signature;
pub mod sts;
pub mod system_policy;
