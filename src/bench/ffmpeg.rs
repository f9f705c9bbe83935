//! The ffmpeg side of the transcode benchmark: the command an operator would write for the same
//! job, the SSIM of each rendition against the source (measured with ffmpeg too), and the command
//! printed so that anyone can run it again.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context as _};
use vitrine_transcode::gst_util::path_str;
use vitrine_transcode::ladder::{self, Rung, X264_PRESET};

use super::job::{Source, SEGMENT_SECONDS};

/// x264enc's `vbv-buf-capacity` default: with `pass=cbr`, Vitrine's encoders run ABR with the VBV
/// max rate equal to the bitrate and a buffer this long. ffmpeg gets the same limits.
const X264ENC_VBV_BUFFER_MS: u32 = 600;

pub(super) fn check_ffmpeg() -> anyhow::Result<()> {
    match Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => {
            bail!("`ffmpeg -version` failed ({status}): the benchmark needs a working ffmpeg")
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => bail!(
            "ffmpeg is not on PATH: the benchmark compares against it and measures SSIM with it \
             (Debian: apt-get install ffmpeg)"
        ),
        Err(error) => Err(error).context("running ffmpeg"),
    }
}

/// The ffmpeg arguments that produce `rungs` into `out_dir` like Vitrine does: `mp4/<rung>.mp4`
/// (moov first) and `hls/<rung>.m3u8` with `hls/<rung>_NNNNN.ts` segments.
pub(super) fn ffmpeg_ladder_args(
    source: &Source,
    rungs: &[Rung],
    out_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let input = path_str(&source.path)?;
    let (numer, denom) = source.rate;
    let gop = source.gop().to_string();

    // [0:v]fps,split=N[s0][s1]…; [s0]scale=W:H,setsar=1,format=yuv420p[v0]; …
    let mut graph = format!("[0:v:0]fps={numer}/{denom},split={}", rungs.len());
    for i in 0..rungs.len() {
        write!(graph, "[s{i}]")?;
    }
    for (i, rung) in rungs.iter().enumerate() {
        write!(
            graph,
            ";[s{i}]scale={}:{},setsar=1,format=yuv420p[v{i}]",
            rung.width, rung.height
        )?;
    }

    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"]
        .map(String::from)
        .into();
    args.push(input.to_owned());
    args.extend(["-filter_complex".into(), graph]);
    for i in 0..rungs.len() {
        args.extend(["-map".into(), format!("[v{i}]")]);
    }
    let audio_index = rungs.len();
    if source.has_audio {
        args.extend(["-map".into(), "0:a:0".into()]);
    }
    args.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            X264_PRESET,
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
        ]
        .map(String::from),
    );
    for (i, rung) in rungs.iter().enumerate() {
        // x264enc takes kbit/s; Vitrine rounds up.
        let kbps = rung.video_bitrate.div_ceil(1000);
        let buffer = kbps * X264ENC_VBV_BUFFER_MS / 1000;
        args.extend([
            format!("-b:v:{i}"),
            format!("{kbps}k"),
            format!("-maxrate:v:{i}"),
            format!("{kbps}k"),
            format!("-bufsize:v:{i}"),
            format!("{buffer}k"),
        ]);
    }
    if source.has_audio {
        args.extend([
            "-c:a".into(),
            "aac".into(),
            "-b:a".into(),
            format!("{}k", ladder::AUDIO_BITRATE / 1000),
            "-ar".into(),
            ladder::AUDIO_RATE.to_string(),
            "-ac".into(),
            ladder::AUDIO_CHANNELS.to_string(),
        ]);
    }
    // One encode per stream, muxed twice by `tee`: parameter sets go in the global header, from
    // which both the MP4 (avcC) and the MPEG-TS muxer (in-band before keyframes) take them.
    args.extend(["-flags", "+global_header", "-f", "tee"].map(String::from));

    let mut outputs = Vec::new();
    for (i, rung) in rungs.iter().enumerate() {
        let select = if source.has_audio {
            format!("{i},{audio_index}")
        } else {
            i.to_string()
        };
        let mp4 = path_str(&out_dir.join("mp4").join(format!("{}.mp4", rung.name)))?.to_owned();
        let hls = out_dir.join("hls");
        let segments = path_str(&hls.join(format!("{}_%05d.ts", rung.name)))?.to_owned();
        let playlist = path_str(&hls.join(format!("{}.m3u8", rung.name)))?.to_owned();
        for path in [&mp4, &segments, &playlist] {
            // The tee muxer's own syntax: these would split or escape the slave list.
            ensure!(
                !path.contains(['[', ']', '|', ':', '\\', '\'']),
                "output path {path} has a character the tee muxer cannot take"
            );
        }
        outputs.push(format!("[select={select}:f=mp4:movflags=+faststart]{mp4}"));
        // No hls_playlist_type=vod: ffmpeg would then write the playlist only at the end, while
        // Vitrine's hlssink2 rewrites it after every segment.
        outputs.push(format!(
            "[select={select}:f=hls:hls_time={SEGMENT_SECONDS}:hls_list_size=0:\
             hls_segment_filename={segments}]{playlist}"
        ));
    }
    args.push(outputs.join("|"));
    Ok(args)
}

/// One rung's SSIM against the source, both at the source's display size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ssim {
    pub y: f64,
    pub all: f64,
}

pub(super) fn mp4s(out_dir: &Path, rungs: &[Rung]) -> Vec<PathBuf> {
    rungs
        .iter()
        .map(|rung| out_dir.join("mp4").join(format!("{}.mp4", rung.name)))
        .collect()
}

/// SSIM of each rendition against the source, in one ffmpeg run (the source is decoded once).
///
/// Every rendition is scaled back up to the source's display size with the same scaler, and
/// compared with the source as ffmpeg shows it: rotation applied (ffmpeg autorotates input),
/// pixel aspect squared. Timestamps start at zero on both inputs, so an encoder delay or an edit
/// list does not shift the frame pairs.
pub(super) fn ssim_against_source(
    source: &Path,
    (width, height): (u32, u32),
    renditions: &[PathBuf],
) -> anyhow::Result<Vec<Ssim>> {
    for rendition in renditions {
        ensure!(
            rendition.is_file(),
            "{} was not produced",
            rendition.display()
        );
    }
    let normalise = format!(
        "setpts=PTS-STARTPTS,settb=AVTB,scale={width}:{height}:flags=bicubic,\
         setsar=1,format=yuv420p"
    );
    let mut graph = format!("[0:v:0]{normalise},split={}", renditions.len());
    for i in 0..renditions.len() {
        write!(graph, "[ref{i}]")?;
    }
    for i in 0..renditions.len() {
        let input = i + 1;
        write!(
            graph,
            ";[{input}:v:0]{normalise}[dist{i}];[dist{i}][ref{i}]ssim@r{i}=shortest=1"
        )?;
    }

    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-nostdin", "-nostats", "-i"]);
    command.arg(source);
    for rendition in renditions {
        command.arg("-i").arg(rendition);
    }
    command.args(["-filter_complex", &graph, "-an", "-f", "null", "-"]);
    let output = command.output().context("running ffmpeg for SSIM")?;
    let log = String::from_utf8_lossy(&output.stderr);
    let tail = || log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
    ensure!(
        output.status.success(),
        "ffmpeg's SSIM run failed ({}):\n{}",
        output.status,
        tail()
    );
    renditions
        .iter()
        .enumerate()
        .map(|(i, rendition)| {
            parse_ssim(&log, &format!("r{i}")).with_context(|| {
                format!(
                    "no SSIM for {} in ffmpeg's log:\n{}",
                    rendition.display(),
                    tail()
                )
            })
        })
        .collect()
}

/// Reads `[ssim@<id> @ 0x…] SSIM Y:0.97 (15.1) U:… V:… All:0.969658 (15.18)` from ffmpeg's log.
fn parse_ssim(log: &str, id: &str) -> Option<Ssim> {
    let prefix = format!("[ssim@{id} @");
    let line = log
        .lines()
        .find_map(|line| Some(&line[line.find(&prefix)?..]))?;
    let value = |key: &str| -> Option<f64> {
        let start = line.find(key)? + key.len();
        line[start..].split_whitespace().next()?.parse().ok()
    };
    Some(Ssim {
        y: value(" Y:")?,
        all: value(" All:")?,
    })
}

/// `program arg…` as one line a POSIX shell runs the same way.
pub(super) fn shell_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_owned())
        .chain(args.iter().map(|arg| shell_quote(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSIM_LOG: &str = "  ssim:default -> Stream #0:0 (wrapped_avframe)\n\
        [ssim@r1 @ 0x55a3f8dfb140] SSIM Y:0.947622 (12.808478) U:0.953649 (13.339401) \
        V:0.940538 (12.257636) All:0.947446 (12.793911)\n\
        [ssim@r0 @ 0x55a3f8df9b80] SSIM Y:0.967655 (14.901962) U:0.977653 (16.507888) \
        V:0.969676 (15.182134) All:0.969658 (15.179616)\n";

    fn portrait_source(has_audio: bool) -> Source {
        Source {
            path: PathBuf::from("/in/clip.mp4"),
            width: 1080,
            height: 1920,
            rotation: 0,
            codec: "H.264".into(),
            has_audio,
            duration_seconds: 30.0,
            rate: (30, 1),
        }
    }

    #[test]
    fn each_rungs_ssim_is_read_from_its_own_filter() {
        assert_eq!(
            parse_ssim(SSIM_LOG, "r0"),
            Some(Ssim {
                y: 0.967655,
                all: 0.969658
            })
        );
        assert_eq!(parse_ssim(SSIM_LOG, "r1").map(|s| s.all), Some(0.947446));
        assert_eq!(parse_ssim(SSIM_LOG, "r2"), None);
    }

    #[test]
    fn ffmpeg_gets_vitrines_bitrates_vbv_and_gop() {
        let source = portrait_source(true);
        let rungs = ladder::plan(1080, 1920, &[720, 360]);
        let args = ffmpeg_ladder_args(&source, &rungs, Path::new("/out")).unwrap();
        let line = args.join(" ");
        // The pipeline's own settings, read from it.
        assert!(
            line.contains(&format!(
                "-preset {X264_PRESET} -g 60 -keyint_min 60 -sc_threshold 0"
            )),
            "{line}"
        );
        let audio = format!(
            "-c:a aac -b:a {}k -ar {} -ac {}",
            ladder::AUDIO_BITRATE / 1000,
            ladder::AUDIO_RATE,
            ladder::AUDIO_CHANNELS
        );
        assert!(line.contains(&audio), "{line}");
        // 720x1280 at 0.1 bit per pixel: 2765 kbit/s, VBV buffer 600 ms of it.
        assert!(
            line.contains("-b:v:0 2765k -maxrate:v:0 2765k -bufsize:v:0 1659k"),
            "{line}"
        );
        assert!(
            line.contains("split=2[s0][s1];[s0]scale=720:1280"),
            "{line}"
        );
        let tee = args.last().unwrap();
        assert!(tee.starts_with("[select=0,2:f=mp4:movflags=+faststart]/out/mp4/720p.mp4|"));
        assert!(tee.contains("[select=1,2:f=hls:hls_time=2:hls_list_size=0:"));
        assert!(tee.ends_with("]/out/hls/360p.m3u8"), "{tee}");
    }

    #[test]
    fn without_audio_ffmpeg_maps_and_selects_video_only() {
        let source = portrait_source(false);
        let rungs = ladder::plan(1080, 1920, &[360]);
        let args = ffmpeg_ladder_args(&source, &rungs, Path::new("/out")).unwrap();
        assert!(!args.iter().any(|a| a == "0:a:0" || a == "aac"));
        assert!(args.last().unwrap().starts_with("[select=0:f=mp4"));
    }

    #[test]
    fn the_printed_command_survives_a_shell() {
        assert_eq!(shell_quote("-y"), "-y");
        assert_eq!(shell_quote("[v0]"), "'[v0]'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
