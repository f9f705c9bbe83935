//! One page of the feed: whose feed it is, the ranked picks, the clips as they are now with
//! their live tags, and the cursor to the next page. `GET /v1/feed` is one [`Ranker::page`]
//! call; who may see whose feed is decided here ([`Reader::feed_of`]), not in the handler.

use std::{collections::HashSet, sync::Arc};

use serde::Serialize;
use utoipa::ToSchema;
use vitrine_core::{db::Db, ids::AccountId, time::now_ms};

use crate::{
    catalog::{self, ViewerState},
    codes,
    cursor::Cursor,
    model::{Key, Pool, ScoreTerms, Source},
    ranker::Ranker,
    showcase::Shown,
};

/// Who is asking for a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// Nobody signed in.
    Anonymous,
    /// A shop's API key: it browses like an anonymous viewer, it is nobody's feed.
    Shop { account: AccountId },
    /// A person (a session or a personal key); operators signed in with a session may read any
    /// viewer's feed (support, and `vitrine bench feed`).
    Person { id: AccountId, operator: bool },
}

/// Why a page cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// 400: a cursor we did not issue.
    #[error("cursor is not one we issued")]
    InvalidCursor,
    /// 403: another viewer's feed, asked for by someone who is not an operator.
    #[error(
        "a feed is personalised only for its own viewer: leave out viewer, or sign in as them"
    )]
    NotYourFeed,
    /// 404: an operator asked for an account that does not exist.
    #[error("viewer")]
    UnknownViewer,
    /// 401: explanations are for signed-in callers.
    #[error("sign in to see why items are in your feed")]
    SignInToExplain,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl PageError {
    /// The stable code a client sees (the 401 and 404 use the edge's generic ones).
    pub fn code(&self) -> &'static str {
        match self {
            PageError::InvalidCursor => codes::INVALID_CURSOR,
            PageError::NotYourFeed => codes::NOT_YOUR_FEED,
            PageError::UnknownViewer => vitrine_api::codes::NOT_FOUND,
            PageError::SignInToExplain => vitrine_api::codes::UNAUTHORIZED,
            PageError::Database(_) | PageError::Internal(_) => vitrine_api::codes::INTERNAL,
        }
    }
}

impl Reader {
    /// Whose feed this reader gets when asking for `asked`'s (`None`: their own, or an
    /// anonymous feed). The `bool` says whether the account must be checked to exist (an
    /// operator named it).
    pub fn feed_of(
        &self,
        asked: Option<AccountId>,
    ) -> Result<Option<(AccountId, bool)>, PageError> {
        match (self, asked) {
            (Reader::Person { operator: true, .. }, Some(asked)) => Ok(Some((asked, true))),
            (Reader::Person { id, .. }, Some(asked)) if &asked == id => Ok(Some((asked, false))),
            (_, Some(_)) => Err(PageError::NotYourFeed),
            (Reader::Person { id, .. }, None) => Ok(Some((id.clone(), false))),
            (Reader::Shop { .. } | Reader::Anonymous, None) => Ok(None),
        }
    }

    /// Whether this reader may see why `creator`'s clip is on the page.
    fn may_explain(&self, creator: &AccountId) -> bool {
        match self {
            Reader::Person { operator: true, .. } => true,
            Reader::Person { id, .. } | Reader::Shop { account: id } => id == creator,
            Reader::Anonymous => false,
        }
    }
}

/// What a page request asks for, parsed.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Another viewer's feed (operators only), else the reader's own.
    pub viewer: Option<AccountId>,
    /// Items per page.
    pub limit: usize,
    /// `next_cursor` from the previous page, as sent (empty or absent: the first page).
    pub cursor: Option<String>,
    /// Explain each item the reader may see explained.
    pub explain: bool,
}

/// How the ranker placed an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    /// Candidate sources that proposed it.
    pub sources: Vec<Source>,
    pub score: ScoreTerms,
    /// Score after the page rules.
    pub adjusted: f64,
    /// Rules that shaped its place (traffic-pool slot, author diversity, fatigue, cadence).
    pub rules: Vec<String>,
    pub stage: i64,
    pub pool: Pool,
    pub impressions: i64,
}

/// One clip on a page, as it is now.
#[derive(Debug)]
pub struct PageItem {
    /// Its video and live product tags.
    pub shown: Arc<Shown>,
    /// Why it is here (when asked, for those who may see it).
    pub explanation: Option<Explanation>,
}

#[derive(Debug)]
pub struct Page {
    pub items: Vec<PageItem>,
    /// The cursor to the next page (never repeating an item); `None` at the end.
    pub next_cursor: Option<String>,
}

impl Ranker {
    /// A page of the feed for `reader`: rank from the in-memory catalog, then the picked
    /// clips as they are now (one deleted since the catalog was built is left out) with their
    /// live tags, from the showcase (the database only for clips it does not hold as they are).
    pub async fn page(
        &self,
        db: &Db,
        reader: &Reader,
        request: PageRequest,
    ) -> Result<Page, PageError> {
        // An empty cursor is no cursor (the first page), as for every other list.
        let mut cursor = match request.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => Some(Cursor::decode(raw).ok_or(PageError::InvalidCursor)?),
        };
        if request.explain && *reader == Reader::Anonymous {
            return Err(PageError::SignInToExplain);
        }
        let viewer = match reader.feed_of(request.viewer)? {
            Some((viewer, must_exist)) => {
                if must_exist && !self.viewer_exists(db, &viewer).await? {
                    return Err(PageError::UnknownViewer);
                }
                Some(viewer)
            }
            None => None,
        };

        let now = now_ms();
        let viewer_state = match &viewer {
            Some(v) => self.viewer_state(db, v.as_str(), now).await?,
            None => Arc::new(ViewerState::default()),
        };
        // Spreads traffic-pool clips across viewers: stable per viewer, random when anonymous.
        let cursor = cursor.get_or_insert_with(|| Cursor {
            salt: match &viewer {
                Some(v) => u64::from(catalog::fingerprint(v.as_str())),
                None => rand::random(),
            },
            ..Default::default()
        });
        let served: HashSet<u32> = cursor.served.iter().copied().collect();
        let catalog = self.catalog();
        let mut page = cursor.page.clone();
        let picks = catalog::recommend(
            &catalog,
            self.config(),
            &viewer_state,
            cursor.salt,
            &served,
            &mut page,
            request.limit,
            now,
        );

        let clips: Vec<(Key, &str)> = picks
            .iter()
            .map(|p| {
                let i = p.scored.clip;
                (catalog.keys[i], catalog.clips[i].id.as_str())
            })
            .collect();
        let shown = self.showcase().get(db, &clips).await?;
        let mut items = Vec::with_capacity(picks.len());
        for (pick, shown) in picks.iter().zip(shown) {
            let clip = &catalog.clips[pick.scored.clip];
            // Deleted, or no longer ready, since the catalog was built.
            let Some(shown) = shown else {
                continue;
            };
            let explain = request.explain && reader.may_explain(&shown.video.creator_id);
            items.push(PageItem {
                explanation: explain.then(|| Explanation {
                    sources: pick.scored.sources.iter().collect(),
                    score: pick.scored.terms,
                    adjusted: pick.adjusted,
                    rules: pick.rules.clone(),
                    stage: clip.stage,
                    pool: clip.pool,
                    impressions: clip.counts.impressions,
                }),
                shown,
            });
        }
        let next_cursor = (picks.len() == request.limit).then(|| {
            cursor.page = page;
            cursor.served.extend(
                picks
                    .iter()
                    .map(|p| catalog::fingerprint(&catalog.clips[p.scored.clip].id)),
            );
            cursor.encode()
        });
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &AccountId, operator: bool) -> Reader {
        Reader::Person {
            id: id.clone(),
            operator,
        }
    }

    #[test]
    fn a_viewer_reads_their_own_feed_and_nobody_elses() {
        let me = AccountId::generate();
        let other = AccountId::generate();
        assert_eq!(
            person(&me, false).feed_of(None).unwrap(),
            Some((me.clone(), false))
        );
        assert_eq!(
            person(&me, false).feed_of(Some(me.clone())).unwrap(),
            Some((me.clone(), false))
        );
        assert!(matches!(
            person(&me, false).feed_of(Some(other)),
            Err(PageError::NotYourFeed)
        ));
    }

    #[test]
    fn an_operator_reads_any_feed_once_the_account_is_checked() {
        let op = AccountId::generate();
        let other = AccountId::generate();
        assert_eq!(
            person(&op, true).feed_of(Some(other.clone())).unwrap(),
            Some((other, true))
        );
    }

    #[test]
    fn a_shop_key_and_an_anonymous_visitor_read_nobodys_feed() {
        let shop = Reader::Shop {
            account: AccountId::generate(),
        };
        assert_eq!(shop.feed_of(None).unwrap(), None);
        assert_eq!(Reader::Anonymous.feed_of(None).unwrap(), None);
        assert!(matches!(
            Reader::Anonymous.feed_of(Some(AccountId::generate())),
            Err(PageError::NotYourFeed)
        ));
    }
}
