//! A run as the worker sees it: progress, cancellation, a stalled source, and the length and time
//! limits.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vitrine_transcode::ladder;
use vitrine_transcode::pipeline::{transcode, TranscodeError, TranscodeOptions};

use crate::support::{default_options, media, DEFAULT_SHORT_SIDES};

#[test]
fn progress_rises_to_the_end() {
    let source = media("mp_smpte-2997.mp4");
    let out = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    let mut reported = Vec::new();

    transcode(
        &source,
        out.path(),
        &default_options(&source),
        &mut |fraction| reported.push(fraction),
        &never,
    )
    .unwrap();

    assert!(reported.len() >= 3, "{reported:?}");
    assert!(
        reported.windows(2).all(|pair| pair[0] < pair[1]),
        "{reported:?}"
    );
    assert!(
        reported.iter().all(|f| (0.0..=1.0).contains(f)),
        "{reported:?}"
    );
    assert_eq!(reported.last(), Some(&1.0));
}

#[test]
fn cancelling_stops_the_transcode_promptly() {
    let source = media("mp_smpte-2997.mp4");
    let out = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let mut cancelled_at = None;

    let result = transcode(
        &source,
        out.path(),
        &default_options(&source),
        &mut |_| {
            cancel.store(true, Ordering::Relaxed);
            cancelled_at.get_or_insert_with(Instant::now);
        },
        &cancel,
    );

    assert!(
        matches!(result, Err(TranscodeError::Cancelled)),
        "{result:?}"
    );
    let stopped_after = cancelled_at.expect("progress was reported").elapsed();
    // Normally well under a second; a teardown stuck in GStreamer is abandoned after 2 s.
    assert!(stopped_after < Duration::from_secs(3), "{stopped_after:?}");
}

/// A source that stops delivering bytes mid-file without closing (a hung network mount, a stuck
/// disk): the pipeline must give up on its own once the position stops moving.
#[test]
fn a_source_that_stops_delivering_is_detected_as_stalled() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stuck.mp4");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // moov comes first in this file, so frames decode from the first half alone.
    let bytes = std::fs::read(media("mp_smpte-2997.mp4")).unwrap();
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            use std::io::Write;
            // GStreamer may open the file and close it again before the reader that stays (the
            // write then fails with a broken pipe): write again to the next reader.
            let mut pipe = loop {
                let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                if pipe.write_all(&bytes[..bytes.len() / 2]).is_ok() {
                    break pipe;
                }
            };
            let _ = pipe.flush();
            // Hold the pipe open, sending nothing, long past the stall timeout; closing it then
            // lets the torn-down source thread return from its read.
            std::thread::sleep(Duration::from_secs(10));
        }
    });
    let mut opts = TranscodeOptions::new(ladder::plan(1920, 1080, &DEFAULT_SHORT_SIDES));
    // Long enough for the first frames on a loaded 2-core machine: a stall before any frame is
    // reported as undecodable input instead, which is a different test.
    opts.stall_timeout = Duration::from_secs(4);
    let never = AtomicBool::new(false);
    let started = Instant::now();

    let result = transcode(&fifo, dir.path(), &opts, &mut |_| {}, &never);

    assert!(
        matches!(result, Err(TranscodeError::Stalled(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    writer.join().unwrap();
}

/// A file's announced duration is not trusted: the limit holds on what decodes. (This one
/// announces its 10 s honestly; the limit is set below it, as if it had announced nothing.)
#[test]
fn decoding_past_the_duration_limit_fails_with_the_reason() {
    let source = media("mp4ff_bbb_prog_10s.mp4");
    let out = tempfile::tempdir().unwrap();
    let mut opts = default_options(&source);
    opts.max_duration = Some(Duration::from_secs(3));
    let never = AtomicBool::new(false);
    let mut furthest = 0.0f64;
    let result = transcode(
        &source,
        out.path(),
        &opts,
        &mut |p| furthest = furthest.max(p),
        &never,
    );
    match result {
        Err(TranscodeError::Media(reason)) => {
            assert!(reason.contains("limit of 3 s"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        furthest < 0.6,
        "stopped soon after 3 of 10 s, not at {furthest}"
    );
}

#[test]
fn an_attempt_stops_at_its_time_budget() {
    let source = media("mp4ff_bbb_prog_10s.mp4");
    let out = tempfile::tempdir().unwrap();
    let mut opts = default_options(&source);
    // The budget is checked with each progress report (every 250 ms), and this clip takes about
    // half a second on an idle machine: a budget much shorter than the first reports ends the
    // attempt before the clip can.
    opts.time_budget = Some(Duration::from_millis(100));
    let never = AtomicBool::new(false);
    let started = Instant::now();
    let result = transcode(&source, out.path(), &opts, &mut |_| {}, &never);
    assert!(
        matches!(result, Err(TranscodeError::OverBudget(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
