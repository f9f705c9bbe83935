//! Spooling a request body to a local temporary file: constant memory, hashed on the way, size
//! capped.

use std::{path::Path, time::Duration};

use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

pub struct Spooled {
    pub file: tempfile::TempPath,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request body was empty")]
    Empty,
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A body that sends nothing for this long is given up (its client stalled or left).
pub const IDLE: Duration = Duration::from_secs(60);

pub async fn spool<S, E>(mut body: S, dir: &Path, limit: u64) -> Result<Spooled, SpoolError>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    tokio::fs::create_dir_all(dir).await?;
    let named = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(dir)?;
    let (std_file, path) = named.into_parts();
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let chunk = match tokio::time::timeout(IDLE, body.next()).await {
            Err(_) => {
                return Err(SpoolError::Interrupted(format!(
                    "no bytes arrived for {} s",
                    IDLE.as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(chunk)) => chunk,
        };
        let chunk = chunk.map_err(|e| SpoolError::Interrupted(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(SpoolError::TooLarge { limit });
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
        metrics::counter!("vitrine_upload_bytes_total").increment(chunk.len() as u64);
    }
    if size == 0 {
        return Err(SpoolError::Empty);
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(Spooled {
        file: path,
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}
