//! The ranking model, free of I/O: smoothed action rates, the score, traffic-pool promotion and
//! the page rules. The server and `vitrine eval kuairand` both call exactly this code.
//!
//! Score (Douyin's rule): `Σ wᵢ · P(actionᵢ)` over predicted actions, plus a commerce term
//! (expected GPM: click-through × conversion × price, corrected by the GMV the shop attributed
//! to the clip), both lifted by the viewer's affinity; then freshness and creator fatigue scale
//! it. Rates are posterior means: a clip's counts on top of its duration
//! band's average worth `prior_strength` impressions, so three views never read as certainty.
//! [`viewing`] is what one viewer's events change (their history, clip counts, affinities).
//!
//! (About 1,000 lines, a third of them the tests that read as its specification: the score's
//! terms are easiest to check against each other in one place.)

pub mod viewing;

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::{RankConfig, Stage};

/// Hash maps keyed by what a page looks up per candidate (creator ids, clip indexes): a fast
/// hasher, as nothing here is keyed by untrusted input chosen to collide.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// A clip or creator id as the ranker holds it in memory: a 64-bit hash (collisions among a
/// few million ids are negligible), so a viewer's state is compact and looked up without
/// comparing strings. Only ever compared within one process.
pub type Key = u64;

/// The `Key` of a clip or creator id.
pub fn key(id: &str) -> Key {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x5eed_f00d).hash_one(id)
}

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: f64 = 24.0 * HOUR_MS;

/// Duration bands: unknown, then powers of two from 1 s up (…, 8–16 s, 16–32 s, …, ≥ 128 s).
pub const BANDS: usize = 9;

pub fn band(duration_ms: Option<i64>) -> usize {
    match duration_ms {
        None | Some(..=0) => 0,
        Some(ms) => 1 + ((ms.max(1000) / 1000) as u64).ilog2().min(7) as usize,
    }
}

/// What viewers did with one clip, summed (each viewer counts once per action).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub impressions: i64,
    pub completes: i64,
    pub likes: i64,
    pub shares: i64,
    pub comments: i64,
    pub follows: i64,
    pub not_interested: i64,
    pub product_clicks: i64,
    /// Units bought through this clip's tags (the shop's attribution).
    pub purchases: i64,
    /// Their GMV, in hundredths of the reference currency (`RankConfig::currency_rates`).
    pub gmv_minor: i64,
    /// Σ of each viewer's best watch ratio (capped at 1), over `watched` viewers.
    pub watch_sum: f64,
    pub watched: i64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.impressions += o.impressions;
        self.completes += o.completes;
        self.likes += o.likes;
        self.shares += o.shares;
        self.comments += o.comments;
        self.follows += o.follows;
        self.not_interested += o.not_interested;
        self.product_clicks += o.product_clicks;
        self.purchases += o.purchases;
        self.gmv_minor += o.gmv_minor;
        self.watch_sum += o.watch_sum;
        self.watched += o.watched;
    }
}

/// Probabilities per impression (watch: mean watch ratio; purchase: per product click).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Rates {
    pub complete: f64,
    pub watch: f64,
    pub like: f64,
    pub share: f64,
    pub comment: f64,
    pub follow: f64,
    pub not_interested: f64,
    pub product_click: f64,
    pub purchase: f64,
}

/// Rates assumed before anything is known (typical short-video numbers).
const BASE: Rates = Rates {
    complete: 0.30,
    watch: 0.50,
    like: 0.04,
    share: 0.005,
    comment: 0.01,
    follow: 0.005,
    not_interested: 0.01,
    product_click: 0.02,
    purchase: 0.05,
};

/// How many impressions' worth of evidence the global and band averages start from.
const BAND_STRENGTH: f64 = 100.0;

fn smooth(count: f64, n: f64, prior: f64, k: f64) -> f64 {
    ((count + k * prior) / (n + k)).clamp(0.0, 1.0)
}

/// A clip's posterior rates given its counts and the prior for its band.
pub fn posterior(c: &Counts, prior: &Rates, k: f64) -> Rates {
    let n = c.impressions as f64;
    Rates {
        complete: smooth(c.completes as f64, n, prior.complete, k),
        watch: smooth(c.watch_sum, c.watched as f64, prior.watch, k),
        like: smooth(c.likes as f64, n, prior.like, k),
        share: smooth(c.shares as f64, n, prior.share, k),
        comment: smooth(c.comments as f64, n, prior.comment, k),
        follow: smooth(c.follows as f64, n, prior.follow, k),
        not_interested: smooth(c.not_interested as f64, n, prior.not_interested, k),
        product_click: smooth(c.product_clicks as f64, n, prior.product_click, k),
        purchase: smooth(
            c.purchases as f64,
            c.product_clicks as f64,
            prior.purchase,
            k,
        ),
    }
}

/// Prior rates per duration band: each band's pooled counts, shrunk towards the pool of all
/// clips, itself shrunk towards typical numbers. Short clips are finished more often than long
/// ones; the prior knows that before a clip has its own evidence.
#[derive(Debug, Clone)]
pub struct Priors {
    bands: [Rates; BANDS],
}

impl Default for Priors {
    fn default() -> Self {
        Priors {
            bands: [BASE; BANDS],
        }
    }
}

impl Priors {
    pub fn from_totals(totals: &[Counts; BANDS]) -> Priors {
        let mut all = Counts::default();
        for t in totals {
            all.add(t);
        }
        let global = posterior(&all, &BASE, BAND_STRENGTH);
        Priors {
            bands: std::array::from_fn(|b| posterior(&totals[b], &global, BAND_STRENGTH)),
        }
    }

    pub fn for_duration(&self, duration_ms: Option<i64>) -> &Rates {
        &self.bands[band(duration_ms)]
    }
}

/// Whether a clip is still being pushed by the traffic pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// In `stage`'s pool: guaranteed impressions until the stage ends.
    Testing,
    /// Passed every stage: competes on its score alone.
    Graduated,
    /// Failed a stage's thresholds: no longer pushed (still reachable by followers, search…).
    Stopped,
}

impl Pool {
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Testing => "testing",
            Pool::Graduated => "graduated",
            Pool::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Pool {
        match s {
            "graduated" => Pool::Graduated,
            "stopped" => Pool::Stopped,
            _ => Pool::Testing,
        }
    }
}

fn passes(stage: &Stage, r: &Rates) -> bool {
    r.complete >= stage.min_completion && r.like >= stage.min_like && r.share >= stage.min_share
}

/// Moves a clip through the stages it has finished: returns its new `(stage, pool)`.
pub fn advance(
    cfg: &RankConfig,
    mut stage: i64,
    mut pool: Pool,
    counts: &Counts,
    prior: &Rates,
) -> (i64, Pool) {
    let rates = posterior(counts, prior, cfg.prior_strength);
    while pool == Pool::Testing {
        let Some(end) = cfg.stage_end(stage as usize) else {
            pool = Pool::Graduated;
            break;
        };
        if counts.impressions < end {
            break;
        }
        if !passes(&cfg.stages[stage as usize], &rates) {
            pool = Pool::Stopped;
        } else if stage as usize + 1 >= cfg.stages.len() {
            pool = Pool::Graduated;
        } else {
            stage += 1;
        }
    }
    (stage, pool)
}

/// Products a clip sells right now (live, in-stock tags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commerce {
    pub categories: Vec<String>,
    /// Highest price among its visible products, in major units of the reference currency
    /// (`RankConfig::currency_rates`), at most `max_commerce_price`.
    pub price: f64,
}

/// Everything the ranker knows about one feedable clip.
#[derive(Debug, Clone)]
pub struct Clip {
    pub id: String,
    pub creator: String,
    pub duration_ms: Option<i64>,
    pub ready_at: i64,
    pub counts: Counts,
    pub stage: i64,
    pub pool: Pool,
    /// Recent positive actions (see [`Trend`]).
    pub trend: f64,
    pub trend_epoch: i64,
    pub commerce: Option<Commerce>,
}

impl Clip {
    pub fn trend_now(&self, cfg: &RankConfig, now: i64) -> f64 {
        Trend::new(cfg).value(self.trend, self.trend_epoch, now)
    }
}

/// An exponentially decayed counter that the database can add to atomically.
///
/// Time is cut into epochs of 200 half-lives. Within an epoch an action at `t` adds
/// `2^((t − epoch start) / half-life)` to the stored sum, so concurrent writers just add; the
/// value now is the sum × `2^((epoch start − now) / half-life)`. Crossing into the next epoch
/// multiplies the stored sum by `2^-200` (`carry`); older sums are zero for all purposes.
#[derive(Debug, Clone, Copy)]
pub struct Trend {
    half_life_ms: f64,
    epoch_ms: i64,
}

impl Trend {
    pub fn new(cfg: &RankConfig) -> Trend {
        let half_life_ms = cfg.trend_half_life_hours * HOUR_MS;
        Trend {
            half_life_ms,
            epoch_ms: ((half_life_ms * 200.0) as i64).max(1),
        }
    }

    pub fn epoch(&self, at: i64) -> i64 {
        at.div_euclid(self.epoch_ms)
    }

    /// What an action of weight `w` at `at` adds to a sum kept in `epoch`.
    pub fn weight(&self, w: f64, at: i64, epoch: i64) -> f64 {
        w * 2f64.powf((at - epoch * self.epoch_ms) as f64 / self.half_life_ms)
    }

    /// The factor a sum of one epoch takes on into the next.
    pub fn carry(&self) -> f64 {
        2f64.powf(-(self.epoch_ms as f64) / self.half_life_ms)
    }

    pub fn value(&self, sum: f64, epoch: i64, now: i64) -> f64 {
        sum * 2f64.powf((epoch * self.epoch_ms - now) as f64 / self.half_life_ms)
    }
}

/// `value` halved every `half_life_ms` over `elapsed_ms`.
pub fn decay(value: f64, elapsed_ms: i64, half_life_ms: f64) -> f64 {
    value * 0.5f64.powf(elapsed_ms.max(0) as f64 / half_life_ms)
}

/// What the ranker knows about the viewer asking (already decayed to now).
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// What the viewer did with each creator's clips they were shown (within the seen window).
    pub history: FastMap<Key, Counts>,
    pub creators: FastMap<Key, f64>,
    pub categories: FastMap<String, f64>,
    /// Creators the viewer said "not interested" to, and when.
    pub muted: FastMap<Key, i64>,
}

/// A clip's score and how it was made (the `?debug=1` explanation).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ScoreTerms {
    /// Σ wᵢ · P(actionᵢ).
    pub actions: f64,
    /// Expected GMV per impression (`gpm` / 1000) × `commerce_weight` × the affinity lift.
    pub commerce: f64,
    /// Expected GMV per 1,000 impressions, in major currency units (0 when the clip sells
    /// nothing now): the prediction (click-through × conversion × price of its live products)
    /// corrected by the GMV the shop attributed to the clip.
    pub gpm: f64,
    /// Lift (≥ 1) from the viewer's affinity to the creator, the categories and similar clips:
    /// multiplies positive actions and the commerce term, divides negative ones.
    pub affinity: f64,
    /// Freshness multiplier (1 → `freshness_floor`).
    pub freshness: f64,
    /// Creator fatigue multiplier after "not interested" (0 = filtered).
    pub fatigue: f64,
    pub total: f64,
}

/// GMV per 1,000 impressions: `predicted` GMV per impression, worth `prior_impressions`
/// impressions, updated by the clip's attributed sales over its impressions.
fn gpm(predicted: f64, counts: &Counts, prior_impressions: f64) -> f64 {
    let sold = counts.gmv_minor.max(0) as f64 / 100.0;
    1000.0 * (sold + predicted * prior_impressions)
        / (counts.impressions.max(0) as f64 + prior_impressions)
}

fn saturate(x: f64) -> f64 {
    let x = x.max(0.0);
    x / (1.0 + x)
}

/// Scales a score that may be negative so that a smaller multiplier is always worse.
fn scale(score: f64, m: f64) -> f64 {
    if score >= 0.0 {
        score * m
    } else if m > 0.0 {
        score / m
    } else {
        f64::NEG_INFINITY
    }
}

/// Creator fatigue after "not interested": 0 while filtered, then rising linearly back to 1.
pub fn fatigue(cfg: &RankConfig, muted_at: Option<i64>, now: i64) -> f64 {
    let Some(at) = muted_at else { return 1.0 };
    let days = (now - at) as f64 / DAY_MS;
    if days < cfg.fatigue_filter_days {
        0.0
    } else {
        let t = ((days - cfg.fatigue_filter_days) / cfg.fatigue_recovery_days).min(1.0);
        cfg.fatigue_floor + (1.0 - cfg.fatigue_floor) * t
    }
}

/// `Σ wᵢ · P(actionᵢ)` for a viewer whose affinity lifts the clip's positive actions by `lift`
/// (and makes the negative ones that much less likely).
pub fn action_value(cfg: &RankConfig, p: &Rates, lift: f64) -> f64 {
    let w = &cfg.weights;
    let terms = [
        (w.complete, p.complete),
        (w.watch, p.watch),
        (w.like, p.like),
        (w.share, p.share),
        (w.comment, p.comment),
        (w.follow, p.follow),
        (w.product_click, p.product_click),
        (w.not_interested, p.not_interested),
    ];
    terms
        .iter()
        .map(|&(w, p)| if w >= 0.0 { w * p * lift } else { w * p / lift })
        .sum()
}

/// Scores `clip` (by `creator`, the key of its creator) for `viewer`; `co_engagement` is its
/// similarity to what the viewer liked.
///
/// The clip's posterior rates become the viewer's own with the clip's creator when they have
/// a record (hierarchical smoothing: the viewer × creator counts on top of the clip's rates,
/// worth `viewer_prior_strength` impressions), then are personalised further by a lift of `1 + Σ affinity terms` (creator,
/// product category, co-engagement; each saturating at its weight): a viewer who loves a
/// creator is that much more likely to finish, like and share their next clip, and less likely
/// to dismiss it.
pub fn score(
    cfg: &RankConfig,
    priors: &Priors,
    clip: &Clip,
    creator: Key,
    viewer: &Viewer,
    co_engagement: f64,
    now: i64,
) -> ScoreTerms {
    let mut p = posterior(
        &clip.counts,
        priors.for_duration(clip.duration_ms),
        cfg.prior_strength,
    );
    // The viewer's own record with this creator, on top of the clip's rates.
    if let Some(history) = viewer.history.get(&creator) {
        p = posterior(history, &p, cfg.viewer_prior_strength);
    }
    let category = clip.commerce.as_ref().map_or(0.0, |c| {
        c.categories
            .iter()
            .filter_map(|k| viewer.categories.get(k))
            .fold(0.0f64, |a, &b| a.max(b))
    });
    let a = &cfg.affinity;
    let lift = 1.0
        + a.creator * saturate(viewer.creators.get(&creator).copied().unwrap_or(0.0))
        + a.category * saturate(category)
        + a.co_engagement * saturate(co_engagement);
    let actions = action_value(cfg, &p, lift);
    let gpm = clip.commerce.as_ref().map_or(0.0, |c| {
        gpm(
            p.product_click * p.purchase * c.price,
            &clip.counts,
            cfg.gpm_prior_impressions,
        )
    });
    let commerce = cfg.commerce_weight * gpm / 1000.0 * lift;
    let freshness = cfg.freshness_floor
        + (1.0 - cfg.freshness_floor)
            * decay(
                1.0,
                now - clip.ready_at,
                cfg.freshness_half_life_hours * HOUR_MS,
            );
    let fatigue = fatigue(cfg, viewer.muted.get(&creator).copied(), now);
    let total = scale(
        scale(actions + commerce, freshness),
        fatigue.max(f64::MIN_POSITIVE),
    );
    ScoreTerms {
        actions,
        commerce,
        gpm,
        affinity: lift,
        freshness,
        fatigue,
        total: if fatigue == 0.0 {
            f64::NEG_INFINITY
        } else {
            total
        },
    }
}

/// Why a clip was proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    TrafficPool,
    Popular,
    Followed,
    CoEngagement,
    Commerce,
    Top,
}

impl Source {
    const ALL: [Source; 6] = [
        Source::TrafficPool,
        Source::Popular,
        Source::Followed,
        Source::CoEngagement,
        Source::Commerce,
        Source::Top,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The sources that proposed a candidate: a set, not a list (a page proposes hundreds of
/// candidates, and a list each was an allocation each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources(u8);

impl Sources {
    pub fn insert(&mut self, source: Source) {
        self.0 |= source.bit();
    }

    pub fn contains(self, source: Source) -> bool {
        self.0 & source.bit() != 0
    }

    /// Whether a source other than `source` proposed it.
    pub fn any_but(self, source: Source) -> bool {
        self.0 & !source.bit() != 0
    }

    /// Each source once, in the order the candidate pipeline asks them.
    pub fn iter(self) -> impl Iterator<Item = Source> {
        Source::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Source> for Sources {
    fn from_iter<I: IntoIterator<Item = Source>>(sources: I) -> Sources {
        let mut set = Sources::default();
        for source in sources {
            set.insert(source);
        }
        set
    }
}

/// A scored candidate.
#[derive(Debug, Clone, Copy)]
pub struct Scored<'a> {
    pub clip: usize,
    /// Borrowed from the catalog: a page scores hundreds of candidates.
    pub creator: &'a str,
    /// `key(creator)`: what the page rules compare (hashing the id itself was a twentieth of a
    /// page's CPU).
    pub creator_key: Key,
    pub commerce: bool,
    pub sources: Sources,
    pub terms: ScoreTerms,
}

/// Where the previous page left off (carried in the cursor).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageState {
    /// Items served so far in this feed session.
    pub position: u64,
    pub last_creator: Option<String>,
    /// Items since the last commerce clip (None: none yet).
    pub since_commerce: Option<u64>,
}

/// A clip placed on the page and the rules that shaped its place.
#[derive(Debug, Clone)]
pub struct Pick<'a> {
    pub scored: Scored<'a>,
    /// Score after the page rules (author diversity).
    pub adjusted: f64,
    pub rules: Vec<String>,
}

/// Fills `limit` slots from `organic` (any order) and `pool` (traffic-pool clips, best first),
/// applying the page rules: a pool clip in every `pool_every`-th slot, never the same creator
/// twice in a row, author diversity decay, at most one commerce clip per `commerce_every`.
pub fn select<'a>(
    cfg: &RankConfig,
    organic: Vec<Scored<'a>>,
    pool: Vec<Scored<'a>>,
    state: &mut PageState,
    limit: usize,
) -> Vec<Pick<'a>> {
    // Candidates stay where they are: the organic ones are ranked as positions (a stable sort
    // of positions orders them as a stable sort of the candidates would), and a placed clip is
    // skipped rather than removed (moving hundreds of candidates per slot was a tenth of a
    // page).
    let mut ranked: Vec<u32> = (0..organic.len() as u32).collect();
    ranked.sort_by(|&a, &b| {
        organic[b as usize]
            .terms
            .total
            .total_cmp(&organic[a as usize].terms.total)
    });
    ranked.retain(|&i| organic[i as usize].terms.total.is_finite());
    let pool: Vec<&Scored<'a>> = pool.iter().filter(|s| s.terms.total.is_finite()).collect();
    let in_organic: FastSet<usize> = ranked.iter().map(|&i| organic[i as usize].clip).collect();
    let mut organic_left = ranked.len();
    let mut placed: FastSet<usize> = FastSet::with_capacity_and_hasher(limit, Default::default());
    let mut per_creator: FastMap<Key, u32> = FastMap::default();
    let mut remaining = Remaining::new(
        ranked
            .iter()
            .map(|&i| &organic[i as usize])
            .chain(pool.iter().copied()),
    );
    let mut page = Vec::with_capacity(limit);
    while page.len() < limit {
        let slot_is_pool = state.position % cfg.pool_every as u64 == cfg.pool_every as u64 - 1;
        let commerce_ok = state
            .since_commerce
            .is_none_or(|n| n + 1 >= cfg.commerce_every as u64);
        let last = state.last_creator.as_deref().map(key);
        // If one creator holds more than half of what is left, their clips must alternate with
        // the others' from now on, or the page would end on a run of theirs.
        let crowded = remaining.crowding().filter(|c| last != Some(*c));
        let allowed = |s: &Scored| {
            last != Some(s.creator_key)
                && (commerce_ok || !s.commerce)
                && crowded.is_none_or(|c| c == s.creator_key)
        };
        let author_factor = |creator: Key| {
            let k = per_creator.get(&creator).copied().unwrap_or(0);
            cfg.author_decay.powi(k as i32).max(cfg.author_floor)
        };
        let first_allowed_in_pool = || {
            pool.iter()
                .find(|s| !placed.contains(&s.clip) && allowed(s))
                .copied()
        };
        let from_pool = if slot_is_pool || organic_left == 0 {
            first_allowed_in_pool()
        } else {
            None
        };
        let (scored, adjusted, mut rules) = if let Some(s) = from_pool {
            (*s, s.terms.total, vec!["traffic_pool_slot".to_owned()])
        } else {
            // Best adjusted score; adjustments only lower scores, so stop once raw scores
            // fall below the best adjusted one found.
            let mut best: Option<(&Scored, f64)> = None;
            for s in ranked.iter().map(|&i| &organic[i as usize]) {
                if placed.contains(&s.clip) {
                    continue;
                }
                if best.is_some_and(|(_, b)| s.terms.total <= b) {
                    break;
                }
                if !allowed(s) {
                    continue;
                }
                let adjusted = scale(s.terms.total, author_factor(s.creator_key));
                if best.is_none_or(|(_, b)| adjusted > b) {
                    best = Some((s, adjusted));
                }
            }
            match best {
                Some((s, adjusted)) => {
                    let mut rules = Vec::new();
                    let factor = author_factor(s.creator_key);
                    if factor < 1.0 {
                        rules.push(format!("author_diversity x{factor:.2}"));
                    }
                    (*s, adjusted, rules)
                }
                None => {
                    // Only clips the rules forbid here are left: try the pool, else end the
                    // page.
                    let Some(s) = first_allowed_in_pool() else {
                        break;
                    };
                    (*s, s.terms.total, vec!["traffic_pool_fallback".to_owned()])
                }
            }
        };
        // A clip proposed by both sides is placed once.
        placed.insert(scored.clip);
        if in_organic.contains(&scored.clip) {
            organic_left -= 1;
        }
        if scored.terms.fatigue < 1.0 {
            rules.push(format!("creator_fatigue x{:.2}", scored.terms.fatigue));
        }
        if scored.commerce {
            rules.push(format!("commerce_cadence 1/{}", cfg.commerce_every));
        }
        *per_creator.entry(scored.creator_key).or_insert(0) += 1;
        remaining.placed(scored.creator_key);
        page.push(finish(scored, adjusted, rules));
        advance_state(state, page.last().expect("pushed"));
    }
    page
}

/// How many candidate clips each creator has left (each clip once).
struct Remaining {
    counts: FastMap<Key, usize>,
    total: usize,
}

impl Remaining {
    fn new<'s, 'a: 's>(candidates: impl Iterator<Item = &'s Scored<'a>> + Clone) -> Remaining {
        let n = candidates.clone().count();
        let mut counts: FastMap<Key, usize> =
            FastMap::with_capacity_and_hasher(n, Default::default());
        let mut seen: FastSet<usize> = FastSet::with_capacity_and_hasher(n, Default::default());
        for s in candidates {
            if seen.insert(s.clip) {
                *counts.entry(s.creator_key).or_default() += 1;
            }
        }
        let total = counts.values().sum();
        Remaining { counts, total }
    }

    fn placed(&mut self, creator: Key) {
        if let Some(n) = self.counts.get_mut(&creator) {
            *n = n.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
        }
    }

    /// The creator with more remaining clips than all others together, if any.
    fn crowding(&self) -> Option<Key> {
        self.counts
            .iter()
            .find(|(_, &n)| n > self.total - n)
            .map(|(c, _)| *c)
    }
}

fn finish(scored: Scored<'_>, adjusted: f64, rules: Vec<String>) -> Pick<'_> {
    Pick {
        scored,
        adjusted,
        rules,
    }
}

fn advance_state(state: &mut PageState, pick: &Pick) {
    state.position += 1;
    state.last_creator = Some(pick.scored.creator.to_owned());
    state.since_commerce = if pick.scored.commerce {
        Some(0)
    } else {
        state.since_commerce.map(|n| n + 1)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(creator: &str, counts: Counts) -> Clip {
        Clip {
            id: format!("vid_{creator}"),
            creator: creator.into(),
            duration_ms: Some(15_000),
            ready_at: 0,
            counts,
            stage: 0,
            pool: Pool::Testing,
            trend: 0.0,
            trend_epoch: 0,
            commerce: None,
        }
    }

    #[test]
    fn a_candidates_sources_are_each_listed_once_in_pipeline_order() {
        let sources: Sources = [
            Source::Top,
            Source::Commerce,
            Source::Commerce,
            Source::Popular,
        ]
        .into_iter()
        .collect();
        assert_eq!(
            sources.iter().collect::<Vec<_>>(),
            [Source::Popular, Source::Commerce, Source::Top]
        );
        assert!(sources.any_but(Source::TrafficPool));
        let pool_only: Sources = [Source::TrafficPool].into_iter().collect();
        assert!(!pool_only.any_but(Source::TrafficPool) && pool_only.contains(Source::TrafficPool));
        assert_eq!(Sources::default().iter().count(), 0);
    }

    fn scored(i: usize, creator: &str, total: f64, commerce: bool) -> Scored<'_> {
        Scored {
            clip: i,
            creator,
            creator_key: key(creator),
            commerce,
            sources: [Source::Top].into_iter().collect(),
            terms: ScoreTerms {
                actions: total,
                commerce: 0.0,
                gpm: 0.0,
                affinity: 0.0,
                freshness: 1.0,
                fatigue: 1.0,
                total,
            },
        }
    }

    #[test]
    fn gpm_starts_at_the_prediction_and_follows_what_the_clip_sells() {
        // Predicted: 2 % click × 5 % buy × 50.00 = 0.05 per impression = 50 per mille.
        let predicted = 0.02 * 0.05 * 50.0;
        let unseen = Counts::default();
        assert!((gpm(predicted, &unseen, 1000.0) - 50.0).abs() < 1e-9);
        // One 50.00 sale after two impressions barely moves it…
        let lucky = Counts {
            impressions: 2,
            gmv_minor: 5_000,
            ..Default::default()
        };
        let g = gpm(predicted, &lucky, 1000.0);
        assert!(g > 50.0 && g < 100.0, "{g}");
        // …while 100,000 impressions that sold 1,000,000.00 (10.00 per impression) carry it.
        let seller = Counts {
            impressions: 100_000,
            gmv_minor: 100_000_000,
            ..Default::default()
        };
        let g = gpm(predicted, &seller, 1000.0);
        assert!(g > 9_000.0 && g < 10_000.0, "{g}");
        // And a clip that sold nothing in 100,000 impressions falls far below the prediction.
        let dud = Counts {
            impressions: 100_000,
            ..Default::default()
        };
        assert!(gpm(predicted, &dud, 1000.0) < 1.0);

        // In the score: the same clip with the same live product, one with sales.
        let cfg = RankConfig::default();
        let priors = Priors::default();
        let selling = |gmv_minor| {
            let mut c = clip(
                "a",
                Counts {
                    impressions: 5_000,
                    gmv_minor,
                    ..Default::default()
                },
            );
            c.commerce = Some(Commerce {
                categories: vec![],
                price: 50.0,
            });
            c
        };
        let nobody = Viewer::default();
        let s = |c: &Clip| score(&cfg, &priors, c, key("a"), &nobody, 0.0, 0);
        let (plain, sold) = (s(&selling(0)), s(&selling(2_500_000)));
        assert!(sold.gpm > plain.gpm, "{} vs {}", sold.gpm, plain.gpm);
        assert!(sold.commerce > plain.commerce);
        assert_eq!(
            s(&clip("a", Counts::default())).gpm,
            0.0,
            "sells nothing now"
        );
    }

    #[test]
    fn three_perfect_views_do_not_beat_a_thousand_good_ones() {
        let prior = Priors::default();
        let lucky = posterior(
            &Counts {
                impressions: 3,
                completes: 3,
                likes: 3,
                ..Default::default()
            },
            prior.for_duration(Some(15_000)),
            20.0,
        );
        let proven = posterior(
            &Counts {
                impressions: 1000,
                completes: 600,
                likes: 250,
                ..Default::default()
            },
            prior.for_duration(Some(15_000)),
            20.0,
        );
        assert!(lucky.complete < 0.5 && lucky.like < 0.2, "{lucky:?}");
        assert!(proven.like > lucky.like, "{proven:?} vs {lucky:?}");
        assert!((proven.complete - 0.6).abs() < 0.01);
    }

    #[test]
    fn priors_follow_the_duration_band() {
        let mut totals = [Counts::default(); BANDS];
        totals[band(Some(5_000))] = Counts {
            impressions: 10_000,
            completes: 8_000,
            ..Default::default()
        };
        totals[band(Some(100_000))] = Counts {
            impressions: 10_000,
            completes: 1_000,
            ..Default::default()
        };
        let p = Priors::from_totals(&totals);
        assert!(p.for_duration(Some(5_000)).complete > 0.75);
        assert!(p.for_duration(Some(100_000)).complete < 0.15);
        assert_eq!(band(None), 0);
        assert_ne!(band(Some(5_000)), band(Some(100_000)));
    }

    #[test]
    fn a_good_clip_climbs_the_stages_and_a_poor_one_stops() {
        let cfg = RankConfig::default();
        let prior = Priors::default();
        let prior = prior.for_duration(Some(15_000));
        let good = Counts {
            impressions: 300,
            completes: 150,
            likes: 30,
            shares: 3,
            ..Default::default()
        };
        assert_eq!(
            advance(&cfg, 0, Pool::Testing, &good, prior),
            (1, Pool::Testing)
        );
        let poor = Counts {
            impressions: 300,
            completes: 30,
            likes: 1,
            ..Default::default()
        };
        assert_eq!(
            advance(&cfg, 0, Pool::Testing, &poor, prior),
            (0, Pool::Stopped)
        );
        // Not finished with its stage yet: stays.
        let early = Counts {
            impressions: 299,
            ..poor
        };
        assert_eq!(
            advance(&cfg, 0, Pool::Testing, &early, prior),
            (0, Pool::Testing)
        );
        // Through every stage at once.
        let star = Counts {
            impressions: 40_000,
            completes: 30_000,
            likes: 8_000,
            shares: 800,
            ..Default::default()
        };
        assert_eq!(
            advance(&cfg, 0, Pool::Testing, &star, prior),
            (2, Pool::Graduated)
        );
    }

    #[test]
    fn not_interested_costs_more_than_a_like_earns() {
        let cfg = RankConfig::default();
        let priors = Priors::default();
        let base = Counts {
            impressions: 1000,
            completes: 400,
            likes: 50,
            ..Default::default()
        };
        let hated = Counts {
            not_interested: 100,
            likes: 60,
            ..base
        };
        let v = Viewer::default();
        let (a, b) = (clip("a", base), clip("b", hated));
        let a = score(&cfg, &priors, &a, key(&a.creator), &v, 0.0, 0);
        let b = score(&cfg, &priors, &b, key(&b.creator), &v, 0.0, 0);
        assert!(a.total > b.total, "{a:?} {b:?}");
    }

    #[test]
    fn fatigue_filters_then_recovers() {
        let cfg = RankConfig::default();
        let day = DAY_MS as i64;
        assert_eq!(fatigue(&cfg, None, 0), 1.0);
        assert_eq!(fatigue(&cfg, Some(0), 13 * day), 0.0);
        assert!((fatigue(&cfg, Some(0), 14 * day) - 0.2).abs() < 1e-9);
        assert!((fatigue(&cfg, Some(0), 21 * day) - 0.6).abs() < 1e-9);
        assert_eq!(fatigue(&cfg, Some(0), 40 * day), 1.0);
        let mut v = Viewer::default();
        let c = clip("a", Counts::default());
        v.muted.insert(key(&c.creator), 0);
        let s = score(&cfg, &Priors::default(), &c, key(&c.creator), &v, 0.0, day);
        assert_eq!(s.total, f64::NEG_INFINITY);
    }

    #[test]
    fn affinity_and_freshness_move_the_score() {
        let cfg = RankConfig::default();
        let priors = Priors::default();
        let c = clip("a", Counts::default());
        let mut fan = Viewer::default();
        let creator = key(&c.creator);
        fan.creators.insert(creator, 3.0);
        let plain = score(&cfg, &priors, &c, creator, &Viewer::default(), 0.0, 0);
        let loved = score(&cfg, &priors, &c, creator, &fan, 0.0, 0);
        assert!(loved.total > plain.total);
        let old = score(
            &cfg,
            &priors,
            &c,
            creator,
            &Viewer::default(),
            0.0,
            30 * DAY_MS as i64,
        );
        assert!(old.total < plain.total);
        assert!((old.freshness - cfg.freshness_floor).abs() < 0.01);
    }

    #[test]
    fn the_trend_counter_halves_per_half_life_and_survives_epochs() {
        let cfg = RankConfig::default();
        let t = Trend::new(&cfg);
        let h = (cfg.trend_half_life_hours * HOUR_MS) as i64;
        let at = 5 * h;
        let e = t.epoch(at);
        let sum = t.weight(1.0, at, e) + t.weight(1.0, at, e);
        assert!((t.value(sum, e, at) - 2.0).abs() < 1e-9);
        assert!((t.value(sum, e, at + h) - 1.0).abs() < 1e-9);
        // Carried into the next epoch, the value is unchanged.
        let next = t.epoch(at) + 1;
        let now = next * t.epoch_ms + h;
        let carried = sum * t.carry();
        assert!((t.value(carried, next, now) / t.value(sum, e, now) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn page_rules_hold() {
        let cfg = RankConfig::default();
        // Creator "a" has the five best clips; "b" and "c" follow.
        let mut organic: Vec<Scored> = (0..5)
            .map(|i| scored(i, "a", 10.0 - i as f64, false))
            .collect();
        organic.extend((5..8).map(|i| scored(i, "b", 3.0, false)));
        organic.extend((8..11).map(|i| scored(i, "c", 2.0, true)));
        let pool = vec![scored(20, "p", 0.1, false), scored(21, "q", 0.1, false)];
        let mut state = PageState::default();
        let page = select(&cfg, organic, pool, &mut state, 10);
        assert_eq!(page.len(), 10);
        for w in page.windows(2) {
            assert_ne!(
                w[0].scored.creator, w[1].scored.creator,
                "same creator twice in a row"
            );
        }
        // Slot 4 and 8 (positions 3 and 7) go to the pool.
        assert_eq!(page[3].scored.clip, 20);
        assert_eq!(page[7].scored.clip, 21);
        // At most one commerce clip in any 3 consecutive items.
        for w in page.windows(3) {
            assert!(w.iter().filter(|p| p.scored.commerce).count() <= 1);
        }
        // Author diversity: the second clip of "a" is discounted.
        let second_a = page
            .iter()
            .filter(|p| p.scored.creator == "a")
            .nth(1)
            .unwrap();
        assert!(second_a
            .rules
            .iter()
            .any(|r| r.starts_with("author_diversity")));
        assert_eq!(state.position, 10);
        // Nothing repeats.
        let mut ids: Vec<_> = page.iter().map(|p| p.scored.clip).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
    }

    #[test]
    fn the_cadence_carries_across_pages() {
        let cfg = RankConfig::default();
        let mut state = PageState {
            position: 2,
            last_creator: Some("a".into()),
            since_commerce: Some(0),
        };
        let organic = vec![
            scored(0, "a", 9.0, false),
            scored(1, "b", 8.0, true),
            scored(2, "c", 1.0, false),
        ];
        let page = select(&cfg, organic, Vec::new(), &mut state, 2);
        // "a" may not follow "a"; the commerce clip must wait a slot.
        assert_eq!(page[0].scored.clip, 2);
        assert_eq!(page[1].scored.clip, 0);
    }
}
