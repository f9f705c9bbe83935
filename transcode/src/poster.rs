//! Choosing and writing the poster: the still shown before a video plays.
//!
//! The pipeline hands us a few RGB frames from the first seconds. Fades from black and title
//! cards are common there, so frames that are dark or nearly uniform are skipped, and of the rest
//! the sharpest (highest variance of the Laplacian of luma) wins. Scoring runs on rayon's pool.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context as _;
use image::codecs::jpeg::JpegEncoder;
use image::ExtendedColorType;
use rayon::prelude::*;

/// JPEG quality: visually clean for a full-bleed still, a fraction of PNG's size.
const JPEG_QUALITY: u8 = 85;
/// Mean luma (0–255) below which a frame counts as black.
const MIN_MEAN_LUMA: f64 = 16.0;
/// Luma variance below which a frame counts as uniform (a flat card, a fade): about 6 levels of
/// standard deviation.
const MIN_LUMA_VARIANCE: f64 = 36.0;

/// One decoded frame, tightly packed RGB8 rows (no stride padding).
#[derive(Clone)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RgbFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// How a frame looks to the picker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameScore {
    pub mean_luma: f64,
    pub luma_variance: f64,
    /// Variance of the 4-neighbour Laplacian of luma: higher is sharper.
    pub sharpness: f64,
}

impl FrameScore {
    pub fn is_usable(&self) -> bool {
        self.mean_luma >= MIN_MEAN_LUMA && self.luma_variance >= MIN_LUMA_VARIANCE
    }
}

/// Scores one frame. Frames too small to have an interior score zero sharpness.
pub fn score(frame: &RgbFrame) -> FrameScore {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let luma: Vec<f64> = frame
        .data
        .chunks_exact(3)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let (mean_luma, luma_variance) = mean_and_variance(luma.iter().copied());

    let sharpness = if w >= 3 && h >= 3 && luma.len() >= w * h {
        let laplacian = (1..h - 1).flat_map(|y| {
            let luma = &luma;
            (1..w - 1).map(move |x| {
                let at = |x: usize, y: usize| luma[y * w + x];
                at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y)
            })
        });
        mean_and_variance(laplacian).1
    } else {
        0.0
    };

    FrameScore {
        mean_luma,
        luma_variance,
        sharpness,
    }
}

fn mean_and_variance(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut n, mut sum, mut sum_sq) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        sum += v;
        sum_sq += v * v;
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = sum / n;
    (mean, (sum_sq / n - mean * mean).max(0.0))
}

/// The index of the best poster frame: the sharpest usable one, else the first.
pub fn pick(frames: &[RgbFrame]) -> Option<usize> {
    if frames.is_empty() {
        return None;
    }
    let scores: Vec<FrameScore> = frames.par_iter().map(score).collect();
    let best = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_usable())
        .max_by(|(_, a), (_, b)| a.sharpness.total_cmp(&b.sharpness))
        .map(|(i, _)| i);
    Some(best.unwrap_or(0))
}

/// Picks the best of `frames` and writes it to `path` as a JPEG.
pub fn write_poster(frames: &[RgbFrame], path: &Path) -> anyhow::Result<()> {
    let index = pick(frames).context("no frames to make a poster from")?;
    let frame = &frames[index];
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    JpegEncoder::new_with_quality(BufWriter::new(file), JPEG_QUALITY)
        .encode(
            &frame.data,
            frame.width,
            frame.height,
            ExtendedColorType::Rgb8,
        )
        .with_context(|| format!("encoding {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> RgbFrame {
        let data = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .flat_map(|(x, y)| pixel(x, y))
            .collect();
        RgbFrame {
            width,
            height,
            data,
        }
    }

    fn black() -> RgbFrame {
        frame(32, 32, |_, _| [0, 0, 0])
    }

    fn grey_card() -> RgbFrame {
        frame(32, 32, |_, _| [128, 128, 128])
    }

    fn soft_gradient() -> RgbFrame {
        frame(32, 32, |x, _| [(x * 8) as u8; 3])
    }

    fn checkerboard() -> RgbFrame {
        frame(
            32,
            32,
            |x, y| if (x + y) % 2 == 0 { [230; 3] } else { [30; 3] },
        )
    }

    #[test]
    fn black_and_flat_frames_are_not_usable() {
        assert!(!score(&black()).is_usable());
        assert!(!score(&grey_card()).is_usable());
        assert!(score(&soft_gradient()).is_usable());
    }

    #[test]
    fn the_sharpest_usable_frame_wins() {
        let frames = [black(), soft_gradient(), checkerboard(), grey_card()];
        assert_eq!(pick(&frames), Some(2));
    }

    #[test]
    fn an_all_black_video_still_gets_its_first_frame() {
        assert_eq!(pick(&[black(), black()]), Some(0));
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn the_poster_is_a_jpeg_of_the_chosen_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("poster.jpg");
        write_poster(&[black(), checkerboard()], &path).unwrap();
        let decoded = image::open(&path).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (32, 32));
    }
}
