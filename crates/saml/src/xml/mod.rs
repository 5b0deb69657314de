//! XML: the hardened reader for everything inbound, exclusive c14n, and the canonical writer.
pub mod c14n;
pub mod reader;
pub mod writer;
