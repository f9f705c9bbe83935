//! The one error type every store operation returns.

/// Why a store operation failed.
///
/// `NotFound`, `InvalidRange` and `InvalidKey` are outcomes a caller handles (a 404, a 416, a
/// rejected request); everything else — I/O failures, S3 errors we do not map — is `Other`,
/// carrying its cause chain for the logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("range not satisfiable")]
    InvalidRange,
    #[error("invalid key {0:?}")]
    InvalidKey(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl StoreError {
    /// Wraps an I/O error with what we were doing, mapping a missing file to `NotFound(key)`.
    pub(crate) fn io(err: std::io::Error, key: &str, doing: impl std::fmt::Display) -> Self {
        if err.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound(key.to_owned())
        } else {
            StoreError::Other(anyhow::Error::new(err).context(doing.to_string()))
        }
    }
}
