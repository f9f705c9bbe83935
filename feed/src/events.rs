//! The intake behind `POST /v1/events`: what viewers do with clips, in batches of up to 1000.
//!
//! Each event is checked on its own: bad ones get a per-item error and the rest are accepted.
//! Events are idempotent by (viewer, id) (a retried batch changes nothing twice). Impressions and product
//! clicks are also handed to the shop (through its API, `vitrine_shop::attribution`), which keeps
//! its own record of what drives sales.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use vitrine_core::db::Conn;
use vitrine_core::{
    db::{placeholder_list, placeholder_rows, Db, Tx},
    ids::{AccountId, TagId, VideoId},
    time::now_ms,
};
use vitrine_shop::attribution::{self, Click};

use crate::{codes, ranker::Ranker, store};

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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// Up to 1000 events, each an `EventInput`. Items are checked one by one: one that is not
    /// a valid event is reported in `errors` (with its index) and the others are stored, so one
    /// malformed event never costs a phone its whole batch.
    #[schema(value_type = Vec<Value>, max_items = 1000)]
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
    /// For not_interested: `video` (default; this clip is never shown again) or `creator`
    /// (this creator's clips are filtered for 14 days, then come back slowly).
    pub scope: Option<String>,
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

/// Why a batch could not be stored (nothing of it was). Problems with single events are not
/// errors: they are reported per item in [`EventsResult::errors`].
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A clip or tag the batch names was deleted while it was being stored.
    #[error("something this batch refers to was deleted meanwhile")]
    Gone(#[source] sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => IngestError::Gone(e),
            _ => IngestError::Database(e),
        }
    }
}

/// Deletes raw events received before `before` (they are kept to recognise a retried batch;
/// what they taught the ranker lives in its own tables). Returns how many.
pub async fn prune(db: &vitrine_core::db::Db, before: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM events WHERE received_at < $1")
        .bind(before)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Checks, stores and applies one viewer's events (what `POST /v1/events` does after
/// authentication; `vitrine seed` calls it directly).
pub async fn ingest(
    db: &Db,
    ranker: &Ranker,
    viewer: &AccountId,
    batch: Vec<serde_json::Value>,
) -> Result<EventsResult, IngestError> {
    // Clips are looked up in the ranker's catalog first. One deleted since the catalog was
    // built fails the transaction's foreign keys (nothing is stored), and the batch is then
    // checked against the database, where that clip is an unknown video like any other.
    match ingest_with(db, ranker, viewer, &batch, Lookup::Catalog).await {
        Err(IngestError::Gone(_)) => {
            ingest_with(db, ranker, viewer, &batch, Lookup::Database).await
        }
        done => done,
    }
}

/// Where a batch's clips are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// The catalog (feedable clips, as of its last refresh), then the database for the rest.
    Catalog,
    Database,
}

async fn ingest_with(
    db: &Db,
    ranker: &Ranker,
    viewer: &AccountId,
    batch: &[serde_json::Value],
    lookup: Lookup,
) -> Result<EventsResult, IngestError> {
    let now = now_ms();
    let mut errors = Vec::new();
    let mut valid: Vec<(usize, EventInput, i64)> = Vec::new();
    for (index, raw) in batch.iter().enumerate() {
        let id = raw.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let error = |code: &str, message: String| EventError {
            index,
            id: id.clone(),
            code: code.to_owned(),
            message,
        };
        let event = match EventInput::deserialize(raw) {
            Ok(e) => e,
            Err(e) => {
                errors.push(error(codes::INVALID_EVENT, e.to_string()));
                continue;
            }
        };
        let problem = if event.id.is_empty() || event.id.len() > 128 {
            Some((
                codes::INVALID_EVENT,
                "id must be 1 to 128 characters".to_owned(),
            ))
        } else if !TYPES.contains(&event.kind.as_str()) {
            Some((
                codes::UNKNOWN_TYPE,
                format!("{:?} is not an event type", event.kind),
            ))
        } else if event.viewer_id != viewer.as_str() {
            Some((
                codes::WRONG_VIEWER,
                "viewer_id must be the signed-in account".into(),
            ))
        } else if event
            .at
            .is_some_and(|at| at > now + FUTURE_SLACK_MS || at < 0)
        {
            Some((codes::INVALID_AT, "at is not a plausible time".into()))
        } else if event.watch_ms.is_some_and(|w| w < 0) {
            Some((codes::INVALID_EVENT, "watch_ms must be zero or more".into()))
        } else if !matches!(
            event.scope.as_deref(),
            None | Some("video") | Some("creator")
        ) || (event.scope.is_some() && event.kind != "not_interested")
        {
            Some((
                codes::INVALID_EVENT,
                "scope is `video` or `creator`, and only for not_interested".into(),
            ))
        } else if event.video_id.parse::<VideoId>().is_err() {
            Some((
                codes::UNKNOWN_VIDEO,
                "video_id does not name a video".into(),
            ))
        } else if event.tag_id.is_none() && event.kind == "product_click" {
            Some((
                codes::MISSING_TAG,
                "a product_click names the tag_id that was tapped".into(),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => errors.push(error(code, message)),
            None => {
                let at = event.at.unwrap_or(now);
                valid.push((index, event, at));
            }
        }
    }

    // The clips named: from the catalog, and the others in one query.
    let mut named = store::sorted_unique(valid.iter().map(|(_, e, _)| e.video_id.as_str()));
    let catalog = ranker.catalog();
    let mut clips: HashMap<String, (String, Option<i64>)> = HashMap::new();
    if lookup == Lookup::Catalog {
        named.retain(|id| match catalog.get(id) {
            Some(clip) => {
                clips.insert(clip.id.clone(), (clip.creator.clone(), clip.duration_ms));
                false
            }
            None => true,
        });
    }
    if !named.is_empty() {
        let mut conn = db.pool().acquire().await?;
        clips.extend(store::videos_named(&mut conn, &named).await?);
    }
    let mut accepted: Vec<(usize, EventInput, i64, Option<Click>)> = Vec::new();
    for (index, event, at) in valid {
        let error = |code: &str, message: String| EventError {
            index,
            id: Some(event.id.clone()),
            code: code.to_owned(),
            message,
        };
        if !clips.contains_key(&event.video_id) {
            errors.push(error(
                codes::UNKNOWN_VIDEO,
                "video_id does not name a video".into(),
            ));
            continue;
        }
        let click = match (&event.tag_id, event.kind.as_str()) {
            (None, _) => None,
            (Some(raw), kind) => {
                let Ok(tag) = raw.parse::<TagId>() else {
                    errors.push(error(
                        codes::UNKNOWN_TAG,
                        "tag_id does not name a tag".into(),
                    ));
                    continue;
                };
                let video: VideoId = event.video_id.parse().expect("checked above");
                let is_click = kind == "product_click";
                match attribution::clicked(db, &video, &tag).await? {
                    Ok(click) => is_click.then_some(click),
                    // Other events may name a tag whatever its state; a click needs a live one.
                    Err(attribution::ClickError::NotLive) if !is_click => None,
                    Err(e) => {
                        errors.push(error(e.code(), e.to_string()));
                        continue;
                    }
                }
            }
        };
        accepted.push((index, event, at, click));
    }

    // Everything the transaction would read, read ahead on a reader connection: batches of
    // different viewers then overlap instead of queueing for the one SQLite writer. Inside the
    // transaction, under the viewer's lock, the version of their state says whether another
    // batch of theirs committed since; only then is it read again.
    let videos = store::sorted_unique(accepted.iter().map(|a| a.1.video_id.as_str()));
    let impressions = store::sorted_unique(
        accepted
            .iter()
            .filter(|a| a.1.kind == "impression")
            .map(|a| a.1.video_id.as_str()),
    );
    let (mut rows, mut existing, visible) = {
        let mut conn = db.pool().acquire().await?;
        (
            store::read_viewer(&mut conn, viewer.as_str(), &videos).await?,
            stored_ids(&mut conn, viewer.as_str(), &accepted).await?,
            vitrine_shop::tags::visible_tags_of(&mut conn, &impressions).await?,
        )
    };

    let mut tx = db.begin().await?;
    store::lock_viewer(&mut tx, db.backend(), viewer.as_str()).await?;
    if store::viewer_version(&mut tx, viewer.as_str()).await? != rows.version {
        rows = store::read_viewer(&mut tx, viewer.as_str(), &videos).await?;
        existing = stored_ids(&mut tx, viewer.as_str(), &accepted).await?;
    }
    let stored = insert_events(&mut tx, viewer.as_str(), &accepted, &existing, now).await?;
    let mut fresh: HashSet<&str> = HashSet::new();
    let mut duplicates = 0;
    let mut incoming = Vec::new();
    let mut shown: Vec<(&str, &str, i64)> = Vec::new();
    for (_, event, at, click) in &accepted {
        // New only if this insert stored it, and only its first copy in this batch.
        if !stored.contains(&event.id) || !fresh.insert(event.id.as_str()) {
            duplicates += 1;
            continue;
        }
        if event.kind == "impression" {
            shown.push((&event.id, &event.video_id, *at));
        }
        if let Some(click) = click {
            attribution::record_click(&mut tx, &event.id, viewer, click, *at).await?;
        }
        let (creator, duration_ms) = &clips[&event.video_id];
        incoming.push(store::Incoming {
            video: event.video_id.clone(),
            creator: creator.clone(),
            duration_ms: *duration_ms,
            kind: event.kind.clone(),
            creator_scope: event.scope.as_deref() == Some("creator"),
            at: *at,
            watch_ms: event.watch_ms,
        });
    }
    attribution::record_impressions(&mut tx, viewer, &shown, &visible).await?;
    let categories: HashMap<String, Vec<String>> = incoming
        .iter()
        .filter_map(|e| {
            let commerce = catalog.get(&e.video)?.commerce.as_ref()?;
            Some((e.video.clone(), commerce.categories.clone()))
        })
        .collect();
    store::apply(
        &mut tx,
        ranker.config(),
        store::Batch {
            viewer: viewer.as_str(),
            events: &incoming,
            categories: &categories,
            now,
        },
        rows,
    )
    .await?;
    tx.commit().await?;
    ranker.forget_viewer(viewer.as_str());
    errors.sort_by_key(|e| e.index);
    Ok(EventsResult {
        accepted: incoming.len(),
        duplicates,
        errors,
    })
}

/// Which of `events` are already stored (normally none: reading them costs far less than
/// having every inserted row returned).
async fn stored_ids(
    conn: &mut Conn,
    viewer: &str,
    events: &[(usize, EventInput, i64, Option<Click>)],
) -> sqlx::Result<HashSet<String>> {
    let mut existing: HashSet<String> = HashSet::new();
    for chunk in events.chunks(store::ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id FROM events WHERE viewer_id = $1 AND id IN ({})",
            placeholder_list(chunk.len(), 2)
        );
        let mut q = sqlx::query(&sql).bind(viewer);
        for (_, e, _, _) in chunk {
            q = q.bind(&e.id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            existing.insert(r.try_get::<String, _>("id")?);
        }
    }
    Ok(existing)
}

/// Stores the events that are new (not in `existing`, read under the viewer's lock or checked
/// current under it); returns the ids it stored.
async fn insert_events(
    tx: &mut Tx,
    viewer: &str,
    events: &[(usize, EventInput, i64, Option<Click>)],
    existing: &HashSet<String>,
    now: i64,
) -> sqlx::Result<HashSet<String>> {
    const COLS: usize = 9;
    let fresh: Vec<_> = events
        .iter()
        .filter(|(_, e, _, _)| !existing.contains(&e.id))
        .collect();
    for chunk in fresh.chunks(store::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (id, viewer_id, video_id, type, at, watch_ms, product_id, tag_id, \
             received_at) VALUES {} ON CONFLICT DO NOTHING",
            placeholder_rows(chunk.len(), COLS, 1)
        );
        let mut q = sqlx::query(&sql);
        for (_, e, at, _) in chunk {
            q = q
                .bind(&e.id)
                .bind(viewer)
                .bind(&e.video_id)
                .bind(&e.kind)
                .bind(*at)
                .bind(e.watch_ms)
                .bind(e.product_id.as_deref())
                .bind(e.tag_id.as_deref())
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(fresh.into_iter().map(|(_, e, _, _)| e.id.clone()).collect())
}
