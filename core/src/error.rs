use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request, reported back to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `source_config.port`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Input that parsed but does not make a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationError(pub Vec<FieldError>);

impl ValidationError {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

/// Collects field errors while validating a whole request, so the caller
/// learns about every problem at once instead of one per round trip.
#[derive(Debug, Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.push(field, message);
        }
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn finish(self) -> Result<(), ValidationError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationError(self.0))
        }
    }
}

/// Everything a storage backend can report to its callers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The request is well-formed but illegal in the current state
    /// (cancel a finished job, retry a job with nothing failed).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("stored secret could not be decrypted")]
    Secret,
    /// A stored row cannot be used as it is (an unknown enum value, configs
    /// sealed in an older format); the message says what and what to do.
    #[error("{0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
