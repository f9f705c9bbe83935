//! How a transcode fails, as the worker must tell it apart: the input's fault (give up), a stall
//! or an exhausted budget (retry), a cancellation, or our own fault.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The input cannot be transcoded; retrying will not help.
    #[error("the video cannot be transcoded: {0}")]
    Media(String),
    /// Frames were decoded, then the position stopped moving for this long; a retry may help.
    /// (A pipeline that never decodes a frame ends in `Media`.)
    #[error("transcoding made no progress for {0:?}")]
    Stalled(Duration),
    /// The attempt used its whole time budget; a retry on a less busy worker may finish.
    #[error("transcoding took longer than its budget of {0:?}")]
    OverBudget(Duration),
    #[error("transcoding was cancelled")]
    Cancelled,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}
