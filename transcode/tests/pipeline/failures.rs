//! Inputs that cannot be transcoded fail as media errors (the creator's file, not a retry), with
//! the reason, and without hanging.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use vitrine_transcode::ladder;
use vitrine_transcode::pipeline::{transcode, TranscodeError, TranscodeOptions};

use crate::support::{cut, media, run, DEFAULT_SHORT_SIDES};

/// Transcodes `source` with `opts`, asserting that it fails as a media error; returns how long
/// that took.
fn media_error_after(source: &Path, opts: &TranscodeOptions) -> Duration {
    let out = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    let started = Instant::now();

    let result = transcode(source, out.path(), opts, &mut |_| {}, &never);

    assert!(
        matches!(result, Err(TranscodeError::Media(_))),
        "{result:?}"
    );
    started.elapsed()
}

#[test]
fn an_undecodable_bitstream_fails_as_a_media_error() {
    let opts = TranscodeOptions::new(ladder::plan(320, 240, &DEFAULT_SHORT_SIDES));

    let took = media_error_after(&media("exo_invalid-bitstream.webm"), &opts);

    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_truncated_upload_fails_as_a_media_error_without_hanging() {
    let mut opts = TranscodeOptions::new(ladder::plan(1280, 720, &DEFAULT_SHORT_SIDES));
    opts.stall_timeout = Duration::from_secs(3);

    let took = media_error_after(&media("mp4ff_init_truncated.mp4"), &opts);

    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_file_without_video_fails_as_a_media_error() {
    let opts = TranscodeOptions::new(ladder::plan(1280, 720, &DEFAULT_SHORT_SIDES));

    media_error_after(&media("mb_trim-buck-bunny.aac"), &opts);
}

#[test]
fn a_clip_cut_before_half_of_it_fails_saying_where_it_was_cut() {
    let source = cut("mp_smpte-2997.mp4", 30);
    let out = tempfile::tempdir().unwrap();

    let result = run(source.path(), out.path());

    let Err(TranscodeError::Media(reason)) = &result else {
        panic!("expected a media error, got {result:?}");
    };
    assert!(
        reason.contains("truncated at 29 %") || reason.contains("truncated at 30 %"),
        "{reason}"
    );
    assert!(reason.contains("of its 10.0 s"), "{reason}");
}
