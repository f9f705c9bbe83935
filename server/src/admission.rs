//! What every request passes before a handler sees it, cheapest first:
//!
//! 1. the in-flight cap: past `max_in_flight` requests being answered, 503 `overloaded` with
//!    `Retry-After` at once (load shedding: queueing would only make every answer late);
//! 2. the client's address (from `X-Forwarded-For` only when the peer is a trusted proxy);
//! 3. its budget (`vitrine_api::rate`): charged to the signed-in account, else the address;
//! 4. a deadline: `request_timeout`, or `upload_timeout` for uploads and media; 503 `timeout`.
//!
//! `/healthz` and `/metrics` skip all of it: a load balancer must see an overloaded process as
//! alive.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State},
    http::{header::RETRY_AFTER, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;
use vitrine_api::{
    extract::{ClientAddr, MaybeCaller},
    rate::{Budget, Client},
    ApiError, AppState,
};

/// The per-request settings.
#[derive(Debug, Clone)]
pub struct Policy {
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
    pub max_in_flight: usize,
    pub trusted_proxies: Vec<IpAddr>,
}

/// The middleware's state.
#[derive(Clone)]
pub struct Admission {
    app: AppState,
    policy: Arc<Policy>,
    in_flight: Arc<Semaphore>,
}

impl Admission {
    pub fn new(app: AppState, policy: Policy) -> Admission {
        Admission {
            in_flight: Arc::new(Semaphore::new(policy.max_in_flight)),
            app,
            policy: Arc::new(policy),
        }
    }
}

pub async fn admit(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let path = route.as_str();
    if matches!(path, "/healthz" | "/metrics") {
        return next.run(request).await;
    }
    let Ok(_permit) = admission.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("vitrine_requests_shed_total").increment(1);
        return unavailable("overloaded", "the server is at capacity; retry in a moment");
    };
    let (mut parts, body) = request.into_parts();
    let address = client_address(&parts, &admission.policy.trusted_proxies);
    parts.extensions.insert(ClientAddr(address));
    let class = classify(&parts.method, path);
    let mut charge = None;
    if let Some(budget) = class.budget {
        let by_address = Client::Address(budget_address(address));
        let client = match budget {
            Budget::SignIn | Budget::Media => by_address,
            _ => match MaybeCaller::from_request_parts(&mut parts, &admission.app).await {
                // An anonymous viewer's session is free to make: its requests count against
                // the address, or every new session would bring a fresh budget.
                Ok(MaybeCaller(Some(caller))) if !caller.account().anonymous => {
                    Client::Account(caller.id().clone())
                }
                // Anonymous, or credentials the handler will refuse with the reason.
                _ => by_address,
            },
        };
        charge = admission.app.rate.charge(budget, &client, 1);
        if let Some(refused) = charge.filter(|c| !c.allowed) {
            metrics::counter!("vitrine_rate_limited_total", "budget" => budget.name()).increment(1);
            return refused.refusal();
        }
    }
    let deadline = if class.long {
        admission.policy.upload_timeout
    } else {
        admission.policy.request_timeout
    };
    let request = Request::from_parts(parts, body);
    let mut response = match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("vitrine_requests_timed_out_total").increment(1);
            unavailable(
                "timeout",
                &format!(
                    "the answer took longer than {} s; retry in a moment",
                    deadline.as_secs()
                ),
            )
        }
    };
    if let Some(charge) = charge {
        charge.headers(response.headers_mut());
    }
    response
}

/// How a request is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Class {
    budget: Option<Budget>,
    /// Large bodies either way: the upload deadline.
    long: bool,
}

fn classify(method: &Method, route: &str) -> Class {
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let short = |budget| Class {
        budget: Some(budget),
        long: false,
    };
    let long = |budget| Class { budget, long: true };
    if route.starts_with("/media/") {
        return long(Some(Budget::Media));
    }
    if !route.starts_with("/v1/") {
        // The pages, their assets, the OpenAPI document: static and cheap.
        return Class {
            budget: None,
            long: false,
        };
    }
    match (write, route) {
        (true, "/v1/auth/logout" | "/v1/auth/logout-all") => short(Budget::Writes),
        (true, r) if r.starts_with("/v1/auth/") || r == "/v1/me/verify-email" => {
            short(Budget::SignIn)
        }
        (
            true,
            "/v1/videos" | "/v1/uploads" | "/v1/direct-uploads/{id}" | "/v1/products/{id}/images",
        ) => long(Some(Budget::Uploads)),
        (true, "/v1/direct-uploads") => short(Budget::Uploads),
        // The rest of a resumable upload (chunks, offsets, the end): the upload URL is the
        // credential, so per address, on the roomy media budget (a phone may send many chunks).
        (_, r) if r.starts_with("/v1/uploads/") => long(Some(Budget::Media)),
        (true, "/v1/events") => short(Budget::Events),
        (true, "/v1/orders" | "/v1/orders/{id}/pay") => short(Budget::Orders),
        (true, _) => short(Budget::Writes),
        (false, _) => short(Budget::Reads),
    }
}

/// The client's address: the peer's, or — when the peer is a trusted proxy — the last address
/// in `X-Forwarded-For` that is not one of ours (earlier entries are the client's to forge).
fn client_address(parts: &axum::http::request::Parts, trusted: &[IpAddr]) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !trusted.contains(&peer) {
        return peer;
    }
    parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

/// The address a budget is kept for: an IPv6 client is one /64 (a home or a phone gets a whole
/// /64, so counting each /128 would give it endless budgets).
fn budget_address(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

fn unavailable(code: &'static str, message: &str) -> Response {
    let mut response =
        ApiError::status(StatusCode::SERVICE_UNAVAILABLE, code, message).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_request_has_its_budget() {
        let budget = |m: Method, r: &str| classify(&m, r).budget;
        assert_eq!(budget(Method::POST, "/v1/auth/login"), Some(Budget::SignIn));
        assert_eq!(
            budget(Method::POST, "/v1/auth/logout"),
            Some(Budget::Writes)
        );
        assert_eq!(budget(Method::POST, "/v1/videos"), Some(Budget::Uploads));
        assert_eq!(
            budget(Method::PATCH, "/v1/uploads/{id}"),
            Some(Budget::Media)
        );
        assert!(classify(&Method::POST, "/v1/direct-uploads/{id}").long);
        assert!(!classify(&Method::POST, "/v1/direct-uploads").long);
        assert_eq!(budget(Method::POST, "/v1/events"), Some(Budget::Events));
        assert_eq!(
            budget(Method::POST, "/v1/orders/{id}/pay"),
            Some(Budget::Orders)
        );
        assert_eq!(
            budget(Method::DELETE, "/v1/videos/{id}"),
            Some(Budget::Writes)
        );
        assert_eq!(budget(Method::GET, "/v1/feed"), Some(Budget::Reads));
        assert_eq!(budget(Method::GET, "/media/{*key}"), Some(Budget::Media));
        assert_eq!(budget(Method::GET, "/"), None);
        assert!(classify(&Method::POST, "/v1/videos").long);
        assert!(!classify(&Method::POST, "/v1/events").long);
    }

    #[test]
    fn an_ipv6_client_is_one_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(budget_address(a), budget_address(b));
        assert_ne!(budget_address(a), budget_address(other));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(
            budget_address(mapped),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let request = |peer: &str, xff: &str| {
            let mut parts = axum::http::Request::builder()
                .header("x-forwarded-for", xff)
                .body(())
                .unwrap()
                .into_parts()
                .0;
            parts
                .extensions
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            parts
        };
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let forged = request("203.0.113.9:4000", "1.2.3.4");
        assert_eq!(
            client_address(&forged, &[proxy]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let proxied = request("10.0.0.5:4000", "1.2.3.4, 198.51.100.7");
        assert_eq!(
            client_address(&proxied, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the client can forge the first entries, not the one our proxy appended"
        );
    }
}
