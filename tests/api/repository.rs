//! Repository tests: the same assertions on SQLite and on PostgreSQL, every run.

use std::{collections::HashSet, time::Duration};

use crate::common::{fresh_postgres_url, DbKind};
use vitrine_core::{
    db::Db,
    ids::{AccountId, VideoId},
    videos::{self, NewVideo, RenditionOutput, VideoOutputs, VideoStatus},
};
use vitrine_identity::{
    principal::{self, AuthError},
    script::{self, ScriptRole},
    sessions::SessionPolicy,
};
use vitrine_shop::{
    products::{self, NewProduct},
    tags::{self, NewTag, Shown, TagStatus, TimeRange},
};
use vitrine_transcode::queue;

/// A fresh, migrated database of the given kind, and the temp dir keeping a SQLite file alive.
async fn fresh_db(kind: DbKind) -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match kind {
        DbKind::Sqlite => Db::sqlite_url_in(dir.path()),
        DbKind::Postgres => fresh_postgres_url().await,
    };
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    // Migrating twice is a no-op (every process migrates at start).
    db.migrate().await.unwrap();
    (db, dir)
}

crate::on_each_database!(
    tokens_authenticate_their_account_only,
    a_video_and_its_job_are_written_together_or_not_at_all,
    ready_videos_page_newest_first_without_gaps_or_repeats,
    a_creators_videos_page_newest_first_and_only_theirs,
    concurrent_workers_never_lease_the_same_job,
    creators_take_turns_in_the_queue,
    dead_workers_scratch_directories_are_swept,
    an_expired_lease_is_taken_over_and_the_old_owner_is_locked_out,
    retries_wait_for_their_backoff_and_release_does_not_count_an_attempt,
    tags_carry_live_product_data_and_go_with_their_video,
    playable_comes_between_processing_and_ready_and_a_retry_clears_it,
    a_value_the_code_does_not_know_is_a_decoding_error_not_a_default,
);

async fn account(db: &Db, role: ScriptRole, name: &str) -> script::ScriptAccount {
    script::create(db, &SessionPolicy::default(), role, name)
        .await
        .unwrap()
}

async fn creator(db: &Db) -> AccountId {
    account(db, ScriptRole::Creator, "creator").await.id
}

async fn queued_video(db: &Db, creator: &AccountId) -> VideoId {
    let id = VideoId::generate();
    let mut tx = db.begin().await.unwrap();
    videos::insert(
        &mut tx,
        NewVideo {
            id: &id,
            creator_id: creator,
            title: "clip",
            status: VideoStatus::Queued,
            duration_ms: Some(5000),
            width: Some(1080),
            height: Some(1920),
            source_size: 10,
            source_sha256: "00",
        },
    )
    .await
    .unwrap();
    queue::enqueue(db, &mut tx, &id, 3).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn make_ready(db: &Db, id: &VideoId) {
    let outputs = VideoOutputs {
        master_playlist: format!("videos/{id}/hls/master.m3u8"),
        poster: Some(format!("videos/{id}/poster.jpg")),
        posters: vec![],
        preview: None,
        storyboard: None,
        renditions: vec![RenditionOutput {
            name: "720p".into(),
            width: 720,
            height: 1280,
            bandwidth: 1_000_000,
            playlist: format!("videos/{id}/hls/720p.m3u8"),
            mp4: Some(format!("videos/{id}/mp4/720p.mp4")),
        }],
        keys: vec![],
    };
    let mut tx = db.begin().await.unwrap();
    videos::mark_ready(&mut tx, id, &outputs, 5000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn tokens_authenticate_their_account_only(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let policy = SessionPolicy::default();
    let a = account(&db, ScriptRole::Merchant, "Shop A").await;
    let b = account(&db, ScriptRole::Viewer, "Bo").await;
    assert_ne!(a.token, b.token);
    let found = principal::authenticate(&db, &policy, &a.token)
        .await
        .unwrap();
    assert_eq!(
        (found.account.id, found.account.display_name.as_str()),
        (a.id, "Shop A")
    );
    assert!(a.shop_id.is_some(), "a merchant gets a shop");
    assert!(matches!(
        principal::authenticate(&db, &policy, "vt_not-a-token").await,
        Err(AuthError::Unknown)
    ));
    assert!(script::create(&db, &policy, ScriptRole::Viewer, "   ")
        .await
        .is_err());
}

async fn a_video_and_its_job_are_written_together_or_not_at_all(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    let id = VideoId::generate();
    let mut tx = db.begin().await.unwrap();
    videos::insert(
        &mut tx,
        NewVideo {
            id: &id,
            creator_id: &creator,
            title: "never committed",
            status: VideoStatus::Queued,
            duration_ms: None,
            width: None,
            height: None,
            source_size: 1,
            source_sha256: "ab",
        },
    )
    .await
    .unwrap();
    queue::enqueue(&db, &mut tx, &id, 3).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(videos::get(&db, &id).await.unwrap().is_none());
    assert_eq!(queue::depth(&db).await.unwrap(), 0);

    let id = queued_video(&db, &creator).await;
    let video = videos::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(video.status, VideoStatus::Queued);
    assert_eq!((video.width, video.height), (Some(1080), Some(1920)));
    assert_eq!(queue::depth(&db).await.unwrap(), 1);
}

async fn playable_comes_between_processing_and_ready_and_a_retry_clears_it(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    let id = queued_video(&db, &creator).await;
    let early = VideoOutputs {
        master_playlist: format!("videos/{id}/a1/hls/master.m3u8"),
        poster: None,
        posters: vec![],
        preview: None,
        storyboard: None,
        renditions: vec![RenditionOutput {
            name: "240p".into(),
            width: 240,
            height: 426,
            bandwidth: 400_000,
            playlist: format!("videos/{id}/a1/hls/240p.m3u8"),
            mp4: None,
        }],
        keys: vec![format!("videos/{id}/a1/hls/240p_00000.ts")],
    };
    // Only a processing video becomes playable.
    assert!(!videos::mark_playable(&db, &id, &early).await.unwrap());
    videos::mark_processing(&db, &id).await.unwrap();
    assert!(videos::mark_playable(&db, &id, &early).await.unwrap());
    videos::set_progress(&db, &id, 0.4).await.unwrap();
    let v = videos::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Playable);
    assert_eq!(v.outputs.as_ref(), Some(&early));
    assert!((v.progress - 0.4).abs() < 1e-9, "progress still moves");
    assert!(v.ready_at.is_none(), "not in the feed yet");

    // A retry sends it back to the queue without the old attempt's outputs.
    let mut tx = db.begin().await.unwrap();
    videos::return_to_queue(&mut tx, &id).await.unwrap();
    tx.commit().await.unwrap();
    let v = videos::get(&db, &id).await.unwrap().unwrap();
    assert_eq!((v.status, v.outputs), (VideoStatus::Queued, None));

    videos::mark_processing(&db, &id).await.unwrap();
    assert!(videos::mark_playable(&db, &id, &early).await.unwrap());
    // Its worker dies; the next attempt (its lease taken over, no retry recorded) starts the
    // video over instead of leaving the dead attempt's playlist growing for ever.
    videos::mark_processing(&db, &id).await.unwrap();
    let v = videos::get(&db, &id).await.unwrap().unwrap();
    assert_eq!((v.status, v.outputs), (VideoStatus::Processing, None));
    assert!(videos::mark_playable(&db, &id, &early).await.unwrap());
    make_ready(&db, &id).await;
    let v = videos::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Ready);
    assert_eq!(v.outputs.unwrap().renditions[0].name, "720p");
    // A late early-publish step cannot demote it.
    assert!(!videos::mark_playable(&db, &id, &early).await.unwrap());
}

async fn ready_videos_page_newest_first_without_gaps_or_repeats(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    let mut ready = Vec::new();
    for i in 0..7 {
        let id = queued_video(&db, &creator).await;
        if i != 3 {
            make_ready(&db, &id).await;
            ready.push(id);
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    // Videos made ready in the same millisecond must still page without gaps or repeats.
    let tie = ready[1..5]
        .iter()
        .map(|id| id.as_str().to_owned())
        .collect::<Vec<_>>();
    for id in &tie {
        sqlx::query("UPDATE videos SET ready_at = 1700000000000 + 5000 WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await
            .unwrap();
    }
    // Expected order: newest ready_at first, ties by id descending.
    let mut expected: Vec<(i64, VideoId)> = Vec::new();
    for id in &ready {
        let v = videos::get(&db, id).await.unwrap().unwrap();
        expected.push((v.ready_at.unwrap(), v.id));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let ready: Vec<VideoId> = expected.into_iter().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut after: Option<(i64, VideoId)> = None;
    loop {
        let page = videos::list_ready(&db, after.as_ref().map(|(t, id)| (*t, id)), 4)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        after = Some((last.ready_at.unwrap(), last.id.clone()));
        seen.extend(page.into_iter().map(|v| v.id));
    }
    assert_eq!(
        seen, ready,
        "every ready video once, newest first; the queued one never"
    );
}

async fn a_creators_videos_page_newest_first_and_only_theirs(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let mine = creator(&db).await;
    let other = creator(&db).await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(queued_video(&db, &mine).await);
        if i == 2 {
            queued_video(&db, &other).await;
        }
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut before: Option<VideoId> = None;
    loop {
        let page = videos::list_by_creator(&db, &mine, before.as_ref(), 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|v| v.id.clone());
        seen.extend(page.into_iter().map(|v| v.id));
    }
    assert_eq!(
        seen, made,
        "the creator's five, newest first, none of the other's"
    );
}

async fn concurrent_workers_never_lease_the_same_job(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    for _ in 0..12 {
        queued_video(&db, &creator).await;
    }
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..6 {
        let db = db.clone();
        workers.spawn(async move {
            let mut got = Vec::new();
            while let Some(lease) = queue::lease(&db, &format!("w{w}"), Duration::from_secs(60))
                .await
                .unwrap()
            {
                got.push(lease.job_id.to_string());
            }
            got
        });
    }
    let mut all = Vec::new();
    while let Some(got) = workers.join_next().await {
        all.extend(got.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 12, "every job leased exactly once: {all:?}");
    assert_eq!(unique.len(), 12);
}

/// A worker's scratch directory goes once no live lease covers its job; a running job's stays.
async fn dead_workers_scratch_directories_are_swept(kind: DbKind) {
    let (db, dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    queued_video(&db, &creator).await;
    let running = queue::lease(&db, "alive", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let work = dir.path().join("work");
    let live = work.join(running.job_id.as_str());
    let dead = work.join(vitrine_core::ids::JobId::generate().as_str());
    let other = work.join("notes");
    for d in [&live, &dead, &other] {
        std::fs::create_dir_all(d.join("out")).unwrap();
    }
    let removed = vitrine_transcode::worker::sweep_scratch(&db, &work).await;
    assert_eq!(removed, 1);
    assert!(live.exists() && other.exists() && !dead.exists());
}

/// One creator's burst of uploads does not make another creator wait for all of it.
async fn creators_take_turns_in_the_queue(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let busy = creator(&db).await;
    let other = account(&db, ScriptRole::Creator, "other").await.id;
    let mut burst = Vec::new();
    for _ in 0..5 {
        burst.push(queued_video(&db, &busy).await);
    }
    let late = queued_video(&db, &other).await;
    let mut order = Vec::new();
    while let Some(lease) = queue::lease(&db, "w", Duration::from_secs(60))
        .await
        .unwrap()
    {
        order.push(lease.video_id);
    }
    assert_eq!(order.len(), 6);
    assert_eq!(order[0], burst[0], "the oldest job first");
    assert_eq!(
        order[1], late,
        "then the other creator's, not the burst's second"
    );
    assert_eq!(&order[2..], &burst[1..], "the burst keeps its own order");
}

async fn an_expired_lease_is_taken_over_and_the_old_owner_is_locked_out(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    let video = queued_video(&db, &creator).await;
    let dead = queue::lease(&db, "dead-worker", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.attempt, 1);
    assert!(
        queue::lease(&db, "other", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "a live lease is exclusive"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let taken = queue::lease(&db, "rescuer", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.job_id, dead.job_id);
    assert_eq!(taken.video_id, video);
    assert_eq!(taken.attempt, 2);
    // The dead worker wakes up: it can neither heartbeat nor finish the job.
    assert!(!queue::heartbeat(&db, &dead, Duration::from_secs(60))
        .await
        .unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(!queue::complete(&mut tx, &dead).await.unwrap());
    tx.rollback().await.unwrap();

    assert!(queue::heartbeat(&db, &taken, Duration::from_secs(60))
        .await
        .unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(queue::complete(&mut tx, &taken).await.unwrap());
    tx.commit().await.unwrap();
    make_ready(&db, &video).await;
    let state = queue::state_of(&db, &video).await.unwrap().unwrap();
    assert_eq!((state.state.as_str(), state.attempts), ("done", 2));
    assert_eq!(queue::depth(&db).await.unwrap(), 0);

    // The dead worker's late retry or hand-back changes nothing: the video stays ready.
    let mut tx = db.begin().await.unwrap();
    assert!(
        !queue::retry_later(&db, &mut tx, &dead, "late", Duration::ZERO)
            .await
            .unwrap()
    );
    assert!(!queue::release(&db, &mut tx, &dead).await.unwrap());
    videos::return_to_queue(&mut tx, &video).await.unwrap();
    tx.commit().await.unwrap();
    let v = videos::get(&db, &video).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Ready);
    assert!(queue::lease(&db, "w", Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
}

async fn retries_wait_for_their_backoff_and_release_does_not_count_an_attempt(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    let video = queued_video(&db, &creator).await;
    let lease = queue::lease(&db, "w", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    assert!(queue::retry_later(
        &db,
        &mut tx,
        &lease,
        "bucket unreachable",
        Duration::from_millis(400)
    )
    .await
    .unwrap());
    tx.commit().await.unwrap();
    assert!(
        queue::lease(&db, "w", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "not before the backoff"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lease = queue::lease(&db, "w", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.attempt, 2);

    let mut tx = db.begin().await.unwrap();
    assert!(queue::release(&db, &mut tx, &lease).await.unwrap());
    tx.commit().await.unwrap();
    let again = queue::lease(&db, "w2", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.attempt, 2,
        "a hand-back on shutdown is not a failed attempt"
    );

    let mut tx = db.begin().await.unwrap();
    assert!(queue::fail(&mut tx, &again, "no video stream")
        .await
        .unwrap());
    videos::mark_failed(&mut tx, &video, "no video stream")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let v = videos::get(&db, &video).await.unwrap().unwrap();
    assert_eq!(
        (v.status, v.error.as_deref()),
        (VideoStatus::Failed, Some("no video stream"))
    );
    let state = queue::state_of(&db, &video).await.unwrap().unwrap();
    assert_eq!(state.state, "failed");
    assert!(queue::lease(&db, "w", Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
}

/// A product listed by `merchant`: "Serum", ¥2500, one in stock.
async fn serum(db: &Db, merchant: &script::ScriptAccount) -> products::Product {
    products::create(
        db,
        merchant.shop_id.as_ref().unwrap(),
        &merchant.id,
        NewProduct::parse("Serum", 2500, "JPY", 1).unwrap(),
    )
    .await
    .unwrap()
}

async fn tags_carry_live_product_data_and_go_with_their_video(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    let merchant = account(&db, ScriptRole::Merchant, "m").await;
    let video = queued_video(&db, &creator).await;
    let product = serum(&db, &merchant).await;
    assert_eq!(
        products::get(&db, &product.id).await.unwrap().unwrap(),
        product
    );
    let live = |start, end| NewTag {
        product: product.id.clone(),
        variant: None,
        range: TimeRange::new(start, end).unwrap(),
        position: None,
        label: None,
        status: TagStatus::Live,
    };
    tags::create(&db, &video, &merchant.id, &live(3000, 4000), 5)
        .await
        .unwrap();
    tags::create(&db, &video, &merchant.id, &live(0, 1000), 5)
        .await
        .unwrap();
    let listed = tags::for_video(&db, &video, Shown::All).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.range.start_ms).collect::<Vec<_>>(),
        vec![0, 3000],
        "time order"
    );
    assert_eq!(listed[0].title, "Serum");
    assert_eq!(
        (
            listed[0].price.amount_minor,
            listed[0].price.currency.as_str()
        ),
        (2500, "JPY")
    );
    assert!(listed[0].in_stock);

    assert_eq!(
        tags::for_video(&db, &video, Shown::Public)
            .await
            .unwrap()
            .len(),
        2
    );

    // Stock is read live: sold out shows as not in stock, and viewers no longer see the tag.
    sqlx::query("UPDATE products SET stock = 0 WHERE id = $1")
        .bind(product.id.as_str())
        .execute(db.pool())
        .await
        .unwrap();
    assert!(!tags::for_video(&db, &video, Shown::All).await.unwrap()[0].in_stock);
    assert!(tags::for_video(&db, &video, Shown::Public)
        .await
        .unwrap()
        .is_empty());

    // Deleting the video takes its tags and its job with it.
    assert!(videos::delete(&db, &video).await.unwrap());
    assert!(tags::for_video(&db, &video, Shown::All)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(queue::depth(&db).await.unwrap(), 0);
}

/// Statuses, ids and currencies are read as their types: a value no version of the code wrote
/// (a newer version's status, a hand edit) is an error naming its column, never a default (an
/// unknown product status used to read as `active`, an unknown order status as
/// `pending_payment`) and never a panic.
async fn a_value_the_code_does_not_know_is_a_decoding_error_not_a_default(kind: DbKind) {
    let (db, _dir) = fresh_db(kind).await;
    let creator = creator(&db).await;
    let merchant = account(&db, ScriptRole::Merchant, "m").await;
    let video = queued_video(&db, &creator).await;
    let product = serum(&db, &merchant).await;
    let set = |sql: &'static str, id: String| {
        let db = db.clone();
        async move {
            sqlx::query(sql).bind(id).execute(db.pool()).await.unwrap();
        }
    };
    let undecodable = |e: sqlx::Error, column: &str| match e {
        sqlx::Error::ColumnDecode { index, .. } => assert!(index.contains(column), "{index}"),
        other => panic!("{other:?}"),
    };

    set(
        "UPDATE videos SET status = 'archived' WHERE id = $1",
        video.to_string(),
    )
    .await;
    undecodable(videos::get(&db, &video).await.unwrap_err(), "status");
    undecodable(
        videos::list_by_creator(&db, &creator, None, 10)
            .await
            .unwrap_err(),
        "status",
    );

    set(
        "UPDATE products SET status = 'hidden' WHERE id = $1",
        product.id.to_string(),
    )
    .await;
    undecodable(products::get(&db, &product.id).await.unwrap_err(), "status");
    set(
        "UPDATE products SET status = 'active', currency = 'XYZ' WHERE id = $1",
        product.id.to_string(),
    )
    .await;
    undecodable(
        products::get(&db, &product.id).await.unwrap_err(),
        "currency",
    );
    set(
        "UPDATE products SET currency = 'JPY' WHERE id = $1",
        product.id.to_string(),
    )
    .await;
    assert_eq!(
        products::get(&db, &product.id).await.unwrap().unwrap(),
        product,
        "read as before once the value is one the code knows"
    );
}
