//! `POST /v1/events`: what viewers do with clips, in batches of up to 1000.
//!
//! Each event is checked on its own: bad ones get a per-item error and the rest are accepted.
//! Events are idempotent by (viewer, id) (a retried batch changes nothing twice). Impressions and product
//! clicks are also handed to the shop (through its API, `vitrine_shop::attribution`), which keeps
//! its own record of what drives sales.

use std::collections::HashMap;

use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{ApiJson, Auth},
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{TagId, VideoId},
    time::now_ms,
    videos,
};

/// Most events in one request.
pub const MAX_BATCH: usize = 1000;
/// How far in the future an event's time may be (clock skew of a phone).
const FUTURE_SLACK_MS: i64 = 5 * 60 * 1000;

/// The kinds of event a client may send.
pub const TYPES: [&str; 13] = [
    "impression",
    "play",
    "progress",
    "complete",
    "replay",
    "like",
    "unlike",
    "share",
    "comment",
    "follow",
    "not_interested",
    "product_click",
    "purchase",
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_events))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// Up to 1000 events.
    #[schema(value_type = Vec<EventInput>)]
    pub events: Vec<serde_json::Value>,
}

/// One thing a viewer did.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// The client's unique id for this event (a retry sends the same id).
    pub id: String,
    /// The signed-in viewer (must be the caller).
    pub viewer_id: String,
    pub video_id: String,
    /// One of impression, play, progress, complete, replay, like, unlike, share, comment,
    /// follow, not_interested, product_click, purchase.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, Unix milliseconds (default: when received).
    pub at: Option<i64>,
    /// How much of the clip was watched (progress, complete).
    pub watch_ms: Option<i64>,
    pub product_id: Option<String>,
    /// The product tag (required for product_click).
    pub tag_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventError {
    /// Position in the batch.
    pub index: usize,
    pub id: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventsResult {
    /// Events stored now.
    pub accepted: usize,
    /// Events already received before (same id): accepted, not counted twice.
    pub duplicates: usize,
    pub errors: Vec<EventError>,
}

/// Record viewer events (batch). Unknown types, unknown videos and malformed events are
/// reported per item; the others are accepted.
#[utoipa::path(post, path = "/v1/events", tag = "feed",
    request_body = EventBatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = EventsResult),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
async fn post_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(batch): ApiJson<EventBatch>,
) -> ApiResult<Json<EventsResult>> {
    if batch.events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "too_many_events",
            format!("send at most {MAX_BATCH} events per request"),
        ));
    }
    let mut result = EventsResult {
        accepted: 0,
        duplicates: 0,
        errors: Vec::new(),
    };
    let mut known_videos: HashMap<String, bool> = HashMap::new();
    let now = now_ms();
    for (index, raw) in batch.events.into_iter().enumerate() {
        let id = raw.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let error = |code: &str, message: String| EventError {
            index,
            id: id.clone(),
            code: code.to_owned(),
            message,
        };
        let event: EventInput = match serde_json::from_value(raw) {
            Ok(e) => e,
            Err(e) => {
                result.errors.push(error("invalid_event", e.to_string()));
                continue;
            }
        };
        if event.id.is_empty() || event.id.len() > 128 {
            result.errors.push(error(
                "invalid_event",
                "id must be 1 to 128 characters".into(),
            ));
            continue;
        }
        if !TYPES.contains(&event.kind.as_str()) {
            result.errors.push(error(
                "unknown_type",
                format!("{:?} is not an event type", event.kind),
            ));
            continue;
        }
        if event.viewer_id != auth.0.id.as_str() {
            result.errors.push(error(
                "wrong_viewer",
                "viewer_id must be the signed-in account".into(),
            ));
            continue;
        }
        let at = event.at.unwrap_or(now);
        if at > now + FUTURE_SLACK_MS || at < 0 {
            result
                .errors
                .push(error("invalid_at", "at is not a plausible time".into()));
            continue;
        }
        let Ok(video) = event.video_id.parse::<VideoId>() else {
            result.errors.push(error(
                "unknown_video",
                "video_id does not name a video".into(),
            ));
            continue;
        };
        let exists = match known_videos.get(video.as_str()) {
            Some(&known) => known,
            None => {
                let known = videos::get(&state.db, &video).await?.is_some();
                known_videos.insert(video.to_string(), known);
                known
            }
        };
        if !exists {
            result.errors.push(error(
                "unknown_video",
                "video_id does not name a video".into(),
            ));
            continue;
        }
        let tag = match (&event.tag_id, event.kind.as_str()) {
            (Some(raw), _) => match raw.parse::<TagId>() {
                Ok(tag) => Some(tag),
                Err(_) => {
                    result
                        .errors
                        .push(error("unknown_tag", "tag_id does not name a tag".into()));
                    continue;
                }
            },
            (None, "product_click") => {
                result.errors.push(error(
                    "missing_tag",
                    "a product_click names the tag_id that was tapped".into(),
                ));
                continue;
            }
            (None, _) => None,
        };
        let inserted = sqlx::query(
            "INSERT INTO events (id, viewer_id, video_id, type, at, watch_ms, product_id, tag_id, \
             received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.viewer_id)
        .bind(video.as_str())
        .bind(&event.kind)
        .bind(at)
        .bind(event.watch_ms)
        .bind(event.product_id.as_deref())
        .bind(tag.as_ref().map(|t| t.as_str()))
        .bind(now)
        .execute(state.db.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            result.duplicates += 1;
            continue;
        }
        let handed_over = match (event.kind.as_str(), &tag) {
            ("impression", _) => vitrine_shop::attribution::record_impression(
                &state.db, &event.id, &auth.0.id, &video, at,
            )
            .await
            .map(Ok),
            ("product_click", Some(tag)) => vitrine_shop::attribution::record_click(
                &state.db, &event.id, &auth.0.id, &video, tag, at,
            )
            .await
            .map(|r| r.map_err(|e| e.to_string())),
            _ => Ok(Ok(())),
        };
        if !matches!(handed_over, Ok(Ok(()))) {
            // Not stored after all, so that a retry of the batch does it again.
            sqlx::query("DELETE FROM events WHERE viewer_id = $1 AND id = $2")
                .bind(&event.viewer_id)
                .bind(&event.id)
                .execute(state.db.pool())
                .await?;
            match handed_over? {
                Err(message) => {
                    result.errors.push(error("unknown_tag", message));
                    continue;
                }
                Ok(()) => unreachable!("matched above"),
            }
        }
        result.accepted += 1;
    }
    Ok(Json(result))
}
