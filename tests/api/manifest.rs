//! Every real-world file in `../shared/media/MANIFEST.tsv` ends as its manifest expects: `ready`
//! with upright, unstretched, never-upscaled output; or refused / `failed` with a reason. Never a
//! hang, never a crashed worker.

use std::time::{Duration, Instant};

use crate::common::{media, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

struct Row {
    file: String,
    expect: String,
    display: Option<(u32, u32)>,
    /// The container says to turn the picture a quarter (90 or 270 degrees).
    quarter_turn: bool,
}

/// The source's pixel aspect ratio as ffprobe reads it (1.0 when square or unknown). The
/// manifest's `display_wxh` is the coded size rotated and ignores it, so a 320x240 file with
/// 4:3 pixels really displays as 16:9.
fn pixel_aspect(file: &str) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=sample_aspect_ratio",
            "-of",
            "csv=p=0",
        ])
        .arg(media(file))
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().split_once(':') {
        Some((n, d)) => match (n.parse::<f64>(), d.parse::<f64>()) {
            (Ok(n), Ok(d)) if n > 0.0 && d > 0.0 => n / d,
            _ => 1.0,
        },
        None => 1.0,
    }
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(media("MANIFEST.tsv")).expect("the media manifest");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, expect, display, rotation) = (
        col("file"),
        col("expect"),
        col("display_wxh"),
        col("rotation"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[file].to_owned(),
                expect: f[expect].to_owned(),
                display: f[display]
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))),
                quarter_turn: f[rotation]
                    .parse::<i64>()
                    .is_ok_and(|r| r.rem_euclid(180) == 90),
            }
        })
        .collect()
}

enum Outcome {
    Refused(String),
    Failed(String),
    Ready(Value),
}

/// Checks a ready video's renditions against the source's display size.
fn check_ready(row: &Row, video: &Value) -> Result<(), String> {
    let (rw, rh) = row.display.ok_or("no display size in the manifest")?;
    // Pixel aspect stretches the coded width, which is the display height after a quarter turn.
    let par = pixel_aspect(&row.file);
    let (dw, dh) = if row.quarter_turn {
        (rw, (rh as f64 * par).round() as u32)
    } else {
        ((rw as f64 * par).round() as u32, rh)
    };
    let top = &video["playback"]["mp4"][0];
    let (w, h) = (
        top["width"].as_u64().unwrap() as u32,
        top["height"].as_u64().unwrap() as u32,
    );
    if (w > h) != (dw > dh) && dw != dh {
        return Err(format!("output {w}x{h} is sideways for a {dw}x{dh} source"));
    }
    let (src_ratio, out_ratio) = (dw as f64 / dh as f64, w as f64 / h as f64);
    // Even rounding of small sizes moves the ratio a little; stretching moves it a lot.
    if (src_ratio / out_ratio - 1.0).abs() > 0.04 {
        return Err(format!(
            "output {w}x{h} is stretched for a {dw}x{dh} source"
        ));
    }
    if w.min(h) > dw.min(dh) {
        return Err(format!("output {w}x{h} is upscaled from {dw}x{dh}"));
    }
    if w % 2 != 0 || h % 2 != 0 {
        return Err(format!("output {w}x{h} has an odd dimension"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_file_in_the_media_manifest_ends_as_expected() {
    // One creator uploads the whole manifest at once: more than the uploads budget allows.
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.server.rate_limits.uploads = vitrine_api::rate::Rate {
        per_minute: 600,
        burst: 200,
    };
    let app = TestApp::spawn_with(config, vitrine::Role::All, Some(dir)).await;
    let (_, token) = app.account("creator", "tester").await;
    let rows = manifest();
    assert!(rows.len() >= 25, "the manifest lists the shared media");

    let mut pending = Vec::new();
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let r = app.upload(&token, &media(&row.file), &row.file).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status == StatusCode::CREATED {
            pending.push((i, body["id"].as_str().unwrap().to_owned()));
        } else {
            assert!(status.is_client_error(), "{}: {status} {body}", row.file);
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            outcomes.push((i, Outcome::Refused(message)));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    for (i, id) in pending {
        let left = deadline.saturating_duration_since(Instant::now());
        let v = app.wait_for(&id, &["ready", "failed"], left).await;
        outcomes.push((
            i,
            if v["status"] == "ready" {
                Outcome::Ready(v)
            } else {
                Outcome::Failed(v["error"].as_str().unwrap_or_default().to_owned())
            },
        ));
    }

    let mut problems = Vec::new();
    outcomes.sort_by_key(|(i, _)| *i);
    for (i, outcome) in &outcomes {
        let row = &rows[*i];
        let verdict = match (row.expect.as_str(), outcome) {
            ("ready", Outcome::Ready(v)) | ("either", Outcome::Ready(v)) => check_ready(row, v),
            ("reject" | "either", Outcome::Refused(reason) | Outcome::Failed(reason)) => {
                if reason.len() >= 10 {
                    Ok(())
                } else {
                    Err(format!("refused without a usable reason: {reason:?}"))
                }
            }
            ("ready", Outcome::Refused(reason) | Outcome::Failed(reason)) => {
                Err(format!("expected ready, got: {reason}"))
            }
            ("reject", Outcome::Ready(_)) => Err("expected a refusal, got ready".into()),
            (other, _) => Err(format!("unknown expectation {other}")),
        };
        let summary = match outcome {
            Outcome::Ready(v) => format!(
                "ready {}x{}",
                v["playback"]["mp4"][0]["width"], v["playback"]["mp4"][0]["height"]
            ),
            Outcome::Refused(r) => format!("refused: {r}"),
            Outcome::Failed(r) => format!("failed: {r}"),
        };
        eprintln!("{:<42} {:<7} {summary}", row.file, row.expect);
        if let Err(e) = verdict {
            problems.push(format!("{}: {e}", row.file));
        }
    }
    // The server is still healthy after all of that.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert!(
        problems.is_empty(),
        "{} files went wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
