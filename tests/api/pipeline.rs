//! The whole pipeline on real video: upload → transcode → media over HTTP → tag → feed → delete.

use std::time::Duration;

use crate::common::{assert_playable_upright, media, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_phone_video_goes_from_upload_to_the_feed_upright_with_its_product_tag() {
    let app = TestApp::spawn().await;
    let (creator, creator_token) = app.account("creator", "Mia").await;
    let (_, merchant_token) = app.account("merchant", "Glow Co").await;
    let source = media("mb_rotate-buck-bunny.mp4"); // 1920x1080 coded, rotation metadata: portrait

    let response = app
        .upload(&creator_token, &source, "Bunny, sideways?")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["creator_id"], creator.as_str());
    assert_eq!(created["status"], "queued");
    assert_eq!(
        (created["width"].as_u64(), created["height"].as_u64()),
        (Some(1080), Some(1920))
    );

    let video = app
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(240))
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["progress"], 1.0);
    assert!(
        (video["duration_ms"].as_i64().unwrap() - 2005).abs() <= 100,
        "{video}"
    );
    assert_playable_upright(&app, &video, &source).await;

    // Not in the feed? It must be: it is ready. And with the product tag, live.
    let product: Value = app
        .create_product(&merchant_token, "Carrot lip balm", 1299, "USD", 7)
        .await
        .json()
        .await
        .unwrap();
    let product_id = product["id"].as_str().unwrap();
    let response = app.tag(&merchant_token, &id, product_id, 200, 1500).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // A merchant's tag waits for the creator's consent.
    let tag: Value = response.json().await.unwrap();
    assert_eq!(tag["status"], "pending");
    // (The feed's catalog refreshes every 500 ms; bring it up to date rather than wait.)
    app.refresh_feed().await;
    let feed: Value = app.feed("limit=5").await.json().await.unwrap();
    assert_eq!(feed["items"][0]["tags"], serde_json::json!([]));
    let r = app
        .client
        .post(app.url(&format!(
            "/v1/videos/{id}/tags/{}/approve",
            tag["id"].as_str().unwrap()
        )))
        .bearer_auth(&creator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let feed: Value = app.feed("limit=5").await.json().await.unwrap();
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["playback"]["hls"], video["playback"]["hls"]);
    let tag = &items[0]["tags"][0];
    assert_eq!(tag["product_id"], product_id);
    assert_eq!(tag["title"], "Carrot lip balm");
    assert_eq!(tag["price"]["amount_minor"], 1299);
    assert_eq!(tag["price"]["currency"], "USD");
    assert_eq!(tag["in_stock"], true);
    assert_eq!(
        (tag["start_ms"].as_i64(), tag["end_ms"].as_i64()),
        (Some(200), Some(1500))
    );
    assert_eq!(feed["next_cursor"], Value::Null);

    // Players see the tag as timed metadata in every rendition's playlist.
    let master_url = video["playback"]["hls"].as_str().unwrap();
    let (_, _, master) = app.fetch(master_url).await;
    let master = String::from_utf8(master).unwrap();
    let rung = master
        .lines()
        .find(|l| !l.starts_with('#') && l.ends_with(".m3u8"))
        .expect("a rendition in the master playlist");
    let rung_url = format!("{}/{rung}", master_url.rsplit_once('/').unwrap().0);
    let (status, headers, playlist) = app.fetch(&rung_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-cache");
    let playlist = String::from_utf8(playlist).unwrap();
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
    let range = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-DATERANGE:"))
        .unwrap_or_else(|| panic!("no date range: {playlist}"));
    assert!(range.contains(tag["id"].as_str().unwrap()), "{range}");
    assert!(
        range.contains("START-DATE=\"1970-01-01T00:00:00.200Z\""),
        "{range}"
    );
    assert!(range.contains("DURATION=1.300"), "{range}");
    assert!(
        range.contains(&format!("X-PRODUCT-ID=\"{product_id}\"")),
        "{range}"
    );

    // The creator's original is never public, only the renditions.
    assert!(!app.state.store.list("originals/").await.unwrap().is_empty());
    let r = app.get(&format!("/media/originals/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get(&format!("/media/videos/../originals/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Deleting removes the video and its place in the feed at once (its media answer 404),
    // and its objects once the collector's grace period is over.
    let mp4 = video["playback"]["mp4"][0]["url"].as_str().unwrap();
    let (status, _, _) = app.fetch(mp4).await;
    assert_eq!(status, StatusCode::OK, "served (and its existence cached)");
    let response = app
        .delete(&format!("/v1/videos/{id}"), &creator_token)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        let (status, _, _) = app.fetch(mp4).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(std::time::Instant::now() < gone, "still served: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let master = video["playback"]["hls"].as_str().unwrap();
    assert_eq!(app.fetch(master).await.0, StatusCode::NOT_FOUND);
    let mut gc = vitrine_ingest::gc::Gc::default();
    let collected = gc
        .collect(&app.state, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(collected.deleted_videos, 0, "within the grace period");
    let collected = gc
        .collect(&app.state, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(collected.deleted_videos, 1);
    assert!(app
        .state
        .store
        .list(&format!("videos/{id}/"))
        .await
        .unwrap()
        .is_empty());
    assert!(app.state.store.list("originals/").await.unwrap().is_empty());
    // An original without a video (a crash between storing it and committing its row) goes
    // on the second round that finds it so, not the first.
    let orphan = vitrine_assets::keys::original("vid_01a24e5efc307523b512af1ea96421a1");
    app.state
        .store
        .put_bytes(&orphan, bytes::Bytes::from_static(b"x"), "video/mp4")
        .await
        .unwrap();
    let first = gc
        .collect(&app.state, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first.orphan_originals, 0);
    let second = gc
        .collect(&app.state, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(second.orphan_originals, 1);
    assert!(app.state.store.list("originals/").await.unwrap().is_empty());
    let feed: Value = app.feed("").await.json().await.unwrap();
    assert!(feed["items"].as_array().unwrap().is_empty());
    let r = app.get(&format!("/v1/videos/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The lowest rung is published while the ladder still encodes: the video is `playable`, with a
/// master playlist that lists only that rung and segments that already play, before it is
/// `ready` with the whole ladder.
#[tokio::test(flavor = "multi_thread")]
async fn a_video_is_playable_from_its_lowest_rung_before_the_ladder_is_done() {
    let app = TestApp::spawn().await;
    let (_, token) = app.account("creator", "Mia").await;
    let source = media("mp_smpte-2997.mp4"); // 10 s, 1920x1080: five rungs to encode
    let response = app.upload(&token, &source, "Colour bars").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let playable = loop {
        let video = app.get_video(&id).await;
        match video["status"].as_str().unwrap() {
            "playable" => break video,
            "ready" | "failed" => panic!("never seen playable before: {video}"),
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "{video}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let playback = &playable["playback"];
    assert!(playable["progress"].as_f64().unwrap() < 1.0, "{playable}");
    assert!(playback["mp4"].as_array().unwrap().is_empty(), "{playable}");
    assert_eq!(playback["poster"], Value::Null);

    let master_url = playback["hls"].as_str().unwrap();
    let (status, headers, master) = app.fetch(master_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["cache-control"], "no-cache",
        "a playlist that will change"
    );
    let master = String::from_utf8(master).unwrap();
    assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 1, "{master}");
    assert!(master.contains("RESOLUTION=426x240"), "{master}");
    let rung_url = master_url.replace("master.m3u8", "240p.m3u8");
    let (status, _, rung) = app.fetch(&rung_url).await;
    assert_eq!(status, StatusCode::OK);
    let rung = String::from_utf8(rung).unwrap();
    assert!(rung.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{rung}");
    assert!(rung.contains("#EXT-X-START:TIME-OFFSET=0"), "{rung}");
    let first = rung
        .lines()
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .expect("a segment is listed");
    let first_url = master_url.replace("master.m3u8", first);
    let (status, headers, early_segment) = app.fetch(&first_url).await;
    assert_eq!(status, StatusCode::OK);
    // Cached, but not for ever: a deleted clip leaves shared caches within the hour.
    assert_eq!(
        headers["cache-control"].to_str().unwrap(),
        "public, max-age=3600",
        "{headers:?}"
    );
    assert!(
        early_segment.len() > 1000 && early_segment[0] == 0x47,
        "an MPEG-TS segment"
    );

    let ready = app
        .wait_for(&id, &["ready", "failed"], Duration::from_secs(240))
        .await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(
        ready["playback"]["hls"], master_url,
        "same URL, now the whole ladder"
    );
    let (_, _, master) = app.fetch(master_url).await;
    let master = String::from_utf8(master).unwrap();
    assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 5, "{master}");
    assert!(master.contains("CODECS="), "{master}");
    let (_, _, rung) = app.fetch(&rung_url).await;
    let rung = String::from_utf8(rung).unwrap();
    assert!(rung.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{rung}");
    assert!(rung.contains("#EXT-X-ENDLIST"), "{rung}");
    let (_, _, final_segment) = app.fetch(&first_url).await;
    assert_eq!(
        final_segment, early_segment,
        "a published segment never changes"
    );
}
