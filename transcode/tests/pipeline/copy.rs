//! The top rung copied from the source's own H.264 (`remux`): when it is, and what the other
//! rungs do beside it.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vitrine_transcode::pipeline::{transcode, TranscodeOptions};
use vitrine_transcode::probe::probe;
use vitrine_transcode::{ladder, remux};

use crate::support::{decoded_frame_hashes, keyframe_times_ms, media, PROBE_TIMEOUT};

#[test]
fn plain_h264_at_the_top_rungs_size_is_copied_and_the_other_rungs_key_with_it() {
    // 1920x1080 High profile at 25 fps, a keyframe every 15 frames, 0.4 Mb/s: copyable.
    let source = media("mp_smpte-2997.mp4");
    let info = probe(&source, PROBE_TIMEOUT).unwrap();
    let mut opts = TranscodeOptions::new(ladder::plan(info.width, info.height, &[1080, 480, 240]));
    let plan = remux::plan(&source, &info, &opts.rungs[0], Duration::from_secs(2)).unwrap();
    assert_eq!(plan.map(|gop| gop.frames), Some(15), "the source's GOP");
    opts.copy_top = plan;
    let out = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);

    let output = transcode(&source, out.path(), &opts, &mut |_| {}, &never).unwrap();

    let top = out.path().join(&output.renditions[0].mp4);
    assert_eq!(
        decoded_frame_hashes(&top),
        decoded_frame_hashes(&source),
        "the top rung is the source's own frames, bit for bit: a copy, not an encode"
    );
    let top_keys = keyframe_times_ms(&top);
    assert!(top_keys.len() >= 10, "{top_keys:?}");
    for rendition in &output.renditions[1..] {
        let keys = keyframe_times_ms(&out.path().join(&rendition.mp4));
        assert_eq!(keys, top_keys, "{} keys with the copy", rendition.name);
    }
    // Segments are whole source GOPs (0.6 s) of 2 to 4 s, cut at the same times on every rung.
    let cuts: Vec<Vec<i64>> = output
        .renditions
        .iter()
        .map(|r| {
            let text = std::fs::read_to_string(out.path().join(&r.playlist)).unwrap();
            text.lines()
                .filter_map(|l| l.strip_prefix("#EXTINF:"))
                .map(|d| (d.trim_end_matches(',').parse::<f64>().unwrap() * 10.0).round() as i64)
                .collect()
        })
        .collect();
    assert!(cuts.windows(2).all(|pair| pair[0] == pair[1]), "{cuts:?}");
    let whole = &cuts[0][..cuts[0].len() - 1];
    assert!(
        whole.iter().all(|tenths| (20..=40).contains(tenths)),
        "segment lengths in tenths of a second: {cuts:?}"
    );
}

#[test]
fn a_rotated_or_heavy_source_is_re_encoded() {
    // Rotation metadata: a copy would play sideways wherever the player ignores it.
    let rotated = media("mb_rotate-buck-bunny.mp4");
    let info = probe(&rotated, PROBE_TIMEOUT).unwrap();
    assert!(info.plain_h264 && info.rotation != 0, "{info:?}");
    let top = &ladder::plan(info.width, info.height, &[1080])[0];
    assert_eq!((top.width, top.height), (info.width, info.height));
    let plan = remux::plan(&rotated, &info, top, Duration::from_secs(2)).unwrap();
    assert_eq!(plan, None);

    // Copyable in every way but its bitrate, four times the top rung's.
    let source = media("mp_smpte-2997.mp4");
    let info = probe(&source, PROBE_TIMEOUT).unwrap();
    let mut top = ladder::plan(info.width, info.height, &[1080])[0].clone();
    top.video_bitrate = info.video_bitrate.unwrap() / 4;
    let plan = remux::plan(&source, &info, &top, Duration::from_secs(2)).unwrap();
    assert_eq!(plan, None);
}
