//! A simulation over real HTTP: synthetic viewers with hidden tastes (two creators and one
//! product category each, drawn with a fixed seed) watch their feed session after session and
//! send the events a phone would. The ranker must learn the tastes — the share of clips they
//! like rises across sessions — and its traffic pools must promote a new clip everyone loves
//! while stopping one everyone skips.

use std::collections::{HashMap, HashSet};

use crate::common::{test_config, TestApp};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vitrine::Role;
use vitrine_feed::config::Stage;

const CREATORS: usize = 12;
const CLIPS_PER_CREATOR: usize = 20;
const CATEGORIES: [&str; 4] = ["skincare", "shoes", "kitchen", "games"];
const VIEWERS: usize = 24;
const SESSIONS: usize = 6;
const PAGE: usize = 10;

struct Clip {
    creator: usize,
    category: Option<usize>,
}

struct Viewer {
    id: String,
    token: String,
    creators: HashSet<usize>,
    category: usize,
}

impl Viewer {
    fn likes(&self, clip: &Clip) -> bool {
        self.creators.contains(&clip.creator) || clip.category == Some(self.category)
    }
}

async fn post_events(app: &TestApp, token: &str, events: Vec<Value>) {
    let body = app.events(token, json!(events)).await;
    assert_eq!(body["errors"], json!([]), "{body}");
}

/// One session of one viewer: a page of the feed, watched. Returns how many served clips the
/// viewer likes.
async fn session(
    app: &TestApp,
    rng: &mut StdRng,
    viewer: &Viewer,
    clips: &HashMap<String, Clip>,
    tag: u32,
) -> (usize, usize) {
    let r = app
        .client
        .get(app.url(&format!("/v1/feed?limit={PAGE}")))
        .bearer_auth(&viewer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    let mut events = Vec::new();
    let mut liked = 0;
    let items = page["items"].as_array().unwrap();
    for item in items {
        let video = item["id"].as_str().unwrap();
        let clip = &clips[video];
        let event = |kind: &str, extra: Value| {
            let mut e = json!({"id": format!("{tag}-{video}-{kind}"), "viewer_id": viewer.id,
                               "video_id": video, "type": kind});
            if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
                e.extend(extra.clone());
            }
            e
        };
        events.push(event("impression", json!({})));
        if viewer.likes(clip) {
            liked += 1;
            if rng.gen_bool(0.9) {
                events.push(event("complete", json!({"watch_ms": 20_000})));
            }
            if rng.gen_bool(0.7) {
                events.push(event("like", json!({})));
            }
            if rng.gen_bool(0.2) {
                events.push(event("share", json!({})));
            }
            if let Some(t) = item["tags"].as_array().unwrap().first() {
                if rng.gen_bool(0.5) {
                    events.push(event("product_click", json!({"tag_id": t["id"]})));
                }
            }
        } else {
            events.push(event("progress", json!({"watch_ms": 3_000})));
            if rng.gen_bool(0.15) {
                events.push(event("not_interested", json!({})));
            }
        }
    }
    post_events(app, &viewer.token, events).await;
    (liked, items.len())
}

#[tokio::test]
async fn the_ranker_learns_hidden_tastes_and_the_traffic_pools_sort_new_clips() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.feed.stages = vec![
        Stage {
            impressions: 6,
            min_completion: 0.5,
            min_like: 0.3,
            min_share: 0.0,
        },
        Stage {
            impressions: 10,
            min_completion: 0.5,
            min_like: 0.3,
            min_share: 0.0,
        },
        Stage {
            impressions: 40,
            min_completion: 0.5,
            min_like: 0.3,
            min_share: 0.0,
        },
    ];
    let app = TestApp::spawn_with(config, Role::All, Some(dir)).await;
    let operator = app.account("admin", "Op").await;
    let mut rng = StdRng::seed_from_u64(42);

    // The catalog: one product per category, sold on a quarter of every creator's clips.
    let merchant = app.account("merchant", "Shop").await;
    let mut products = Vec::new();
    for category in CATEGORIES {
        let r = app
            .client
            .post(app.url("/v1/products"))
            .bearer_auth(&merchant.1)
            .json(
                &json!({"title": category, "price": {"amount_minor": 1999, "currency": "EUR"},
                          "stock": 1000, "commission_bps": 1000, "category": category}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let p: Value = r.json().await.unwrap();
        products.push(p["id"].as_str().unwrap().to_owned());
    }
    let mut clips: HashMap<String, Clip> = HashMap::new();
    for c in 0..CREATORS {
        let creator = app.account("creator", &format!("C{c}")).await;
        for (i, id) in app
            .ready_clips(&creator.0, CLIPS_PER_CREATOR, 20_000)
            .await
            .into_iter()
            .enumerate()
        {
            let category = (i % 4 == 0).then_some(c % CATEGORIES.len());
            if let Some(k) = category {
                let r = app
                    .client
                    .post(app.url(&format!("/v1/videos/{id}/tags")))
                    .bearer_auth(&creator.1)
                    .json(&json!({"product_id": products[k], "start_ms": 0, "end_ms": 10_000}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
            clips.insert(
                id,
                Clip {
                    creator: c,
                    category,
                },
            );
        }
    }
    let mut viewers = Vec::new();
    for v in 0..VIEWERS {
        let (id, token) = app.account("viewer", &format!("V{v}")).await;
        let mut all: Vec<usize> = (0..CREATORS).collect();
        all.shuffle(&mut rng);
        viewers.push(Viewer {
            id,
            token,
            creators: all[..2].iter().copied().collect(),
            category: rng.gen_range(0..CATEGORIES.len()),
        });
    }
    app.refresh_feed().await;

    // Sessions: the share of served clips the viewers like.
    let mut shares = Vec::new();
    for s in 0..SESSIONS {
        let (mut liked, mut served) = (0, 0);
        for viewer in &viewers {
            let (l, n) = session(&app, &mut rng, viewer, &clips, s as u32).await;
            liked += l;
            served += n;
        }
        assert_eq!(served, VIEWERS * PAGE, "every page full");
        shares.push(liked as f64 / served as f64);
        app.refresh_feed().await;
    }
    eprintln!("share of liked clips per session: {shares:?}");
    let first = shares[0];
    let last = (shares[SESSIONS - 1] + shares[SESSIONS - 2]) / 2.0;
    assert!(last >= first + 0.2, "the feed did not learn: {shares:?}");
    assert!(
        last >= 0.5,
        "most of the feed should match tastes by now: {shares:?}"
    );

    // Two new clips of a new creator: one everyone loves, one everyone skips.
    let newcomer = app.account("creator", "New").await;
    let fresh = app.ready_clips(&newcomer.0, 2, 20_000).await;
    let (star, dud) = (fresh[0].clone(), fresh[1].clone());
    app.refresh_feed().await;
    for round in 0..6 {
        for viewer in &viewers {
            let r = app
                .client
                .get(app.url(&format!("/v1/feed?limit={PAGE}")))
                .bearer_auth(&viewer.token)
                .send()
                .await
                .unwrap();
            let page: Value = r.json().await.unwrap();
            let mut events = Vec::new();
            for item in page["items"].as_array().unwrap() {
                let video = item["id"].as_str().unwrap();
                let e = |kind: &str| {
                    json!({"id": format!("p{round}-{video}-{kind}"), "viewer_id": viewer.id,
                           "video_id": video, "type": kind, "watch_ms": 20_000})
                };
                events.push(e("impression"));
                if video == star {
                    events.push(e("complete"));
                    events.push(e("like"));
                }
            }
            post_events(&app, &viewer.token, events).await;
        }
        app.refresh_feed().await;
    }
    let distribution = |video: String| {
        let app = &app;
        let token = newcomer.1.clone();
        async move {
            let r = app
                .client
                .get(app.url(&format!("/v1/videos/{video}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            v["distribution"].clone()
        }
    };
    let star_d = distribution(star).await;
    let dud_d = distribution(dud).await;
    eprintln!("star {star_d}, dud {dud_d}");
    assert!(
        star_d["stage"].as_i64().unwrap() >= 2 || star_d["pool"] == "graduated",
        "the loved clip did not climb: {star_d}"
    );
    assert_eq!(star_d["pool"], "testing", "{star_d}");
    assert_eq!(
        dud_d["pool"], "stopped",
        "the skipped clip is still pushed: {dud_d}"
    );
    assert_eq!(dud_d["stage"], 0, "{dud_d}");
    // Stopped: the traffic pool no longer proposes it to anyone (the admin's explanations say
    // where each clip came from), while the star still reaches new viewers.
    let newcomer_viewer = app.account("viewer", "Late").await;
    let mut dud_sources = None;
    let mut star_sources = None;
    let mut cursor = String::new();
    loop {
        let r = app
            .client
            .get(app.url(&format!(
                "/v1/feed?limit=50&debug=1&viewer={}{cursor}",
                newcomer_viewer.0
            )))
            .bearer_auth(&operator.1)
            .send()
            .await
            .unwrap();
        let page: Value = r.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            if item["id"] == fresh[1] {
                dud_sources = Some(item["debug"]["sources"].clone());
            }
            if item["id"] == fresh[0] {
                star_sources = Some(item["debug"]["sources"].clone());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert!(star_sources.is_some(), "the star reaches a new viewer");
    if let Some(sources) = dud_sources {
        assert!(
            !sources.as_array().unwrap().contains(&json!("traffic_pool")),
            "{sources}"
        );
    }
}
