//! The scrubbing storyboard: small frames every few seconds, tiled into one JPEG sprite sheet,
//! and a WebVTT "thumbnails" track whose cues point at each tile with a `#xywh=` media fragment
//! (the convention hls.js, Video.js and JW Player read).

use std::{fmt::Write as _, path::Path};

use anyhow::Context;
use image::{codecs::jpeg::JpegEncoder, RgbImage};

use crate::poster::RgbFrame;

/// Tiles per row of the sprite sheet.
const COLUMNS: u32 = 10;
const QUALITY: u8 = 80;

/// One storyboard frame and when it is shown, in milliseconds from the start.
pub struct Thumb {
    pub at_ms: i64,
    pub frame: RgbFrame,
}

/// Writes `dir/{image_name}` and `dir/{vtt_name}` from `thumbs` (in time order, all the same
/// size). Each cue runs until the next thumb, the last one until `duration_ms`.
pub fn write(
    thumbs: &[Thumb],
    duration_ms: i64,
    dir: &Path,
    image_name: &str,
    vtt_name: &str,
) -> anyhow::Result<()> {
    let first = thumbs.first().context("no storyboard frames")?;
    let (w, h) = (first.frame.width, first.frame.height);
    let count = u32::try_from(thumbs.len())?;
    let columns = count.min(COLUMNS);
    let rows = count.div_ceil(columns);
    let mut sheet = RgbImage::new(w * columns, h * rows);
    let mut vtt = String::from("WEBVTT\n");
    for (i, thumb) in thumbs.iter().enumerate() {
        let i = u32::try_from(i)?;
        let (x, y) = ((i % columns) * w, (i / columns) * h);
        let tile = RgbImage::from_raw(
            thumb.frame.width,
            thumb.frame.height,
            thumb.frame.data.clone(),
        )
        .context("a storyboard frame has the wrong size")?;
        image::imageops::replace(&mut sheet, &tile, i64::from(x), i64::from(y));
        let end_ms = thumbs
            .get(i as usize + 1)
            .map_or(duration_ms.max(thumb.at_ms + 1), |next| next.at_ms);
        write!(
            vtt,
            "\n{} --> {}\n{image_name}#xywh={x},{y},{w},{h}\n",
            timestamp(thumb.at_ms),
            timestamp(end_ms)
        )?;
    }
    let file = std::fs::File::create(dir.join(image_name))
        .with_context(|| format!("creating {image_name}"))?;
    JpegEncoder::new_with_quality(std::io::BufWriter::new(file), QUALITY)
        .encode_image(&sheet)
        .context("encoding the storyboard")?;
    std::fs::write(dir.join(vtt_name), vtt).with_context(|| format!("writing {vtt_name}"))?;
    Ok(())
}

/// `HH:MM:SS.mmm`, as WebVTT wants it.
fn timestamp(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thumb(at_ms: i64, shade: u8) -> Thumb {
        Thumb {
            at_ms,
            frame: RgbFrame {
                width: 4,
                height: 2,
                data: vec![shade; 4 * 2 * 3],
            },
        }
    }

    #[test]
    fn cues_point_at_their_tiles_and_cover_the_whole_clip() {
        let dir = tempfile::tempdir().unwrap();
        let thumbs: Vec<Thumb> = (0..12).map(|i| thumb(i * 1000, (i * 20) as u8)).collect();
        write(&thumbs, 11_500, dir.path(), "sb.jpg", "sb.vtt").unwrap();
        let vtt = std::fs::read_to_string(dir.path().join("sb.vtt")).unwrap();
        assert!(vtt.starts_with("WEBVTT\n"));
        assert!(
            vtt.contains("00:00:00.000 --> 00:00:01.000\nsb.jpg#xywh=0,0,4,2\n"),
            "{vtt}"
        );
        // The 11th tile starts the second row.
        assert!(
            vtt.contains("00:00:10.000 --> 00:00:11.000\nsb.jpg#xywh=0,2,4,2\n"),
            "{vtt}"
        );
        assert!(
            vtt.contains("00:00:11.000 --> 00:00:11.500\nsb.jpg#xywh=4,2,4,2\n"),
            "{vtt}"
        );
        let sheet = image::open(dir.path().join("sb.jpg")).unwrap();
        assert_eq!((sheet.width(), sheet.height()), (40, 4));
    }

    #[test]
    fn timestamps_are_webvtt_timestamps() {
        assert_eq!(timestamp(3_723_004), "01:02:03.004");
    }
}
