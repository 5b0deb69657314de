//! The domain error: what can go wrong in a service call, independent of HTTP.

pub use web::error::InvalidInput;

/// Errors of Cloud SSO service operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (or belongs to another directory, which we never reveal).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique property is already taken.
    #[error("{entity} with this {field} already exists")]
    AlreadyExists {
        /// Kind of object, e.g. "user".
        entity: &'static str,
        /// The unique property, e.g. "user_name".
        field: &'static str,
    },
    /// Input was refused.
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    /// The operation conflicts with the current state (e.g. deleting a user still in a group).
    #[error("{0}")]
    Conflict(String),
    /// A metadata file describes several identity providers: the caller must pick one.
    #[error("the metadata describes several identity providers; choose one by entity_id")]
    ChooseIdentityProvider(Vec<String>),
    /// A quota is reached (e.g. two IdP certificates).
    #[error("limit reached: {0}")]
    LimitExceeded(&'static str),
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

    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }
}

/// Result of Cloud SSO service operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
