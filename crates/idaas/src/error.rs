//! The domain error: what can go wrong in a service call, independent of HTTP.

pub use web::error::InvalidInput;

/// Errors of IDaaS service operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (or belongs to another instance, which we never reveal).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique property is already taken.
    #[error("{entity} with this {field} already exists")]
    AlreadyExists {
        /// Kind of object, e.g. "user".
        entity: &'static str,
        /// The unique property, e.g. "username".
        field: &'static str,
    },
    /// Input was refused.
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    /// An organizational unit still has children or members.
    #[error("organizational unit is not empty")]
    OrgUnitNotEmpty,
    /// Moving an organizational unit below itself or one of its descendants.
    #[error("organizational unit cannot be moved below itself")]
    OrgUnitCycle,
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials are valid but do not allow this operation.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Stored data could not be decoded (corrupt JSON, unknown enum value).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// An internal invariant failed (crypto library refused, worker gone).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(InvalidInput::new(field, message))
    }
}

/// Result of IDaaS service operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
