//! Still and animated images derived from decoded frames: the poster in JPEG and WebP at several
//! widths (for `srcset`), and a short animated WebP preview for feeds and link cards.
//!
//! Resizing uses the image crate's Lanczos3 filter, one width per rayon task; WebP comes from the
//! system libwebp (lossy stills through `WebPEncodeRGB`, animations through `webp-animation`).

use std::{fs, path::Path};

use anyhow::{bail, Context};
use image::{codecs::jpeg::JpegEncoder, imageops::FilterType, RgbImage};
use rayon::prelude::*;

use crate::poster::RgbFrame;

const JPEG_QUALITY: u8 = 85;
const WEBP_QUALITY: f32 = 80.0;
const PREVIEW_QUALITY: f32 = 60.0;

/// One poster size, both formats; paths relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosterImage {
    pub width: u32,
    pub height: u32,
    pub jpeg: String,
    pub webp: String,
}

/// Writes `poster-{w}.jpg` and `poster-{w}.webp` for each of `widths` no wider than the frame
/// (and always the frame's own width), largest first.
pub fn write_poster_sizes(
    frame: &RgbFrame,
    widths: &[u32],
    out_dir: &Path,
) -> anyhow::Result<Vec<PosterImage>> {
    let source = RgbImage::from_raw(frame.width, frame.height, frame.data.clone())
        .context("the poster frame has the wrong size")?;
    let mut sizes: Vec<u32> = widths
        .iter()
        .copied()
        .filter(|&w| w < frame.width && w >= 2)
        .chain([frame.width])
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    sizes
        .par_iter()
        .map(|&width| {
            let height = ((u64::from(frame.height) * u64::from(width) / u64::from(frame.width))
                as u32)
                .max(2)
                & !1;
            let image = if width == frame.width {
                source.clone()
            } else {
                image::imageops::resize(&source, width, height, FilterType::Lanczos3)
            };
            let (w, h) = image.dimensions();
            let jpeg = format!("poster-{w}.jpg");
            let webp = format!("poster-{w}.webp");
            let mut bytes = Vec::new();
            JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
                .encode_image(&image)
                .with_context(|| format!("encoding {jpeg}"))?;
            fs::write(out_dir.join(&jpeg), bytes).with_context(|| format!("writing {jpeg}"))?;
            fs::write(out_dir.join(&webp), encode_webp(&image, WEBP_QUALITY)?)
                .with_context(|| format!("writing {webp}"))?;
            Ok(PosterImage {
                width: w,
                height: h,
                jpeg,
                webp,
            })
        })
        .collect()
}

/// Lossy WebP of an RGB image.
pub fn encode_webp(image: &RgbImage, quality: f32) -> anyhow::Result<Vec<u8>> {
    let (width, height) = image.dimensions();
    let stride = i32::try_from(width * 3)?;
    let mut output: *mut u8 = std::ptr::null_mut();
    // SAFETY: the buffer holds `height` rows of `stride` bytes (an RgbImage is tightly packed);
    // libwebp allocates `output`, which we copy and then release with WebPFree exactly once.
    let bytes = unsafe {
        let size = libwebp_sys::WebPEncodeRGB(
            image.as_raw().as_ptr(),
            i32::try_from(width)?,
            i32::try_from(height)?,
            stride,
            quality,
            &mut output,
        );
        if output.is_null() {
            bail!("libwebp could not encode a {width}x{height} image");
        }
        let copy = std::slice::from_raw_parts(output, size).to_vec();
        libwebp_sys::WebPFree(output.cast());
        copy
    };
    if bytes.is_empty() {
        bail!("libwebp produced an empty image");
    }
    Ok(bytes)
}

/// An animated, looping WebP of `frames` (`(at_ms, frame)`, all the same size, in time order),
/// the last frame shown until `end_ms`.
pub fn write_preview(frames: &[(i64, RgbFrame)], end_ms: i64, path: &Path) -> anyhow::Result<()> {
    let (_, first) = frames.first().context("no frames for the preview")?;
    let options = webp_animation::EncoderOptions {
        color_mode: webp_animation::ColorMode::Rgb,
        encoding_config: Some(webp_animation::EncodingConfig {
            encoding_type: webp_animation::EncodingType::new_lossy(),
            quality: PREVIEW_QUALITY,
            method: 4,
        }),
        ..Default::default()
    };
    let mut encoder =
        webp_animation::Encoder::new_with_options((first.width, first.height), options)
            .map_err(|e| anyhow::anyhow!("starting the preview encoder: {e:?}"))?;
    let start = frames[0].0;
    let mut last = 0;
    for (at_ms, frame) in frames {
        let t = i32::try_from(at_ms - start).unwrap_or(i32::MAX).max(last);
        encoder
            .add_frame(&frame.data, t)
            .map_err(|e| anyhow::anyhow!("adding a preview frame: {e:?}"))?;
        last = t + 1;
    }
    let end = i32::try_from(end_ms - start).unwrap_or(i32::MAX).max(last);
    let data = encoder
        .finalize(end)
        .map_err(|e| anyhow::anyhow!("finishing the preview: {e:?}"))?;
    fs::write(path, &*data).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32, shift: u8) -> RgbFrame {
        let mut data = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                data.extend([(x % 256) as u8, (y % 256) as u8, shift]);
            }
        }
        RgbFrame {
            width,
            height,
            data,
        }
    }

    #[test]
    fn posters_come_in_every_width_up_to_the_frame_in_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let sizes =
            write_poster_sizes(&gradient(720, 1280, 0), &[1080, 480, 320], dir.path()).unwrap();
        let dims: Vec<(u32, u32)> = sizes.iter().map(|p| (p.width, p.height)).collect();
        assert_eq!(dims, [(720, 1280), (480, 852), (320, 568)]);
        for p in &sizes {
            let jpeg = image::open(dir.path().join(&p.jpeg)).unwrap();
            assert_eq!((jpeg.width(), jpeg.height()), (p.width, p.height));
            let webp = fs::read(dir.path().join(&p.webp)).unwrap();
            assert_eq!(&webp[..4], b"RIFF");
            assert_eq!(&webp[8..12], b"WEBP");
            let decoded = image::load_from_memory(&webp).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (p.width, p.height));
        }
    }

    #[test]
    fn the_preview_is_an_animated_webp_with_every_frame() {
        let dir = tempfile::tempdir().unwrap();
        let frames: Vec<(i64, RgbFrame)> = (0..10)
            .map(|i| (i * 100, gradient(64, 112, (i * 25) as u8)))
            .collect();
        let path = dir.path().join("preview.webp");
        write_preview(&frames, 1000, &path).unwrap();
        let bytes = fs::read(&path).unwrap();
        let decoder = webp_animation::Decoder::new(&bytes).unwrap();
        let decoded: Vec<_> = decoder.into_iter().collect();
        assert_eq!(decoded.len(), 10);
        assert_eq!(decoded[0].dimensions(), (64, 112));
        // The decoder reports when each frame ends: every 100 ms, the last one at `end_ms`.
        assert_eq!(decoded[0].timestamp(), 100);
        assert_eq!(decoded[9].timestamp(), 1000);
    }
}
