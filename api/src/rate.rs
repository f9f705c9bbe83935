//! Request budgets: how often one client may ask for each kind of thing.
//!
//! Every request is charged to one [`Budget`] (sign-in, uploads, events, orders, other writes,
//! reads, media) and one [`Client`]: the signed-in account, else the client's address. The
//! budgets are GCRA token buckets (`governor`) held in this process — an approximation across
//! several API processes, which is fine for floods. What must hold across processes is counted
//! in the database instead: failed sign-ins (`vitrine_identity::throttle`) and orders per hour
//! (`vitrine_shop`).
//!
//! Answers carry the IETF `RateLimit-Policy` and `RateLimit` headers
//! (draft-ietf-httpapi-ratelimit-headers); a refusal is 429 `rate_limited` with `Retry-After`.

use std::{collections::HashMap, net::IpAddr, num::NonZeroU32, time::Duration};

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use governor::{
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
    Quota, RateLimiter,
};
use serde::{Deserialize, Serialize};
use vitrine_core::ids::AccountId;

use crate::error::ApiError;

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Sign-up, sign-in, anonymous sessions, reset and verification mail: per address.
    SignIn,
    /// Starting an upload (video or product image).
    Uploads,
    /// `POST /v1/events` requests.
    Events,
    /// Individual events inside those requests (a batch of 100 spends 100).
    EventItems,
    /// Placing and paying orders.
    Orders,
    /// Every other change.
    Writes,
    /// Every other API read.
    Reads,
    /// Media objects served by the API itself (`/media/…`): per address.
    Media,
}

impl Budget {
    pub fn name(self) -> &'static str {
        match self {
            Budget::SignIn => "sign_in",
            Budget::Uploads => "uploads",
            Budget::Events => "events",
            Budget::EventItems => "event_items",
            Budget::Orders => "orders",
            Budget::Writes => "writes",
            Budget::Reads => "reads",
            Budget::Media => "media",
        }
    }

    const ALL: [Budget; 8] = [
        Budget::SignIn,
        Budget::Uploads,
        Budget::Events,
        Budget::EventItems,
        Budget::Orders,
        Budget::Writes,
        Budget::Reads,
        Budget::Media,
    ];
}

/// One budget's rate: `per_minute` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    const fn new(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).expect("at least 1");
        let period = Duration::from_secs(60) / self.per_minute.max(1);
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .expect("a positive period")
            .allow_burst(burst)
    }

    /// Seconds for an empty bucket to fill again (the policy's window).
    fn window_secs(self) -> u64 {
        (u64::from(self.burst) * 60).div_ceil(u64::from(self.per_minute.max(1)))
    }
}

/// The `rate_limits` settings (`VITRINE_RATE_LIMITS='{reads={per_minute=600,burst=200}}'` or
/// the `[server.rate_limits]` section of the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Off only for load benchmarks that drive one account at thousands of requests a second.
    pub enabled: bool,
    pub sign_in: Rate,
    pub uploads: Rate,
    pub events: Rate,
    pub event_items: Rate,
    pub orders: Rate,
    pub writes: Rate,
    pub reads: Rate,
    pub media: Rate,
    /// Orders one account may place in an hour, counted in the database (so across every API
    /// process).
    pub orders_per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            sign_in: Rate::new(30, 30),
            uploads: Rate::new(30, 20),
            events: Rate::new(300, 100),
            event_items: Rate::new(1_200, 1_000),
            orders: Rate::new(20, 10),
            writes: Rate::new(300, 100),
            reads: Rate::new(1_200, 300),
            media: Rate::new(6_000, 2_000),
            orders_per_hour: 60,
        }
    }
}

impl RateLimitConfig {
    fn rate(&self, budget: Budget) -> Rate {
        match budget {
            Budget::SignIn => self.sign_in,
            Budget::Uploads => self.uploads,
            Budget::Events => self.events,
            Budget::EventItems => self.event_items,
            Budget::Orders => self.orders,
            Budget::Writes => self.writes,
            Budget::Reads => self.reads,
            Budget::Media => self.media,
        }
    }
}

/// Who is charged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    Account(AccountId),
    Address(IpAddr),
}

type Keyed =
    RateLimiter<Client, DefaultKeyedStateStore<Client>, DefaultClock, StateInformationMiddleware>;

/// Every budget's buckets, one per client.
pub struct RateLimits {
    config: RateLimitConfig,
    limiters: HashMap<Budget, Keyed>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The outcome of charging a request, with what the headers say.
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    pub budget: Budget,
    pub rate: Rate,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the budget is whole again, or (when refused) until one more fits.
    pub reset_secs: u64,
    pub allowed: bool,
}

impl RateLimits {
    pub fn new(config: RateLimitConfig) -> RateLimits {
        let limiters = Budget::ALL
            .into_iter()
            .map(|b| {
                let limiter = RateLimiter::dashmap(config.rate(b).quota())
                    .with_middleware::<StateInformationMiddleware>();
                (b, limiter)
            })
            .collect();
        RateLimits {
            config,
            limiters,
            clock: DefaultClock::default(),
        }
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Charges `cost` units of `budget` to `client`; `None` when limits are off.
    pub fn charge(&self, budget: Budget, client: &Client, cost: u32) -> Option<Charge> {
        if !self.config.enabled {
            return None;
        }
        let rate = self.config.rate(budget);
        let limiter = &self.limiters[&budget];
        let cost = NonZeroU32::new(cost.clamp(1, rate.burst.max(1))).expect("at least 1");
        let per_unit = 60f64 / f64::from(rate.per_minute.max(1));
        Some(match limiter.check_key_n(client, cost) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                Charge {
                    budget,
                    rate,
                    remaining,
                    reset_secs: (f64::from(rate.burst.saturating_sub(remaining)) * per_unit).ceil()
                        as u64,
                    allowed: true,
                }
            }
            Ok(Err(not_until)) => Charge {
                budget,
                rate,
                remaining: 0,
                reset_secs: not_until
                    .wait_time_from(self.clock.now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64,
                allowed: false,
            },
            // `cost` is clamped to the burst, so it always fits an empty bucket.
            Err(_) => Charge {
                budget,
                rate,
                remaining: 0,
                reset_secs: rate.window_secs(),
                allowed: false,
            },
        })
    }

    /// Forgets clients whose buckets are full again (call now and then: memory stays bounded by
    /// the clients of the last few minutes).
    pub fn forget_idle(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl Charge {
    /// The `RateLimit-Policy` and `RateLimit` headers.
    /// Adds this charge's `RateLimit-Policy` and `RateLimit` headers, unless the answer already
    /// carries a narrower budget's (a handler's own charge, such as events per viewer).
    pub fn headers(&self, headers: &mut HeaderMap) {
        if headers.contains_key("ratelimit") {
            return;
        }
        let name = self.budget.name();
        let policy = format!(
            "\"{name}\";q={};w={}",
            self.rate.burst,
            self.rate.window_secs()
        );
        let state = format!("\"{name}\";r={};t={}", self.remaining, self.reset_secs);
        if let Ok(v) = HeaderValue::from_str(&policy) {
            headers.insert("ratelimit-policy", v);
        }
        if let Ok(v) = HeaderValue::from_str(&state) {
            headers.insert("ratelimit", v);
        }
    }

    /// The 429 answer to a refused charge.
    pub fn refusal(&self) -> Response {
        let what = match self.budget {
            Budget::SignIn => "sign-in requests from this address",
            Budget::Uploads => "uploads",
            Budget::Events => "event requests",
            Budget::EventItems => "events",
            Budget::Orders => "orders",
            Budget::Writes => "changes",
            Budget::Reads => "requests",
            Budget::Media => "media requests from this address",
        };
        too_many(
            format!("too many {what}; retry in {} s", self.reset_secs),
            self.reset_secs,
            |h| self.headers(h),
        )
    }
}

/// 429 `rate_limited` with `Retry-After: secs`.
pub fn too_many(message: String, secs: u64, headers: impl FnOnce(&mut HeaderMap)) -> Response {
    let mut response = ApiError::status(
        StatusCode::TOO_MANY_REQUESTS,
        crate::codes::RATE_LIMITED,
        message,
    )
    .into_response();
    headers(response.headers_mut());
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from(secs.max(1)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_with_a_wait() {
        let limits = RateLimits::new(RateLimitConfig {
            reads: Rate::new(60, 3),
            ..RateLimitConfig::default()
        });
        let me = Client::Address("127.0.0.1".parse().unwrap());
        let other = Client::Address("127.0.0.2".parse().unwrap());
        let remaining: Vec<u32> = (0..3)
            .map(|_| limits.charge(Budget::Reads, &me, 1).unwrap())
            .inspect(|c| assert!(c.allowed))
            .map(|c| c.remaining)
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = limits.charge(Budget::Reads, &me, 1).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.reset_secs, 1, "one a second refills");
        assert!(limits.charge(Budget::Reads, &other, 1).unwrap().allowed);
        assert!(
            limits.charge(Budget::Writes, &me, 1).unwrap().allowed,
            "budgets are separate"
        );
    }

    #[test]
    fn a_batch_spends_its_size_and_never_more_than_the_burst() {
        let limits = RateLimits::new(RateLimitConfig {
            event_items: Rate::new(600, 100),
            ..RateLimitConfig::default()
        });
        let me = Client::Address("10.0.0.1".parse().unwrap());
        assert_eq!(
            limits
                .charge(Budget::EventItems, &me, 60)
                .unwrap()
                .remaining,
            40
        );
        assert!(!limits.charge(Budget::EventItems, &me, 60).unwrap().allowed);
        let huge = limits.charge(
            Budget::EventItems,
            &Client::Address("10.0.0.2".parse().unwrap()),
            5_000,
        );
        assert!(
            huge.unwrap().allowed,
            "a batch larger than the burst costs the burst"
        );
    }

    #[test]
    fn off_charges_nothing() {
        let limits = RateLimits::new(RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        });
        let me = Client::Address("127.0.0.1".parse().unwrap());
        assert!(limits.charge(Budget::SignIn, &me, 1).is_none());
    }
}
