//! One-time direct upload URLs: a creator asks for one (`POST /v1/direct-uploads`) and hands it
//! to an app, which creates exactly one upload there with no other credential (the URL is the
//! capability, as with Mux's and Cloudflare Stream's).

use std::time::Duration;

use vitrine_api::AppState;
use vitrine_core::{
    ids::{AccountId, DirectUploadId},
    time::now_ms,
};

use crate::{
    upload::{self, TitleError},
    uploads::{self, DirectUpload},
};

/// Direct upload URLs live between a minute and a week (default an hour), as Mux's do.
const MIN_LIFETIME: Duration = Duration::from_secs(60);
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Why a direct upload URL cannot be made, or used.
#[derive(Debug, thiserror::Error)]
pub enum DirectUploadError {
    #[error("direct upload not found")]
    NotFound,
    #[error("this upload URL has already been used for a video; ask for a new one")]
    Used,
    #[error("this upload URL has expired; ask for a new one")]
    Expired,
    #[error(
        "expires_in_seconds must be between {} and {}",
        MIN_LIFETIME.as_secs(),
        MAX_LIFETIME.as_secs()
    )]
    InvalidExpiry,
    #[error("max_size_bytes must be between 1 and {limit}")]
    InvalidMaxSize { limit: u64 },
    #[error(transparent)]
    Title(#[from] TitleError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a creator asks of a direct upload; each `None` takes the default.
#[derive(Debug, Default)]
pub struct Wanted<'a> {
    pub title: Option<&'a str>,
    pub max_size: Option<u64>,
    pub lifetime_secs: Option<u64>,
}

/// Makes the direct upload a creator asked for, within the server's size limit.
pub async fn create(
    state: &AppState,
    creator: &AccountId,
    wanted: Wanted<'_>,
) -> Result<DirectUpload, DirectUploadError> {
    let lifetime = wanted
        .lifetime_secs
        .map_or(DEFAULT_LIFETIME, Duration::from_secs);
    if !(MIN_LIFETIME..=MAX_LIFETIME).contains(&lifetime) {
        return Err(DirectUploadError::InvalidExpiry);
    }
    let limit = state.limits.max_upload_bytes;
    let max_size = wanted.max_size.unwrap_or(limit);
    if max_size == 0 || max_size > limit {
        return Err(DirectUploadError::InvalidMaxSize { limit });
    }
    let direct = DirectUpload {
        id: DirectUploadId::generate_unguessable(),
        creator_id: creator.clone(),
        title: upload::title(wanted.title)?,
        max_size,
        expires_at: now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2),
        upload_id: None,
    };
    uploads::insert_direct(&state.db, &direct).await?;
    Ok(direct)
}

/// The direct upload a URL names, if it can still create its upload.
pub async fn usable(state: &AppState, id: &str) -> Result<DirectUpload, DirectUploadError> {
    let id = id
        .parse::<DirectUploadId>()
        .map_err(|_| DirectUploadError::NotFound)?;
    let direct = uploads::get_direct(&state.db, &id)
        .await?
        .ok_or(DirectUploadError::NotFound)?;
    check_usable(&direct)?;
    Ok(direct)
}

/// Refused once spent or expired.
pub fn check_usable(direct: &DirectUpload) -> Result<(), DirectUploadError> {
    if direct.upload_id.is_some() {
        return Err(DirectUploadError::Used);
    }
    if direct.expires_at <= now_ms() {
        return Err(DirectUploadError::Expired);
    }
    Ok(())
}

/// After a claim failed: why the direct upload could not be spent (spent or expired between
/// the check and the claim), or a fault if it could have been.
pub async fn why_unclaimed(state: &AppState, id: &DirectUploadId) -> DirectUploadError {
    let direct = match uploads::get_direct(&state.db, id).await {
        Ok(Some(direct)) => direct,
        Ok(None) => return DirectUploadError::NotFound,
        Err(e) => return e.into(),
    };
    match check_usable(&direct) {
        Err(e) => e,
        Ok(()) => anyhow::anyhow!("direct upload {id} could not be claimed").into(),
    }
}
