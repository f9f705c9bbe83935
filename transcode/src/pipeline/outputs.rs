//! What a finished run leaves in the output directory: each rung's media playlist made a VOD
//! playlist and measured, the master playlist over them, and the list of files to upload.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use vitrine_assets::content_type_for;

use super::error::TranscodeError;
use crate::hls::{self, Variant};
use crate::images::PosterImage;
use crate::ladder::Rung;

/// The multivariant playlist, relative to the output directory.
pub const MASTER_PLAYLIST: &str = "hls/master.m3u8";

/// One rung as it came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Peak segment bitrate in bits/s, measured from the segments: the master playlist's
    /// BANDWIDTH.
    pub bandwidth: u32,
    /// Media playlist, relative to the output directory ("hls/720p.m3u8").
    pub playlist: String,
    /// Progressive MP4, relative to the output directory ("mp4/720p.mp4").
    pub mp4: String,
}

/// Everything one transcode produced; paths are relative to the output directory.
#[derive(Debug, Clone)]
pub struct TranscodeOutput {
    pub renditions: Vec<Rendition>,
    pub master_playlist: String,
    pub poster: String,
    /// The poster at several widths, JPEG and WebP, largest first.
    pub posters: Vec<PosterImage>,
    /// Animated WebP of the first seconds ("preview.webp").
    pub preview: Option<String>,
    /// WebVTT thumbnails track ("storyboard.vtt"); its cues point into the sprite sheet
    /// ("storyboard.jpg") next to it. `None` when no frame reached the storyboard.
    pub storyboard: Option<String>,
    pub duration_ms: i64,
    pub files: Vec<OutputFile>,
}

/// A produced file to upload, relative to the output directory with '/' separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub content_type: &'static str,
}

/// Finishes every rung that produced output (see [`finish_rendition`]) and writes the master
/// playlist over them. `video_codecs` are the rungs' codec strings, in ladder order; the audio
/// codec, if any, joins each.
pub(super) fn finish_renditions(
    out_dir: &Path,
    rungs: &[Rung],
    video_codecs: Vec<Option<String>>,
    audio_codec: Option<&str>,
) -> Result<Vec<Rendition>, TranscodeError> {
    let mut variants = Vec::new();
    for (rung, video_codec) in rungs.iter().zip(video_codecs) {
        let Some(rendition) = finish_rendition(out_dir, rung)? else {
            continue;
        };
        let video_codec =
            video_codec.with_context(|| format!("the {} encoder reported no caps", rung.name))?;
        let codecs = match audio_codec {
            Some(audio) => format!("{video_codec},{audio}"),
            None => video_codec,
        };
        variants.push((rendition, codecs));
    }
    if variants.is_empty() {
        return Err(TranscodeError::Media("no rendition was produced".into()));
    }
    write_master_playlist(&out_dir.join(MASTER_PLAYLIST), &variants)?;
    Ok(variants
        .into_iter()
        .map(|(rendition, _)| rendition)
        .collect())
}

/// Adds `#EXT-X-PLAYLIST-TYPE:VOD` (and `#EXT-X-ENDLIST`) to a finished media playlist and
/// measures its bitrate. `None` if the rung produced nothing.
fn finish_rendition(out_dir: &Path, rung: &Rung) -> anyhow::Result<Option<Rendition>> {
    let playlist = format!("hls/{}.m3u8", rung.name);
    let mp4 = format!("mp4/{}.mp4", rung.name);
    let playlist_path = out_dir.join(&playlist);
    if !playlist_path.is_file() || !out_dir.join(&mp4).is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&playlist_path)
        .with_context(|| format!("reading {}", playlist_path.display()))?;
    let text = hls::as_vod_playlist(&text);
    fs::write(&playlist_path, &text)
        .with_context(|| format!("writing {}", playlist_path.display()))?;

    let segments = hls::media_segments(&text);
    if segments.is_empty() {
        return Ok(None);
    }
    let hls_dir = out_dir.join("hls");
    let mut peak = 0u64;
    for (uri, seconds) in &segments {
        let bytes = fs::metadata(hls_dir.join(uri))
            .with_context(|| format!("measuring segment {uri}"))?
            .len();
        peak = peak.max(hls::segment_bps(bytes, *seconds));
    }
    Ok(Some(Rendition {
        name: rung.name.clone(),
        width: rung.width,
        height: rung.height,
        bandwidth: u32::try_from(peak).unwrap_or(u32::MAX),
        playlist,
        mp4,
    }))
}

/// The multivariant playlist over `variants` (renditions with their codecs), largest first.
fn write_master_playlist(path: &Path, variants: &[(Rendition, String)]) -> anyhow::Result<()> {
    let variants = variants
        .iter()
        .map(|(rendition, codecs)| {
            let uri = Path::new(&rendition.playlist)
                .file_name()
                .and_then(|n| n.to_str())
                .context("playlist without a file name")?;
            Ok(Variant {
                bandwidth: u64::from(rendition.bandwidth),
                width: rendition.width,
                height: rendition.height,
                codecs: Some(codecs),
                uri,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text = hls::master_playlist(&variants);
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Every file a transcode leaves for upload, in a stable order.
pub(super) fn list_outputs(out_dir: &Path) -> anyhow::Result<Vec<OutputFile>> {
    let mut files = Vec::new();
    for dir in ["hls", "mp4"] {
        let mut paths: Vec<PathBuf> = fs::read_dir(out_dir.join(dir))
            .with_context(|| format!("listing {dir}"))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        paths.sort();
        for path in paths {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(content_type) = content_type(name) {
                files.push(OutputFile {
                    path: format!("{dir}/{name}"),
                    content_type,
                });
            }
        }
    }
    // Images and tracks at the top level (posters, storyboard, preview).
    let mut root: Vec<String> = fs::read_dir(out_dir)
        .context("listing the output directory")?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    root.sort();
    for name in root {
        if let Some(content_type) = content_type(&name) {
            files.push(OutputFile {
                path: name,
                content_type,
            });
        }
    }
    Ok(files)
}

/// Extensions of the files a transcode produces for upload. Anything else in the output
/// directory (mp4mux's `.moov-scratch` files) stays behind.
const UPLOADED: [&str; 6] = ["m3u8", "ts", "mp4", "jpg", "webp", "vtt"];

/// The content type of an output to upload, `None` for a file that is not one.
fn content_type(file_name: &str) -> Option<&'static str> {
    let extension = file_name.rsplit_once('.')?.1;
    UPLOADED
        .contains(&extension)
        .then(|| content_type_for(file_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_outputs_get_a_content_type() {
        assert_eq!(
            content_type("720p.m3u8"),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(content_type("720p_00000.ts"), Some("video/mp2t"));
        assert_eq!(content_type("720p.mp4.moov-scratch"), None);
        assert_eq!(content_type("poster-720.webp"), Some("image/webp"));
        assert_eq!(content_type("storyboard.vtt"), Some("text/vtt"));
    }
}
