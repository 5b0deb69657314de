//! Account sync (issue 4, products.md §1.7): pushing users and groups to applications over SCIM 2.0.
//!
//! * [`config`]: the per-application configuration (URL, sealed credentials, scope, actions,
//!   attribute mapping) and the services that read and change it;
//! * [`scope`]: who and what is in an application's scope;
//! * [`mapping`]: IDaaS user/group → SCIM resource JSON, and the drift hash;
//! * the write paths enqueue work through [`crate::store::outbox_enqueue`] in their own
//!   transactions; the engine (worker, full sync) delivers it.

pub mod config;
pub mod egress;
pub mod mapping;
pub mod scope;

// The delivery engine (IDAAS-PROV-ENGINE): outbox worker, per-object delivery, full sync, sync records.
pub mod deliver;
pub mod full_sync;
pub mod jobs;
pub mod plan;
pub mod worker;
