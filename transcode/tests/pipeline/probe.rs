//! Probing: what an upload is, shown upright, and every refusal with a reason the creator can
//! act on.

use std::time::{Duration, Instant};

use vitrine_transcode::probe::{probe, ProbeError};

use crate::support::{cut, media, PROBE_TIMEOUT};

#[test]
fn probe_shows_a_rotated_phone_video_at_its_display_size() {
    let info = probe(&media("mb_rotate-buck-bunny.mp4"), PROBE_TIMEOUT).unwrap();

    // Coded 1920x1080 with image-orientation=rotate-90 (ffprobe: rotation -90, i.e. a quarter
    // turn clockwise to show it upright).
    assert_eq!((info.width, info.height), (1080, 1920));
    assert_eq!(info.rotation, 90);
    // ffprobe says 2005 ms: the end of the audio track. GStreamer 1.22's Discoverer reports this
    // fragmented MP4 (no mvhd/mehd duration) by its video track, 1875 ms.
    assert!(
        (1875..=2005).contains(&info.duration_ms),
        "{}",
        info.duration_ms
    );
    assert_eq!(info.video_codec, "H.264 / AVC");
    assert!(info.has_audio);
    assert_eq!(info.framerate, Some((24, 1)));
}

#[test]
fn probe_refuses_audio_only_files_because_they_have_no_video() {
    for name in ["mb_trim-buck-bunny.aac", "mp4p_afconvert-aac-0.5s.mp4"] {
        let error = probe(&media(name), PROBE_TIMEOUT).unwrap_err();
        assert!(matches!(error, ProbeError::NoVideo), "{name}: {error:?}");
        assert_eq!(
            error.to_string(),
            "the file has no video stream (audio only)"
        );
    }
}

#[test]
fn probe_refuses_a_text_file_as_not_media() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.mp4");
    std::fs::write(&path, "this is a shopping list, not a video\n".repeat(50)).unwrap();

    let error = probe(&path, PROBE_TIMEOUT).unwrap_err();

    assert!(matches!(error, ProbeError::NotMedia(_)), "{error:?}");
}

#[test]
fn probe_refuses_a_truncated_file_without_hanging() {
    let started = Instant::now();

    let result = probe(&media("mp4ff_init_truncated.mp4"), Duration::from_secs(3));

    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[test]
fn probe_names_vvc_as_an_unsupported_codec() {
    let error = probe(&media("mp4ff_vvc_400kbps_2s.mp4"), PROBE_TIMEOUT).unwrap_err();

    assert!(matches!(error, ProbeError::Unsupported(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "unsupported video codec: H.266/VVC (no decoder available)"
    );
}

#[test]
fn probe_refuses_a_one_pixel_video_as_too_small() {
    let error = probe(&media("mp_test_video.mp4"), PROBE_TIMEOUT).unwrap_err();

    assert!(
        matches!(
            error,
            ProbeError::TooSmall {
                width: 1,
                height: 1
            }
        ),
        "{error:?}"
    );
}

#[test]
fn probe_says_how_much_of_a_file_without_its_index_arrived() {
    // mp4ff_bbb_prog_10s.mp4 has its index at the end: cut at 60 %, nothing can be played.
    let source = cut("mp4ff_bbb_prog_10s.mp4", 60);

    let result = probe(source.path(), PROBE_TIMEOUT);

    let Err(error @ ProbeError::Truncated { percent }) = &result else {
        panic!("expected a truncation, got {result:?}");
    };
    assert!((58..=62).contains(percent), "{error}");
    assert!(error.to_string().contains("truncated at"), "{error}");
}
