//! Probe, ladder and transcode against real uploads from `/work/shared/media` (see its
//! MANIFEST.tsv), checked the way a viewer would see the result: with ffprobe and an image decoder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vitrine_transcode::{ladder, remux};

/// Two rungs keep these tests quick; the full default ladder is exercised end to end.
const DEFAULT_SHORT_SIDES: [u32; 2] = [720, 360];
use vitrine_transcode::pipeline::{transcode, TranscodeError, TranscodeOptions, TranscodeOutput};
use vitrine_transcode::probe::{probe, ProbeError};

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/media")
        .join(name)
}

/// The default ladder for a file, planned from its probed display size.
fn default_options(input: &Path) -> TranscodeOptions {
    let info = probe(input, PROBE_TIMEOUT).expect("the test input probes");
    let mut opts =
        TranscodeOptions::new(ladder::plan(info.width, info.height, &DEFAULT_SHORT_SIDES));
    opts.stall_timeout = Duration::from_secs(30);
    opts
}

fn run(input: &Path, out_dir: &Path) -> Result<TranscodeOutput, TranscodeError> {
    let never = AtomicBool::new(false);
    transcode(input, out_dir, &default_options(input), &mut |_| {}, &never)
}

/// `ffprobe -of flat` as a map: `streams.stream.0.width` → `720`, `format.duration` → `2.02`.
fn ffprobe(path: &Path, args: &[&str]) -> HashMap<String, String> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-of", "flat"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "ffprobe {}: {:?}",
        path.display(),
        output
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

struct Probed {
    streams: Vec<HashMap<String, String>>,
    duration: f64,
}

fn ffprobe_file(path: &Path) -> Probed {
    let flat = ffprobe(path, &["-show_streams", "-show_format"]);
    let mut streams = Vec::new();
    for index in 0.. {
        let prefix = format!("streams.stream.{index}.");
        let stream: HashMap<String, String> = flat
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_owned(), v.clone())))
            .collect();
        if stream.is_empty() {
            break;
        }
        streams.push(stream);
    }
    Probed {
        streams,
        duration: flat["format.duration"].parse().unwrap(),
    }
}

impl Probed {
    fn stream(&self, codec_type: &str) -> Option<&HashMap<String, String>> {
        self.streams.iter().find(|s| s["codec_type"] == codec_type)
    }

    fn video_size(&self) -> (u32, u32) {
        let video = self.stream("video").expect("a video stream");
        (
            video["width"].parse().unwrap(),
            video["height"].parse().unwrap(),
        )
    }
}

/// Presentation times (ms) of the keyframes in a file's video stream.
fn keyframe_times_ms(path: &Path) -> Vec<i64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=pts_time,flags", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let mut times: Vec<i64> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once(','))
        .filter(|(_, flags)| flags.contains('K'))
        .map(|(pts, _)| (pts.parse::<f64>().unwrap() * 1000.0).round() as i64)
        .collect();
    times.sort_unstable();
    times
}

/// The four-character types of an MP4's top-level boxes, in file order.
fn top_level_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut boxes = Vec::new();
    let mut offset = 0usize;
    while offset + 8 <= data.len() {
        let size = u32::from_be_bytes(data[offset..offset + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&data[offset + 4..offset + 8]).into_owned();
        let size = match size {
            1 => u64::from_be_bytes(data[offset + 8..offset + 16].try_into().unwrap()),
            0 => (data.len() - offset) as u64,
            size => size,
        };
        boxes.push(kind);
        offset += size as usize;
    }
    boxes
}

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
fn an_undecodable_bitstream_fails_as_a_media_error() {
    let source = media("exo_invalid-bitstream.webm");
    let out = tempfile::tempdir().unwrap();
    let rungs = ladder::plan(320, 240, &DEFAULT_SHORT_SIDES);
    let never = AtomicBool::new(false);
    let started = Instant::now();

    let result = transcode(
        &source,
        out.path(),
        &TranscodeOptions::new(rungs),
        &mut |_| {},
        &never,
    );

    assert!(
        matches!(result, Err(TranscodeError::Media(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_truncated_upload_fails_as_a_media_error_without_hanging() {
    let out = tempfile::tempdir().unwrap();
    let mut opts = TranscodeOptions::new(ladder::plan(1280, 720, &DEFAULT_SHORT_SIDES));
    opts.stall_timeout = Duration::from_secs(3);
    let never = AtomicBool::new(false);
    let started = Instant::now();

    let result = transcode(
        &media("mp4ff_init_truncated.mp4"),
        out.path(),
        &opts,
        &mut |_| {},
        &never,
    );

    assert!(
        matches!(result, Err(TranscodeError::Media(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_file_without_video_fails_as_a_media_error() {
    let out = tempfile::tempdir().unwrap();
    let rungs = ladder::plan(1280, 720, &DEFAULT_SHORT_SIDES);
    let never = AtomicBool::new(false);

    let result = transcode(
        &media("mb_trim-buck-bunny.aac"),
        out.path(),
        &TranscodeOptions::new(rungs),
        &mut |_| {},
        &never,
    );

    assert!(
        matches!(result, Err(TranscodeError::Media(_))),
        "{result:?}"
    );
}

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

/// Presentation times (seconds) of one stream's packets, in order.
fn packet_times(path: &Path, stream: &str) -> Vec<f64> {
    let mut times: Vec<f64> = packets(path, stream)
        .into_iter()
        .map(|(pts, _)| pts)
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// `(pts, duration)` in seconds of one stream's packets.
fn packets(path: &Path, stream: &str) -> Vec<(f64, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream])
        .args([
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (pts, duration) = l.trim().trim_end_matches(',').split_once(',')?;
            Some((pts.parse().ok()?, duration.parse().unwrap_or(0.0)))
        })
        .collect()
}

/// When a stream stops presenting: the latest packet end.
fn stream_end(path: &Path, stream: &str) -> f64 {
    packets(path, stream)
        .into_iter()
        .map(|(pts, duration)| pts + duration)
        .fold(0.0, f64::max)
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

/// The first `percent` % of a shared media file, as an upload cut short would leave it.
fn cut(name: &str, percent: u64) -> tempfile::NamedTempFile {
    let bytes = std::fs::read(media(name)).unwrap();
    let kept = &bytes[..bytes.len() * percent as usize / 100];
    let file = tempfile::Builder::new().suffix(".mp4").tempfile().unwrap();
    std::fs::write(file.path(), kept).unwrap();
    file
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

/// The decoded frames of a file's first video stream, hashed (`ffmpeg -f framemd5`).
fn decoded_frame_hashes(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.rsplit(',').next().unwrap().trim().to_owned())
        .collect()
}

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

/// Mean volume of a file's first audio stream in dB (`ffmpeg -af volumedetect`).
fn mean_volume_db(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&out.stderr);
    log.lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no volume in: {log}"))
}

/// A 2 s Matroska file made by ffmpeg: H.264 with B-frames, whose first frame is stamped 21 ms
/// after the stream start; audio track 1 is silence, track 2 a tone marked as the default.
fn two_audio_track_mkv(dir: &Path) -> PathBuf {
    let source = dir.join("two-audio.mkv");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=2",
        ])
        .args(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=48000:duration=2",
        ])
        .args(["-map", "0:v", "-map", "1:a", "-map", "2:a", "-t", "2"])
        .args(["-c:v", "libx264", "-c:a", "aac"])
        .args(["-disposition:a:0", "0", "-disposition:a:1", "default"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(made.success());
    source
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
