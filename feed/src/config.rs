//! The ranker's knobs: action weights, priors, traffic-pool stages, rules and candidate sources.
//! Every field has a default; operators override them in the `[feed]` section of the
//! configuration file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankConfig {
    /// Value of each predicted action (Douyin's "Σ P(action) × value"). Negative weights push
    /// down clips viewers reject.
    pub weights: Weights,
    /// How many impressions' worth of the prior a clip's own counts must outweigh (Bayesian
    /// smoothing: with 3 views a clip is still mostly its duration band's average).
    pub prior_strength: f64,
    /// How many impressions' worth of the clip's rates a viewer's own record with its creator
    /// must outweigh (someone who finished 4 of a creator's 5 clips will likely finish the 6th).
    pub viewer_prior_strength: f64,
    /// Weight of the commerce term: expected GMV per impression in major currency units
    /// (click-through × conversion × price, corrected by what the clip sold: see
    /// `gpm_prior_impressions`).
    pub commerce_weight: f64,
    /// How many impressions' worth of the predicted GMV per impression a clip's own sales (the
    /// shop's attributed GMV) must outweigh: sales are rare and lumpy, so one order on a clip
    /// seen twice does not make it a best-seller.
    pub gpm_prior_impressions: f64,
    /// Prices and sales in every currency are compared in one reference currency: each
    /// currency's value in it, per major unit (`{ USD = 1.0, EUR = 1.08, … }`; the minor-unit
    /// digits come from ISO 4217). A currency missing here earns no commerce term: set your
    /// own rates.
    pub currency_rates: BTreeMap<String, f64>,
    /// The price term counts a product's price up to this much (in the reference currency): a
    /// very dear product cannot buy the commerce slot on its price alone.
    pub max_commerce_price: f64,
    /// How much the viewer's affinity to a clip's creator, its products' categories and its
    /// co-engagement with what they liked can raise its score (each term saturates at this).
    pub affinity: AffinityWeights,
    /// Freshness: a clip's score decays towards `freshness_floor` of itself with this half-life.
    pub freshness_half_life_hours: f64,
    pub freshness_floor: f64,
    /// Half-life of viewers' affinities.
    pub affinity_half_life_days: f64,
    /// Half-life of the "popular now" trend counter.
    pub trend_half_life_hours: f64,
    /// Staged traffic pools: a new clip gets `stages[0].impressions`; if it meets that stage's
    /// thresholds it gets the next stage's, otherwise it stops being pushed. After the last
    /// stage it competes on its score alone.
    pub stages: Vec<Stage>,
    /// One slot in this many goes to a clip in a traffic pool (when one is available).
    pub pool_every: usize,
    /// A viewer does not see a clip again within this many days.
    pub seen_window_days: f64,
    /// After "not interested" on a creator: filtered for this many days…
    pub fatigue_filter_days: f64,
    /// …then discounted from `fatigue_floor` back to 1 over this many days.
    pub fatigue_recovery_days: f64,
    pub fatigue_floor: f64,
    /// Author diversity within a page: the k-th further clip of one creator is multiplied by
    /// `author_decay^k`, never below `author_floor`.
    pub author_decay: f64,
    pub author_floor: f64,
    /// At most one commerce clip in every this many items.
    pub commerce_every: usize,
    pub sources: Sources,
    /// Memory each API process may spend keeping viewers' states between their pages, in MiB
    /// (a viewer with a month of history takes about 6 KiB).
    pub viewer_cache_mb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub complete: f64,
    pub watch: f64,
    pub like: f64,
    pub share: f64,
    pub comment: f64,
    pub follow: f64,
    pub product_click: f64,
    pub not_interested: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffinityWeights {
    pub creator: f64,
    pub category: f64,
    pub co_engagement: f64,
}

/// One traffic-pool stage: how many impressions it grants, and the posterior rates a clip needs
/// at its end to move on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub impressions: i64,
    #[serde(default)]
    pub min_completion: f64,
    #[serde(default)]
    pub min_like: f64,
    #[serde(default)]
    pub min_share: f64,
}

/// Candidate sources and how many clips each may propose per request (0 turns one off).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sources {
    pub traffic_pool: usize,
    pub popular: usize,
    pub followed: usize,
    pub co_engagement: usize,
    pub commerce: usize,
    /// Best-scored clips overall, so a feed never runs dry while unseen clips remain.
    pub top: usize,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            weights: Weights::default(),
            prior_strength: 2.0,
            viewer_prior_strength: 3.0,
            commerce_weight: 0.5,
            gpm_prior_impressions: 1000.0,
            currency_rates: default_rates(),
            max_commerce_price: 200.0,
            affinity: AffinityWeights::default(),
            freshness_half_life_hours: 72.0,
            freshness_floor: 0.5,
            affinity_half_life_days: 14.0,
            trend_half_life_hours: 6.0,
            stages: vec![
                Stage {
                    impressions: 300,
                    min_completion: 0.30,
                    min_like: 0.03,
                    min_share: 0.0,
                },
                Stage {
                    impressions: 3_000,
                    min_completion: 0.35,
                    min_like: 0.04,
                    min_share: 0.002,
                },
                Stage {
                    impressions: 30_000,
                    min_completion: 0.40,
                    min_like: 0.05,
                    min_share: 0.004,
                },
            ],
            pool_every: 4,
            seen_window_days: 30.0,
            fatigue_filter_days: 14.0,
            fatigue_recovery_days: 14.0,
            fatigue_floor: 0.2,
            author_decay: 0.5,
            author_floor: 0.25,
            commerce_every: 3,
            sources: Sources::default(),
            viewer_cache_mb: 128,
        }
    }
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            complete: 1.0,
            watch: 0.5,
            like: 2.0,
            share: 4.0,
            comment: 2.0,
            follow: 4.0,
            product_click: 2.0,
            not_interested: -8.0,
        }
    }
}

impl Default for AffinityWeights {
    fn default() -> Self {
        AffinityWeights {
            creator: 1.0,
            category: 0.5,
            co_engagement: 0.5,
        }
    }
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            traffic_pool: 20,
            popular: 100,
            followed: 60,
            co_engagement: 100,
            commerce: 40,
            top: 200,
        }
    }
}

/// Rough values of common currencies in US dollars (late 2026): a default that keeps one
/// currency's prices from dwarfing another's, not an exchange service.
fn default_rates() -> BTreeMap<String, f64> {
    [
        ("USD", 1.0),
        ("EUR", 1.08),
        ("GBP", 1.27),
        ("CHF", 1.13),
        ("CAD", 0.73),
        ("AUD", 0.66),
        ("NZD", 0.60),
        ("JPY", 0.0066),
        ("CNY", 0.14),
        ("HKD", 0.128),
        ("SGD", 0.74),
        ("KRW", 0.00072),
        ("INR", 0.012),
        ("IDR", 0.000063),
        ("VND", 0.00004),
        ("THB", 0.029),
        ("MYR", 0.22),
        ("PHP", 0.017),
        ("BRL", 0.18),
        ("MXN", 0.055),
        ("SEK", 0.095),
        ("NOK", 0.093),
        ("DKK", 0.145),
        ("PLN", 0.25),
        ("TRY", 0.029),
        ("AED", 0.27),
        ("SAR", 0.27),
        ("ZAR", 0.055),
        ("KWD", 3.25),
    ]
    .into_iter()
    .map(|(code, rate)| (code.to_owned(), rate))
    .collect()
}

impl RankConfig {
    /// `amount_minor` of `currency` in major units of the reference currency: its ISO 4217
    /// minor-unit digits, then its rate. `None` for a currency without a rate.
    pub fn in_reference(&self, amount_minor: i64, currency: &str) -> Option<f64> {
        let rate = *self.currency_rates.get(currency)?;
        let digits = vitrine_core::money::minor_digits(currency);
        Some(amount_minor as f64 / 10f64.powi(digits as i32) * rate)
    }

    /// Refuses settings that would make the ranker misbehave rather than merely rank badly.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("prior_strength", self.prior_strength),
            ("viewer_prior_strength", self.viewer_prior_strength),
            ("gpm_prior_impressions", self.gpm_prior_impressions),
            ("max_commerce_price", self.max_commerce_price),
            ("freshness_half_life_hours", self.freshness_half_life_hours),
            ("affinity_half_life_days", self.affinity_half_life_days),
            ("trend_half_life_hours", self.trend_half_life_hours),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("feed.{name} must be a positive number"));
            }
        }
        for (name, value) in [
            ("freshness_floor", self.freshness_floor),
            ("fatigue_floor", self.fatigue_floor),
            ("author_decay", self.author_decay),
            ("author_floor", self.author_floor),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("feed.{name} must be between 0 and 1"));
            }
        }
        if let Some((code, _)) = self
            .currency_rates
            .iter()
            .find(|(_, &rate)| !(rate.is_finite() && rate > 0.0))
        {
            return Err(format!(
                "feed.currency_rates.{code} must be a positive number"
            ));
        }
        if self.pool_every < 1 || self.commerce_every < 1 {
            return Err("feed.pool_every and feed.commerce_every must be at least 1".into());
        }
        if self.stages.iter().any(|s| s.impressions < 1) {
            return Err("every feed.stages entry needs impressions ≥ 1".into());
        }
        Ok(())
    }

    /// Impressions a clip has had when stage `stage` ends (the stages' grants add up).
    pub fn stage_end(&self, stage: usize) -> Option<i64> {
        (stage < self.stages.len()).then(|| {
            self.stages[..=stage]
                .iter()
                .map(|s| s.impressions)
                .sum::<i64>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_compared_in_one_currency_with_each_ones_minor_digits() {
        let cfg = RankConfig::default();
        assert_eq!(cfg.in_reference(1_999, "USD"), Some(19.99));
        // Yen have no minor unit, dinars three.
        let yen = cfg.in_reference(1_000, "JPY").unwrap();
        assert!((yen - 6.6).abs() < 1e-9, "{yen}");
        let dinar = cfg.in_reference(1_000, "KWD").unwrap();
        assert!((dinar - 3.25).abs() < 1e-9, "{dinar}");
        assert_eq!(cfg.in_reference(1_000, "XXX"), None, "no rate, no term");
    }

    #[test]
    fn a_rate_that_is_not_positive_is_refused() {
        let mut cfg = RankConfig::default();
        cfg.currency_rates.insert("EUR".into(), 0.0);
        assert!(cfg.validate().unwrap_err().contains("currency_rates.EUR"));
        let cfg = RankConfig {
            max_commerce_price: -1.0,
            ..RankConfig::default()
        };
        assert!(cfg.validate().is_err());
    }
}
