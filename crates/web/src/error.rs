//! Input validation errors shared by the services.

/// A field of some input that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    /// Name of the offending field (as the API calls it).
    pub field: &'static str,
    /// Human-readable reason.
    pub message: String,
}

impl InvalidInput {
    /// Builds an `InvalidInput` for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
