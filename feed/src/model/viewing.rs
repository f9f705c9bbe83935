//! What one viewer's events change, worked out without I/O: their history with each clip
//! ([`Seen`]), each clip's counts (a viewer counts once per action: a second like is not a
//! second like), the trend, the viewer's affinities to creators and categories, mutes and
//! follows. `store::apply` reads the viewer's rows, calls [`fold`], and writes what it returns.

use std::collections::HashMap;

use super::{Counts, Trend};

/// One accepted event, with what the ranker needs to know about its clip.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub video: String,
    pub creator: String,
    pub duration_ms: Option<i64>,
    pub kind: String,
    /// `not_interested` in the creator rather than in this clip.
    pub creator_scope: bool,
    pub at: i64,
    pub watch_ms: Option<i64>,
}

/// A viewer's history with one clip.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub creator: String,
    pub seen_at: Option<i64>,
    pub watch_ratio: f64,
    pub completed: bool,
    pub liked: bool,
    pub shared: bool,
    pub commented: bool,
    pub followed: bool,
    pub not_interested: bool,
    pub clicked: bool,
    pub positive_at: Option<i64>,
    pub last_at: i64,
}

/// How much one action moves the viewer's affinity to the clip's creator and categories, and
/// the clip's trend.
pub fn affinity_delta(kind: &str) -> (f64, f64, f64) {
    match kind {
        "complete" => (0.5, 0.5, 1.0),
        "replay" => (0.5, 0.5, 1.0),
        "like" => (1.0, 1.0, 2.0),
        "unlike" => (-1.0, -1.0, 0.0),
        "share" => (2.0, 1.0, 3.0),
        "comment" => (1.0, 0.5, 2.0),
        "follow" => (3.0, 0.0, 3.0),
        "product_click" => (0.5, 2.0, 1.0),
        "purchase" => (1.0, 4.0, 2.0),
        "not_interested" => (-2.0, -1.0, 0.0),
        _ => (0.0, 0.0, 0.0),
    }
}

/// What a batch changes beyond the viewer's [`Seen`] rows.
#[derive(Debug, Default)]
pub struct Effects<'a> {
    /// Per clip: what to add to its counts, and to its trend.
    pub deltas: HashMap<&'a str, (Counts, f64)>,
    /// Per (`creator` | `category`, key): affinity changes with their times, in order
    /// (`NEG_INFINITY`: reset to zero, when the viewer mutes a creator).
    pub affinity: HashMap<(&'static str, String), Vec<(f64, i64)>>,
    /// Creators muted (`not_interested` in the creator), with when.
    pub muted: Vec<(&'a str, i64)>,
    /// Creators followed, with when.
    pub followed: Vec<(&'a str, i64)>,
}

/// Applies `events` (in time order) to the viewer's history `seen` and returns what else they
/// change. `categories`: the product categories of each clip's visible tags.
pub fn fold<'a>(
    seen: &mut HashMap<String, Seen>,
    events: &'a [Incoming],
    categories: &HashMap<String, Vec<String>>,
    trend: &Trend,
    epoch: i64,
) -> Effects<'a> {
    let mut deltas: HashMap<&str, (Counts, f64)> = HashMap::new();
    let mut affinity: HashMap<(&'static str, String), Vec<(f64, i64)>> = HashMap::new();
    let mut muted: Vec<(&str, i64)> = Vec::new();
    let mut followed: Vec<(&str, i64)> = Vec::new();

    let mut ordered: Vec<&Incoming> = events.iter().collect();
    ordered.sort_by_key(|e| e.at);
    for e in ordered {
        let row = seen.entry(e.video.clone()).or_insert_with(|| Seen {
            creator: e.creator.clone(),
            ..Default::default()
        });
        let (delta, trend_delta) = deltas.entry(e.video.as_str()).or_default();
        row.last_at = row.last_at.max(e.at);
        let viewing = matches!(
            e.kind.as_str(),
            "impression" | "play" | "progress" | "complete" | "replay"
        );
        if viewing && row.seen_at.is_none() {
            row.seen_at = Some(e.at);
            delta.impressions += 1;
        }
        if let (Some(watch), Some(duration)) = (e.watch_ms, e.duration_ms.filter(|d| *d > 0)) {
            let ratio = (watch.max(0) as f64 / duration as f64).min(1.0);
            if ratio > row.watch_ratio {
                if row.watch_ratio == 0.0 {
                    delta.watched += 1;
                }
                delta.watch_sum += ratio - row.watch_ratio;
                row.watch_ratio = ratio;
            }
        }
        let mut positive = false;
        let once = |flag: &mut bool, count: &mut i64| {
            if *flag {
                false
            } else {
                *flag = true;
                *count += 1;
                true
            }
        };
        let counted = match e.kind.as_str() {
            "complete" => {
                if row.watch_ratio < 1.0 {
                    if row.watch_ratio == 0.0 {
                        delta.watched += 1;
                    }
                    delta.watch_sum += 1.0 - row.watch_ratio;
                    row.watch_ratio = 1.0;
                }
                positive = true;
                once(&mut row.completed, &mut delta.completes)
            }
            "replay" => {
                positive = true;
                true
            }
            "like" => {
                positive = true;
                once(&mut row.liked, &mut delta.likes)
            }
            "unlike" => {
                let was = row.liked;
                if was {
                    row.liked = false;
                    delta.likes -= 1;
                }
                was
            }
            "share" => {
                positive = true;
                once(&mut row.shared, &mut delta.shares)
            }
            "comment" => {
                positive = true;
                once(&mut row.commented, &mut delta.comments)
            }
            "follow" => {
                followed.push((e.creator.as_str(), e.at));
                once(&mut row.followed, &mut delta.follows)
            }
            "product_click" => {
                positive = true;
                once(&mut row.clicked, &mut delta.product_clicks)
            }
            "purchase" => true,
            "not_interested" => {
                if e.creator_scope {
                    muted.push((e.creator.as_str(), e.at));
                }
                once(&mut row.not_interested, &mut delta.not_interested)
            }
            _ => false,
        };
        if positive {
            row.positive_at = Some(row.positive_at.unwrap_or(0).max(e.at));
        }
        if counted {
            let (creator, category, trend_weight) = affinity_delta(&e.kind);
            *trend_delta += trend.weight(trend_weight, e.at, epoch);
            if creator != 0.0 {
                affinity
                    .entry(("creator", e.creator.clone()))
                    .or_default()
                    .push((creator, e.at));
            }
            for k in categories.get(&e.video).into_iter().flatten() {
                affinity
                    .entry(("category", k.clone()))
                    .or_default()
                    .push((category, e.at));
            }
        }
        if e.kind == "not_interested" && e.creator_scope {
            // Muting a creator resets what the viewer felt for them.
            affinity
                .entry(("creator", e.creator.clone()))
                .or_default()
                .push((f64::NEG_INFINITY, e.at));
        }
    }

    Effects {
        deltas,
        affinity,
        muted,
        followed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RankConfig;

    fn event(kind: &str, at: i64) -> Incoming {
        Incoming {
            video: "vid_a".into(),
            creator: "acc_c".into(),
            duration_ms: Some(10_000),
            kind: kind.into(),
            creator_scope: false,
            at,
            watch_ms: None,
        }
    }

    fn run(seen: &mut HashMap<String, Seen>, events: &[Incoming]) -> Counts {
        let trend = Trend::new(&RankConfig::default());
        let effects = fold(seen, events, &HashMap::new(), &trend, 0);
        effects.deltas.get("vid_a").map(|d| d.0).unwrap_or_default()
    }

    #[test]
    fn a_viewer_counts_once_per_action_however_often_they_repeat_it() {
        let mut seen = HashMap::new();
        let counts = run(
            &mut seen,
            &[
                event("impression", 1),
                event("play", 2),
                event("like", 3),
                event("like", 4),
            ],
        );
        assert_eq!((counts.impressions, counts.likes), (1, 1));
        // A later batch: the viewer's history remembers both.
        let counts = run(&mut seen, &[event("impression", 5), event("like", 6)]);
        assert_eq!((counts.impressions, counts.likes), (0, 0));
    }

    #[test]
    fn an_unlike_takes_back_only_a_like_that_was_there() {
        let mut seen = HashMap::new();
        assert_eq!(run(&mut seen, &[event("unlike", 1)]).likes, 0);
        let counts = run(&mut seen, &[event("like", 2), event("unlike", 3)]);
        assert_eq!(counts.likes, 0);
        assert!(!seen["vid_a"].liked);
    }

    #[test]
    fn events_apply_in_time_order_whatever_order_they_arrive_in() {
        let mut seen = HashMap::new();
        // The unlike happened after the like, though it arrived first.
        run(&mut seen, &[event("unlike", 9), event("like", 3)]);
        assert!(!seen["vid_a"].liked);
        assert_eq!(seen["vid_a"].last_at, 9);
    }

    #[test]
    fn watching_more_raises_the_ratio_and_watching_less_changes_nothing() {
        let mut seen = HashMap::new();
        let progress = |watch_ms, at| Incoming {
            watch_ms: Some(watch_ms),
            ..event("progress", at)
        };
        let counts = run(&mut seen, &[progress(5_000, 1), progress(2_000, 2)]);
        assert_eq!(counts.watched, 1);
        assert!((counts.watch_sum - 0.5).abs() < 1e-9);
        let counts = run(&mut seen, &[event("complete", 3)]);
        assert_eq!((counts.watched, counts.completes), (0, 1));
        assert!((counts.watch_sum - 0.5).abs() < 1e-9);
        assert_eq!(seen["vid_a"].watch_ratio, 1.0);
    }

    #[test]
    fn muting_a_creator_resets_what_the_viewer_felt_for_them() {
        let mut seen = HashMap::new();
        let trend = Trend::new(&RankConfig::default());
        let events = [
            event("like", 1),
            Incoming {
                creator_scope: true,
                ..event("not_interested", 2)
            },
        ];
        let effects = fold(&mut seen, &events, &HashMap::new(), &trend, 0);
        assert_eq!(effects.muted, vec![("acc_c", 2)]);
        let creator = &effects.affinity[&("creator", "acc_c".to_owned())];
        assert_eq!(creator.last(), Some(&(f64::NEG_INFINITY, 2)));
    }
}
