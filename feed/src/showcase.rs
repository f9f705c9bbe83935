//! What a clip shows on a page — its video row and its live product tags — kept in memory
//! between pages, so that a page in the steady state reads nothing from the database (the
//! ranked picks come from the catalog, the viewer's state from the ranker's viewer cache).
//!
//! An entry is used only while the showcase's change generation is the one it was read at
//! (`vitrine_core::changes`): this process's writes to videos, tags, products, variants,
//! pictures, shops and accounts move it at once, every process's within a quarter of a second.
//! So a price, a stock level, a tag's approval or a deleted clip shows on the next page, as
//! when every page read them.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use vitrine_core::{
    changes::Topic,
    db::Db,
    ids::VideoId,
    videos::{self, Video, VideoStatus},
};
use vitrine_shop::tags::{self, Shown as TagsShown, Tag};

use crate::model::Key;

/// A feedable clip as a viewer sees it now.
#[derive(Debug)]
pub struct Shown {
    pub video: Video,
    /// Its live product tags, in time order.
    pub tags: Vec<Tag>,
    /// The HTTP edge's serialised view of this clip, made once per entry.
    pub rendered: OnceLock<bytes::Bytes>,
}

/// A clip as read at `generation`: `None` if it was not feedable then (deleted, or no longer
/// ready or playable).
struct Entry {
    generation: u64,
    shown: Option<Arc<Shown>>,
}

pub(crate) struct Showcase {
    entries: quick_cache::sync::Cache<Key, Arc<Entry>>,
}

/// Entries kept: the clips pages draw from are the catalog's lists of a few thousand, plus
/// each viewer's followed creators and neighbours.
const CAPACITY: usize = 50_000;

impl Showcase {
    pub(crate) fn new() -> Showcase {
        Showcase {
            entries: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    /// Each of `clips` (catalog key and id) as shown now, in order; `None` for those that are
    /// no longer feedable. Reads the database only for clips not kept at the current
    /// generation: their rows and their tags, two queries for all of them.
    pub(crate) async fn get(
        &self,
        db: &Db,
        clips: &[(Key, &str)],
    ) -> anyhow::Result<Vec<Option<Arc<Shown>>>> {
        // Read before the rows: a change committed after this moves the generation, so what
        // is read below is never kept as newer than it is.
        let generation = db.generations().current(Topic::Showcase);
        let mut out: Vec<Option<Option<Arc<Shown>>>> = clips
            .iter()
            .map(|(key, _)| {
                self.entries
                    .get(key)
                    .filter(|e| e.generation == generation)
                    .map(|e| e.shown.clone())
            })
            .collect();
        let missing: Vec<(usize, VideoId)> = out
            .iter()
            .enumerate()
            .filter(|(_, kept)| kept.is_none())
            .filter_map(|(i, _)| Some((i, clips[i].1.parse().ok()?)))
            .collect();
        if !missing.is_empty() {
            let ids: Vec<&VideoId> = missing.iter().map(|(_, id)| id).collect();
            let mut rows: HashMap<String, Video> = videos::get_many(db, &ids)
                .await?
                .into_iter()
                .filter(|v| matches!(v.status, VideoStatus::Ready | VideoStatus::Playable))
                .map(|v| (v.id.to_string(), v))
                .collect();
            let mut tags = tags::for_videos(db, &ids, TagsShown::Public).await?;
            for (i, id) in &missing {
                let shown = rows.remove(id.as_str()).map(|video| {
                    Arc::new(Shown {
                        tags: tags.remove(id.as_str()).unwrap_or_default(),
                        video,
                        rendered: OnceLock::new(),
                    })
                });
                self.entries.insert(
                    clips[*i].0,
                    Arc::new(Entry {
                        generation,
                        shown: shown.clone(),
                    }),
                );
                out[*i] = Some(shown);
            }
        }
        Ok(out.into_iter().map(Option::flatten).collect())
    }
}
