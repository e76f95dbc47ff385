use tokio_postgres::error::SqlState;

/// What went wrong with a store call, sorted by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the input names does not exist: a bad or stale message.
    #[error("not found: {0}")]
    NotFound(String),
    /// The input clashes with what is stored (a unique key, a confirmed
    /// account): retrying the same input will not help.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input breaks a rule of the schema (a check, an unknown zone).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database could not be reached or failed: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// True for errors a later retry of the same input may cure.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(db) = err.as_db_error() else {
            return StoreError::Unavailable(with_sources(&err));
        };
        let detail = match (db.constraint(), db.detail()) {
            (Some(c), Some(d)) => format!("{c}: {d}"),
            (Some(c), None) => c.to_owned(),
            _ => db.message().to_owned(),
        };
        match *db.code() {
            SqlState::UNIQUE_VIOLATION | SqlState::EXCLUSION_VIOLATION => StoreError::Conflict(detail),
            SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound(detail),
            SqlState::CHECK_VIOLATION
            | SqlState::NOT_NULL_VIOLATION
            | SqlState::INVALID_TEXT_REPRESENTATION
            | SqlState::INVALID_PARAMETER_VALUE
            | SqlState::DATETIME_FIELD_OVERFLOW
            | SqlState::NUMERIC_VALUE_OUT_OF_RANGE => StoreError::Invalid(detail),
            _ => StoreError::Unavailable(format!("{}: {}", db.code().code(), db.message())),
        }
    }
}

/// "error connecting to server: Connection refused (os error 111)": the
/// driver's own message alone rarely says what happened.
pub(crate) fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(with_sources(&other)),
        }
    }
}

/// A transaction that wraps a step outside the database (an AWS call): the
/// transaction commits only if the step succeeded.
#[derive(Debug, thiserror::Error)]
pub enum TransactionError<E> {
    /// A statement, the commit or the connection failed.
    #[error(transparent)]
    Store(StoreError),
    /// The step failed: the transaction was rolled back.
    #[error("{0}")]
    Step(E),
}

impl<E> From<StoreError> for TransactionError<E> {
    fn from(err: StoreError) -> Self {
        TransactionError::Store(err)
    }
}

impl<E> From<tokio_postgres::Error> for TransactionError<E> {
    fn from(err: tokio_postgres::Error) -> Self {
        TransactionError::Store(err.into())
    }
}
