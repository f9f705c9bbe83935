//! What comes out of a transcode, checked as a viewer's player sees it: sizes, orientation,
//! codecs, keyframes, frame rate, audio, duration and the playlists.

use std::process::Command;

use crate::support::{
    cut, ffprobe, ffprobe_file, keyframe_times_ms, mean_volume_db, media, packet_times, run,
    stream_end, top_level_boxes, two_audio_track_mkv,
};

#[test]
fn a_rotated_phone_video_comes_out_upright() {
    let source = media("mb_rotate-buck-bunny.mp4");
    let out = tempfile::tempdir().unwrap();

    let output = run(&source, out.path()).unwrap();

    let source_duration = ffprobe_file(&source).duration;
    let names: Vec<_> = output.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["720p", "360p"]);
    for (rendition, size) in output.renditions.iter().zip([(720, 1280), (360, 640)]) {
        let mp4 = out.path().join(&rendition.mp4);
        let probed = ffprobe_file(&mp4);
        assert_eq!(probed.video_size(), size, "{}", rendition.mp4);
        assert_eq!(probed.stream("video").unwrap()["codec_name"], "h264");
        assert_eq!(probed.stream("audio").unwrap()["codec_name"], "aac");
        assert!(
            (probed.duration - source_duration).abs() <= 0.1,
            "{}: {} s, source {} s",
            rendition.mp4,
            probed.duration,
            source_duration
        );
        let boxes = top_level_boxes(&mp4);
        let position = |kind: &str| boxes.iter().position(|b| b == kind).unwrap();
        assert!(
            position("moov") < position("mdat"),
            "not fast-start: {boxes:?}"
        );

        let playlist = std::fs::read_to_string(out.path().join(&rendition.playlist)).unwrap();
        assert!(playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
        assert!(playlist.contains("#EXT-X-ENDLIST"));
        assert!(rendition.bandwidth > 0);
    }

    let poster = image::open(out.path().join(&output.poster)).unwrap();
    assert_eq!((poster.width(), poster.height()), (720, 1280));

    let master = std::fs::read_to_string(out.path().join(&output.master_playlist)).unwrap();
    assert!(master.starts_with("#EXTM3U\n"));
    assert!(master.contains("RESOLUTION=720x1280,CODECS=\"avc1.64001f,mp4a.40.2\"\n720p.m3u8\n"));
    assert!(master.contains("RESOLUTION=360x640,CODECS=\"avc1.64001e,mp4a.40.2\"\n360p.m3u8\n"));

    assert!(
        (output.duration_ms - 2005).abs() <= 100,
        "{}",
        output.duration_ms
    );
    for file in &output.files {
        assert!(
            out.path().join(&file.path).is_file(),
            "{} listed but missing",
            file.path
        );
    }
    let listed = |path: &str| {
        output
            .files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.content_type)
    };
    assert_eq!(
        listed("hls/master.m3u8"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(listed("hls/720p_00000.ts"), Some("video/mp2t"));
    assert_eq!(listed("mp4/360p.mp4"), Some("video/mp4"));
    assert_eq!(listed("poster.jpg"), Some("image/jpeg"));
}

#[test]
fn keyframes_align_across_rungs() {
    let source = media("mp_smpte-2997.mp4");
    let out = tempfile::tempdir().unwrap();

    let output = run(&source, out.path()).unwrap();

    let [top, bottom] = &output.renditions[..] else {
        panic!("expected two rungs, got {:?}", output.renditions);
    };
    let top_keyframes = keyframe_times_ms(&out.path().join(&top.mp4));
    let bottom_keyframes = keyframe_times_ms(&out.path().join(&bottom.mp4));
    assert_eq!(top_keyframes, bottom_keyframes);
    // One keyframe per two-second segment over the ten-second clip.
    assert_eq!(top_keyframes, [0, 2000, 4000, 6000, 8000, 10000]);

    let segments = |playlist: &str| {
        std::fs::read_to_string(out.path().join(playlist))
            .unwrap()
            .matches("#EXTINF")
            .count()
    };
    assert_eq!(segments(&top.playlist), segments(&bottom.playlist));
}

#[test]
fn a_small_odd_sized_video_without_audio_is_not_upscaled() {
    let source = media("exo_bear-vp9-odd-dimensions.webm");
    let out = tempfile::tempdir().unwrap();

    let output = run(&source, out.path()).unwrap();

    let [only] = &output.renditions[..] else {
        panic!("expected one rung, got {:?}", output.renditions);
    };
    let probed = ffprobe_file(&out.path().join(&only.mp4));
    assert_eq!(probed.video_size(), (160, 120));
    assert!(probed.stream("audio").is_none());
    let master = std::fs::read_to_string(out.path().join(&output.master_playlist)).unwrap();
    assert!(master.contains("CODECS=\"avc1."));
    assert!(!master.contains("mp4a"));
}

#[test]
fn an_iphone_capture_with_metadata_tracks_transcodes() {
    // HEVC Main10 HLG with Dolby Vision and five "mebx" metadata tracks.
    let source = media("mb_no-correct-videoframe-format.mov");
    let out = tempfile::tempdir().unwrap();

    let output = run(&source, out.path()).unwrap();

    let top = ffprobe_file(&out.path().join(&output.renditions[0].mp4));
    assert_eq!(top.video_size(), (720, 1280));
}

#[test]
fn variable_frame_rate_input_comes_out_at_a_constant_rate() {
    // Seven frames with a 325 ms hole in the middle: an Android slow-motion capture.
    let input = media("exo_sample_android_slow_motion.mp4");
    let out = tempfile::tempdir().unwrap();
    let output = run(&input, out.path()).expect("transcodes");
    for rendition in &output.renditions {
        let times = packet_times(&out.path().join(&rendition.mp4), "v:0");
        assert!(times.len() > 7, "the hole is filled: {times:?}");
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let (min, max) = gaps
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), g| (lo.min(*g), hi.max(*g)));
        assert!(
            max - min < 0.002,
            "constant spacing, got {min:.4}..{max:.4} s"
        );
        assert!(1.0 / min <= 60.5, "at most 60 fps");
    }
}

#[test]
fn audio_and_video_end_together_as_in_the_source() {
    let input = media("exo_sample_sef_slow_motion.mp4");
    let out = tempfile::tempdir().unwrap();
    let output = run(&input, out.path()).expect("transcodes");
    let end = stream_end;
    let source_skew = end(&input, "v:0") - end(&input, "a:0");
    for rendition in &output.renditions {
        let mp4 = out.path().join(&rendition.mp4);
        let skew = end(&mp4, "v:0") - end(&mp4, "a:0");
        assert!(
            (skew - source_skew).abs() <= 0.040,
            "{}: video ends {skew:+.3} s from audio, source {source_skew:+.3} s",
            rendition.name
        );
    }
}

#[test]
fn of_several_audio_tracks_the_default_one_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let source = two_audio_track_mkv(dir.path());
    let out = tempfile::tempdir().unwrap();

    let output = run(&source, out.path()).unwrap();

    let volume = mean_volume_db(&out.path().join(&output.renditions[0].mp4));
    assert!(volume > -40.0, "the tone, not the silence: {volume} dB");
}

#[test]
fn frames_never_go_back_in_time_even_when_the_source_starts_late() {
    let dir = tempfile::tempdir().unwrap();
    let source = two_audio_track_mkv(dir.path());
    let out = tempfile::tempdir().unwrap();

    let output = run(&source, out.path()).unwrap();

    let mp4 = out.path().join(&output.renditions[0].mp4);
    let listed = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=dts_time,pts_time", "-of", "csv=p=0"])
        .arg(&mp4)
        .output()
        .unwrap();
    let packets: Vec<(f64, f64)> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(pts, dts)| (pts.parse().unwrap(), dts.parse().unwrap()))
        .collect();
    assert!(packets.len() >= 45, "{packets:?}");
    assert!(
        packets.windows(2).all(|p| p[1].1 > p[0].1),
        "decode times strictly increase: {packets:?}"
    );
    let mut pts: Vec<i64> = packets
        .iter()
        .map(|p| (p.0 * 1000.0).round() as i64)
        .collect();
    pts.sort_unstable();
    assert!(
        pts.windows(2).all(|p| p[1] > p[0]),
        "no two frames at one time: {pts:?}"
    );
}

#[test]
fn a_clip_cut_after_most_of_it_keeps_what_decodes() {
    // mp_smpte-2997.mp4 has its index first: 10 s announced, about 7 s of it in the first 70 %.
    let source = cut("mp_smpte-2997.mp4", 70);
    let out = tempfile::tempdir().unwrap();

    let output = run(source.path(), out.path()).expect("most of the clip is there");

    assert!(
        (5_500..9_000).contains(&output.duration_ms),
        "the video is what decoded, not what the index announced: {} ms",
        output.duration_ms
    );
    let mp4 = out.path().join(&output.renditions[0].mp4);
    let seconds: f64 = ffprobe(&mp4, &["-show_entries", "format=duration"])["format.duration"]
        .trim_matches('"')
        .parse()
        .unwrap();
    assert!(
        (seconds * 1000.0 - output.duration_ms as f64).abs() < 300.0,
        "the MP4 ({seconds} s) is as long as the video says ({} ms)",
        output.duration_ms
    );
}
