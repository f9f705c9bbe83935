//! The ranker's in-memory view of every feedable clip, and the candidate pipeline over it:
//! sources → filter → score → select (x-algorithm's shape).
//!
//! A `Catalog` is immutable once built: the refresh loop builds a new one from the database
//! and swaps it in, so requests never wait for it and every API process converges on the same
//! shared state (PostgreSQL or SQLite) within one refresh interval. Per-viewer state is not
//! here: it is read per request, so a viewer's own events show on their next page.

use std::{
    collections::{HashMap, HashSet},
    hash::{Hash, Hasher},
    sync::Arc,
};

use crate::{
    config::RankConfig,
    model::{
        self, key, Clip, Counts, FastMap, FastSet, Key, PageState, Pick, Pool, Priors, Scored,
        Source, Sources, Viewer, BANDS,
    },
};

type FastHash = foldhash::fast::RandomState;

/// Most entries kept in each precomputed list.
const LIST_CAP: usize = 2_000;
/// Most entries per category list.
const CATEGORY_CAP: usize = 500;
/// Co-engagement neighbours kept per clip (`neighbours`' `keep` in the refresh loop).
pub const NEIGHBOURS_KEPT: usize = 20;

/// Clips similar to a clip by co-engagement: `(clip key, cosine similarity)`, best first.
pub type Neighbours = FastMap<Key, Vec<(Key, f32)>>;

#[derive(Debug, Default)]
pub struct Catalog {
    pub clips: Vec<Arc<Clip>>,
    /// `fingerprint(id)` of each clip (what cursors remember).
    pub fingerprints: Vec<u32>,
    /// `key(id)` and `key(creator)` of each clip: what a viewer's state is keyed by.
    pub keys: Vec<Key>,
    pub creators: Vec<Key>,
    pub by_key: FastMap<Key, usize>,
    /// Each creator's clips, newest first.
    pub by_creator: FastMap<Key, Vec<usize>>,
    /// Commerce clips per product category, by expected GMV per impression.
    pub by_category: HashMap<String, Vec<usize>>,
    /// Most positive actions recently (decayed trend counter).
    pub popular: Vec<usize>,
    /// Clips in a traffic pool, the least exposed for their stage first.
    pub pool: Vec<usize>,
    /// Best viewer-independent score.
    pub top: Vec<usize>,
    pub neighbours: Arc<Neighbours>,
    pub priors: Priors,
}

impl Catalog {
    pub fn build(
        clips: Vec<Arc<Clip>>,
        neighbours: Arc<Neighbours>,
        cfg: &RankConfig,
        now: i64,
    ) -> Catalog {
        let mut totals = [Counts::default(); BANDS];
        for c in &clips {
            totals[model::band(c.duration_ms)].add(&c.counts);
        }
        let priors = Priors::from_totals(&totals);
        let keys: Vec<Key> = clips.iter().map(|c| key(&c.id)).collect();
        let creators: Vec<Key> = clips.iter().map(|c| key(&c.creator)).collect();
        let by_key = keys.iter().enumerate().map(|(i, &k)| (k, i)).collect();

        let mut by_creator: FastMap<Key, Vec<usize>> = FastMap::default();
        for (i, &creator) in creators.iter().enumerate() {
            by_creator.entry(creator).or_default().push(i);
        }
        for list in by_creator.values_mut() {
            list.sort_by_key(|&i| std::cmp::Reverse(clips[i].ready_at));
        }

        let nobody = Viewer::default();
        let base: Vec<f64> = clips
            .iter()
            .zip(&creators)
            .map(|(c, &creator)| model::score(cfg, &priors, c, creator, &nobody, 0.0, now).total)
            .collect();
        let ranked = |keep: &dyn Fn(&Clip) -> bool, key: &dyn Fn(usize) -> f64, cap: usize| {
            let mut list: Vec<usize> = (0..clips.len()).filter(|&i| keep(&clips[i])).collect();
            list.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
            list.truncate(cap);
            list
        };
        let popular = ranked(
            &|c| c.trend_now(cfg, now) > 0.01,
            &|i| clips[i].trend_now(cfg, now),
            LIST_CAP,
        );
        let top = ranked(&|_| true, &|i| base[i], LIST_CAP);
        // Least exposed relative to the stage it is in first: every new clip gets its turn.
        let pool = ranked(
            &|c| c.pool == Pool::Testing,
            &|i| {
                let c = &clips[i];
                let end = cfg.stage_end(c.stage as usize).unwrap_or(1) as f64;
                -(c.counts.impressions as f64 / end) - c.stage as f64
            },
            usize::MAX,
        );
        let mut by_category: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in clips.iter().enumerate() {
            if let Some(commerce) = &c.commerce {
                for k in &commerce.categories {
                    by_category.entry(k.clone()).or_default().push(i);
                }
            }
        }
        for list in by_category.values_mut() {
            list.sort_by(|&a, &b| base[b].total_cmp(&base[a]));
            list.truncate(CATEGORY_CAP);
        }
        Catalog {
            fingerprints: clips.iter().map(|c| fingerprint(&c.id)).collect(),
            clips,
            keys,
            creators,
            by_key,
            by_creator,
            by_category,
            popular,
            pool,
            top,
            neighbours,
            priors,
        }
    }

    /// Clip `i` scored for `viewer`, given its co-engagement with what they liked.
    pub fn score(
        &self,
        cfg: &RankConfig,
        i: usize,
        viewer: &Viewer,
        co: &FastMap<usize, f64>,
        now: i64,
    ) -> model::ScoreTerms {
        let co = co.get(&i).copied().unwrap_or(0.0);
        let clip = &self.clips[i];
        model::score(cfg, &self.priors, clip, self.creators[i], viewer, co, now)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Clip>> {
        self.index(id).map(|i| &self.clips[i])
    }

    /// The index of clip `id`.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_key.get(&key(id)).copied()
    }

    /// Similarity of every clip co-engaged with `liked` (summed over the liked clips).
    pub fn co_engagement(&self, liked: &[Key]) -> FastMap<usize, f64> {
        // Sized once: a page would otherwise grow (rehash) it several times.
        let mut out: FastMap<usize, f64> =
            FastMap::with_capacity_and_hasher(liked.len() * NEIGHBOURS_KEPT, Default::default());
        // In two passes: the lookups of the 100,000-clip index are cache misses, and made in a
        // loop that does nothing else the processor overlaps them instead of waiting on each.
        let mut found: Vec<(usize, f32)> = Vec::with_capacity(liked.len() * NEIGHBOURS_KEPT);
        for id in liked {
            for (other, sim) in self.neighbours.get(id).into_iter().flatten() {
                if let Some(&i) = self.by_key.get(other) {
                    found.push((i, *sim));
                }
            }
        }
        for (i, sim) in found {
            *out.entry(i).or_default() += f64::from(sim);
        }
        out
    }
}

/// Co-engagement neighbours from each viewer's recent positive clips (liked or completed):
/// cosine similarity of the sets of viewers who engaged with each pair, top `keep` per clip.
pub fn neighbours(histories: &[Vec<Key>], keep: usize) -> Neighbours {
    let mut ids: FastMap<Key, u32> = FastMap::default();
    let mut names: Vec<Key> = Vec::new();
    let mut degree: Vec<u32> = Vec::new();
    let mut pairs: HashMap<(u32, u32), u32> = HashMap::new();
    for history in histories {
        let mut items: Vec<u32> = history
            .iter()
            .map(|id| {
                *ids.entry(*id).or_insert_with(|| {
                    names.push(*id);
                    degree.push(0);
                    (names.len() - 1) as u32
                })
            })
            .collect();
        items.sort_unstable();
        items.dedup();
        for &i in &items {
            degree[i as usize] += 1;
        }
        for (x, &a) in items.iter().enumerate() {
            for &b in &items[x + 1..] {
                *pairs.entry((a, b)).or_default() += 1;
            }
        }
    }
    let mut lists: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
    for ((a, b), n) in pairs {
        let sim = n as f32 / ((degree[a as usize] * degree[b as usize]) as f32).sqrt();
        lists.entry(a).or_default().push((b, sim));
        lists.entry(b).or_default().push((a, sim));
    }
    lists
        .into_iter()
        .map(|(a, mut list)| {
            list.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            list.truncate(keep);
            (
                names[a as usize],
                list.into_iter()
                    .map(|(b, s)| (names[b as usize], s))
                    .collect(),
            )
        })
        .collect()
}

/// Everything known about the viewer asking, as of this request.
#[derive(Debug, Clone, Default)]
pub struct ViewerState {
    pub viewer: Viewer,
    /// Clips seen within the seen window (or dismissed): never shown again.
    pub seen: FastSet<Key>,
    /// Recent positive clips (liked, completed, shared), newest first.
    pub positives: Vec<Key>,
    /// Followed creators, the most recent first.
    pub follows: Vec<Key>,
}

impl ViewerState {
    /// Roughly the bytes this state holds (what the ranker's viewer cache budgets by).
    pub fn weight(&self) -> usize {
        use std::mem::size_of;
        let v = &self.viewer;
        // Hash tables hold a control byte per slot and keep about 1/8 of their slots free.
        let table = |len: usize, entry: usize| len * (entry + 1) * 8 / 7;
        size_of::<Self>()
            + table(self.seen.len(), size_of::<Key>())
            + table(v.history.len(), size_of::<(Key, Counts)>())
            + table(v.creators.len() + v.muted.len(), size_of::<(Key, f64)>())
            + v.categories
                .keys()
                .map(|k| table(1, size_of::<(String, f64)>()) + k.len())
                .sum::<usize>()
            + (self.positives.len() + self.follows.len()) * size_of::<Key>()
    }
}

/// 32-bit fingerprint of a clip id (what a cursor remembers of served clips).
pub fn fingerprint(id: &str) -> u32 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish() as u32
}

/// The candidate pipeline for one page: sources → filter → score → select.
///
/// `salt` spreads traffic-pool clips across viewers (a stable number per viewer).
#[allow(clippy::too_many_arguments)]
pub fn recommend<'a>(
    catalog: &'a Catalog,
    cfg: &RankConfig,
    state: &ViewerState,
    salt: u64,
    served: &HashSet<u32>,
    page: &mut PageState,
    limit: usize,
    now: i64,
) -> Vec<Pick<'a>> {
    // Hashed fast: this runs for every candidate every request.
    let served: FastSet<u32> = served.iter().copied().collect();
    let excluded = |i: usize| {
        state.seen.contains(&catalog.keys[i])
            || served.contains(&catalog.fingerprints[i])
            || (!state.viewer.muted.is_empty()
                && model::fatigue(
                    cfg,
                    state.viewer.muted.get(&catalog.creators[i]).copied(),
                    now,
                ) == 0.0)
    };
    let s = &cfg.sources;
    // Sized once for every source's share: growing it would rehash it several times a page.
    let mut proposed: HashMap<usize, Sources, FastHash> = HashMap::with_capacity_and_hasher(
        s.traffic_pool + s.popular + s.followed + s.co_engagement + s.commerce + s.top,
        FastHash::default(),
    );
    let mut propose = |i: usize, source: Source| {
        proposed.entry(i).or_default().insert(source);
    };

    // Traffic pool: the least exposed clips, spread across viewers by a salted offset.
    let mut pool_order = Vec::new();
    if s.traffic_pool > 0 && !catalog.pool.is_empty() {
        let window = catalog.pool.len().min(s.traffic_pool * 10);
        let start = (salt as usize) % window;
        for &i in catalog.pool[start..window]
            .iter()
            .chain(&catalog.pool[..start])
            .chain(&catalog.pool[window..])
            .filter(|&&i| !excluded(i))
            .take(s.traffic_pool)
        {
            propose(i, Source::TrafficPool);
            pool_order.push(i);
        }
    }
    for &i in catalog
        .popular
        .iter()
        .filter(|&&i| !excluded(i))
        .take(s.popular)
    {
        propose(i, Source::Popular);
    }
    if s.followed > 0 {
        let per = (s.followed / state.follows.len().max(1)).clamp(1, 5);
        let mut n = 0;
        for creator in &state.follows {
            for &i in catalog
                .by_creator
                .get(creator)
                .into_iter()
                .flatten()
                .filter(|&&i| !excluded(i))
                .take(per)
            {
                if n < s.followed {
                    propose(i, Source::Followed);
                    n += 1;
                }
            }
        }
    }
    let co = catalog.co_engagement(&state.positives);
    if s.co_engagement > 0 {
        let mut similar: Vec<(usize, f64)> = co
            .iter()
            .filter(|(&i, _)| !excluded(i))
            .map(|(&i, &v)| (i, v))
            .collect();
        similar.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (i, _) in similar.into_iter().take(s.co_engagement) {
            propose(i, Source::CoEngagement);
        }
    }
    if s.commerce > 0 {
        let mut categories: Vec<(&String, &f64)> = state.viewer.categories.iter().collect();
        categories.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<_> = categories.into_iter().take(3).collect();
        let per = s.commerce / top.len().max(1);
        for (k, _) in top {
            for &i in catalog
                .by_category
                .get(k)
                .into_iter()
                .flatten()
                .filter(|&&i| !excluded(i))
                .take(per)
            {
                propose(i, Source::Commerce);
            }
        }
    }
    for &i in catalog.top.iter().filter(|&&i| !excluded(i)).take(s.top) {
        propose(i, Source::Top);
    }

    // Each clip is an allocation of its own, scattered over 100,000 of them: scoring them one
    // after another waited on a cache miss per clip (measured: ~15 % of a page's CPU). Reading
    // each candidate's fields first, in a loop whose loads do not depend on each other, lets the
    // processor fetch them all at once.
    let mut touched = 0i64;
    for &i in proposed.keys() {
        let c = &catalog.clips[i];
        touched = touched.wrapping_add(
            c.counts.impressions
                ^ c.counts.watched
                ^ c.ready_at
                ^ c.duration_ms.unwrap_or(0)
                ^ i64::from(c.commerce.is_some()),
        );
    }
    std::hint::black_box(touched);

    let scored = |i: usize, sources: Sources| {
        let clip = &catalog.clips[i];
        Scored {
            clip: i,
            creator: clip.creator.as_str(),
            creator_key: catalog.creators[i],
            commerce: clip.commerce.is_some(),
            sources,
            terms: catalog.score(cfg, i, &state.viewer, &co, now),
        }
    };
    let pool: Vec<Scored> = pool_order
        .iter()
        .map(|&i| scored(i, proposed.get(&i).copied().unwrap_or_default()))
        .collect();
    let organic: Vec<Scored> = proposed
        .into_iter()
        .filter(|(_, sources)| sources.any_but(Source::TrafficPool))
        .map(|(i, sources)| scored(i, sources))
        .collect();
    model::select(cfg, organic, pool, page, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Commerce, Pool, Trend};

    fn clip(id: &str, creator: &str, impressions: i64, likes: i64) -> Arc<Clip> {
        Arc::new(Clip {
            id: id.into(),
            creator: creator.into(),
            duration_ms: Some(20_000),
            ready_at: 0,
            counts: Counts {
                impressions,
                likes,
                completes: likes * 3,
                ..Default::default()
            },
            stage: 0,
            pool: if impressions >= 300 {
                Pool::Graduated
            } else {
                Pool::Testing
            },
            trend: Trend::new(&RankConfig::default()).weight(likes as f64, 0, 0),
            trend_epoch: 0,
            commerce: None,
        })
    }

    #[test]
    fn co_engagement_links_clips_liked_by_the_same_viewers() {
        let h = |ids: &[&str]| ids.iter().map(|s| key(s)).collect::<Vec<_>>();
        let n = neighbours(&[h(&["a", "b"]), h(&["a", "b", "c"]), h(&["c", "d"])], 10);
        let of_a = &n[&key("a")];
        assert_eq!(of_a[0].0, key("b"));
        assert!((of_a[0].1 - 1.0).abs() < 1e-6, "a and b always together");
        assert!(of_a.iter().all(|&(id, _)| id != key("d")));
    }

    #[test]
    fn each_source_proposes_and_filters_hold() {
        let cfg = RankConfig::default();
        let mut clips = vec![
            clip("hit", "x", 10_000, 3_000),
            clip("new", "y", 0, 0),
            clip("fav1", "fav", 5_000, 100),
            clip("fav2", "fav", 5_000, 100),
            clip("similar", "z", 5_000, 50),
            clip("seen", "w", 10_000, 5_000),
            clip("muted", "m", 10_000, 5_000),
        ];
        let mut shop = (*clip("shop", "s", 5_000, 50)).clone();
        shop.commerce = Some(Commerce {
            categories: vec!["shoes".into()],
            price: 30.0,
        });
        clips.push(Arc::new(shop));
        let mut neighbours = Neighbours::default();
        neighbours.insert(key("liked"), vec![(key("similar"), 0.9)]);
        let catalog = Catalog::build(clips, Arc::new(neighbours), &cfg, 1_000);
        let mut state = ViewerState::default();
        state.seen.insert(key("seen"));
        state.viewer.muted.insert(key("m"), 900);
        state.follows.push(key("fav"));
        state.positives.push(key("liked"));
        state.viewer.categories.insert("shoes".into(), 2.0);
        let mut page = PageState::default();
        let picks = recommend(
            &catalog,
            &cfg,
            &state,
            7,
            &HashSet::new(),
            &mut page,
            10,
            1_000,
        );
        let id = |p: &Pick| catalog.clips[p.scored.clip].id.clone();
        let ids: Vec<String> = picks.iter().map(id).collect();
        assert!(
            !ids.contains(&"seen".into()) && !ids.contains(&"muted".into()),
            "{ids:?}"
        );
        let source_of = |name: &str| {
            picks
                .iter()
                .find(|p| id(p) == name)
                .map(|p| p.scored.sources)
                .unwrap_or_default()
        };
        assert!(source_of("new").contains(Source::TrafficPool));
        assert!(source_of("hit").contains(Source::Popular));
        assert!(source_of("fav1").contains(Source::Followed));
        assert!(source_of("similar").contains(Source::CoEngagement));
        assert!(source_of("shop").contains(Source::Commerce));
        assert_eq!(ids.len(), 6, "every unseen clip once: {ids:?}");

        // A served clip is not served again.
        let served: HashSet<u32> = ids.iter().map(|i| fingerprint(i)).collect();
        let more = recommend(&catalog, &cfg, &state, 7, &served, &mut page, 10, 1_000);
        assert!(more.is_empty());
    }
}
