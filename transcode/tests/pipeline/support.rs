//! What the tests share: the shared media files, the default options, and ffprobe/ffmpeg read
//! the way a viewer's player would see the result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vitrine_transcode::ladder;
use vitrine_transcode::pipeline::{transcode, TranscodeError, TranscodeOptions, TranscodeOutput};
use vitrine_transcode::probe::probe;

/// Two rungs keep these tests quick; the full default ladder is exercised end to end.
pub const DEFAULT_SHORT_SIDES: [u32; 2] = [720, 360];
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/media")
        .join(name)
}

/// The default ladder for a file, planned from its probed display size.
pub fn default_options(input: &Path) -> TranscodeOptions {
    let info = probe(input, PROBE_TIMEOUT).expect("the test input probes");
    let mut opts =
        TranscodeOptions::new(ladder::plan(info.width, info.height, &DEFAULT_SHORT_SIDES));
    opts.stall_timeout = Duration::from_secs(30);
    opts
}

pub fn run(input: &Path, out_dir: &Path) -> Result<TranscodeOutput, TranscodeError> {
    let never = AtomicBool::new(false);
    transcode(input, out_dir, &default_options(input), &mut |_| {}, &never)
}

/// `ffprobe -of flat` as a map: `streams.stream.0.width` → `720`, `format.duration` → `2.02`.
pub fn ffprobe(path: &Path, args: &[&str]) -> HashMap<String, String> {
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

pub struct Probed {
    pub streams: Vec<HashMap<String, String>>,
    pub duration: f64,
}

pub fn ffprobe_file(path: &Path) -> Probed {
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
    pub fn stream(&self, codec_type: &str) -> Option<&HashMap<String, String>> {
        self.streams.iter().find(|s| s["codec_type"] == codec_type)
    }

    pub fn video_size(&self) -> (u32, u32) {
        let video = self.stream("video").expect("a video stream");
        (
            video["width"].parse().unwrap(),
            video["height"].parse().unwrap(),
        )
    }
}

/// Presentation times (ms) of the keyframes in a file's video stream.
pub fn keyframe_times_ms(path: &Path) -> Vec<i64> {
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
pub fn top_level_boxes(path: &Path) -> Vec<String> {
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

/// Presentation times (seconds) of one stream's packets, in order.
pub fn packet_times(path: &Path, stream: &str) -> Vec<f64> {
    let mut times: Vec<f64> = packets(path, stream)
        .into_iter()
        .map(|(pts, _)| pts)
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// `(pts, duration)` in seconds of one stream's packets.
pub fn packets(path: &Path, stream: &str) -> Vec<(f64, f64)> {
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
pub fn stream_end(path: &Path, stream: &str) -> f64 {
    packets(path, stream)
        .into_iter()
        .map(|(pts, duration)| pts + duration)
        .fold(0.0, f64::max)
}

/// The first `percent` % of a shared media file, as an upload cut short would leave it.
pub fn cut(name: &str, percent: u64) -> tempfile::NamedTempFile {
    let bytes = std::fs::read(media(name)).unwrap();
    let kept = &bytes[..bytes.len() * percent as usize / 100];
    let file = tempfile::Builder::new().suffix(".mp4").tempfile().unwrap();
    std::fs::write(file.path(), kept).unwrap();
    file
}

/// The decoded frames of a file's first video stream, hashed (`ffmpeg -f framemd5`).
pub fn decoded_frame_hashes(path: &Path) -> Vec<String> {
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

/// Mean volume of a file's first audio stream in dB (`ffmpeg -af volumedetect`).
pub fn mean_volume_db(path: &Path) -> f64 {
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
pub fn two_audio_track_mkv(dir: &Path) -> PathBuf {
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
