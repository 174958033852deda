//! Domain errors. Each maps to one HTTP status in the API crate; the message is the one Kibana
//! shows for the same situation.

use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// 400: invalid input or a rule refused it.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: known, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409: a uniqueness rule or a concurrent change.
    #[error("{0}")]
    Conflict(String),
    /// 429: too many requests of this kind at once (password checks); try again shortly.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: the database cannot take the work now; nothing changed and a retry can succeed.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the store failed; the message is logged, not shown in full.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for FleetError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists { kind, id } => {
                FleetError::Conflict(format!("Saved object [{kind}/{id}] conflict"))
            }
            StoreError::Conflict { kind, id } => {
                FleetError::Conflict(format!("Saved object [{kind}/{id}] conflict"))
            }
            StoreError::NotFound { kind, id } => {
                FleetError::NotFound(format!("Saved object [{kind}/{id}] not found"))
            }
            StoreError::InvalidQuery(m) => FleetError::BadRequest(m),
            StoreError::Busy(m) => {
                tracing::warn!(error = %m, "database busy or unreachable");
                FleetError::Unavailable(
                    "The database is busy or cannot be reached; nothing was changed. Try again later.".into(),
                )
            }
            other => FleetError::Internal(other.to_string()),
        }
    }
}

/// The HTTP status an error answers with (for per-item results of bulk operations).
pub fn status_code(e: &FleetError) -> u16 {
    match e {
        FleetError::BadRequest(_) => 400,
        FleetError::Unauthorized(_) => 401,
        FleetError::Forbidden(_) => 403,
        FleetError::NotFound(_) => 404,
        FleetError::Conflict(_) => 409,
        FleetError::TooManyRequests(_) => 429,
        FleetError::Unavailable(_) => 503,
        FleetError::Internal(_) => 500,
    }
}

pub type Result<T, E = FleetError> = std::result::Result<T, E>;
