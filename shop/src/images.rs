//! Product images: a merchant's picture (JPEG, PNG or WebP, as phones and editors produce them)
//! decoded once, turned upright (EXIF orientation), flattened onto white, and resized to a few
//! widths as JPEG for `srcset`. CPU-bound: run it on a blocking thread.

use std::io::Cursor;

use image::{
    codecs::jpeg::JpegEncoder, imageops::FilterType, DynamicImage, ImageDecoder, ImageReader,
    Limits, RgbImage,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Widths produced (never wider than the picture; its own width if it is smaller).
pub const WIDTHS: [u32; 3] = [1200, 600, 300];
/// Largest picture accepted by default, in pixels (25 megapixels, as large stores take).
pub const DEFAULT_MAX_PIXELS: u64 = 25_000_000;
const JPEG_QUALITY: u8 = 85;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("this is not an image we can read (JPEG, PNG or WebP): {0}")]
    Unreadable(String),
    #[error("the image is {width}x{height}; at most {max} pixels are accepted")]
    TooLarge { width: u32, height: u32, max: u64 },
}

/// One size of a product image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// The picture at each of [`WIDTHS`] that fits, largest first, and its upright size. A picture
/// of more than `max_pixels` is refused from its header, before anything is decoded.
pub fn render(bytes: &[u8], max_pixels: u64) -> Result<(u32, u32, Vec<Size>), ImageError> {
    let unreadable = |e: image::ImageError| ImageError::Unreadable(e.to_string());
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Unreadable(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            max: max_pixels,
        });
    }
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    let upright = flatten(image);
    let (width, height) = upright.dimensions();

    let mut widths: Vec<u32> = WIDTHS.iter().copied().filter(|&w| w < width).collect();
    if widths.len() < WIDTHS.len() {
        widths.insert(0, width);
    }
    let sizes = widths
        .par_iter()
        .map(|&w| {
            let h = ((u64::from(height) * u64::from(w)) / u64::from(width)).max(1) as u32;
            let resized = if w == width {
                upright.clone()
            } else {
                image::imageops::resize(&upright, w, h, FilterType::Lanczos3)
            };
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
                .encode_image(&resized)
                .map_err(unreadable)?;
            Ok(Size {
                width: w,
                height: resized.height(),
                jpeg,
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    Ok((width, height, sizes))
}

/// RGB on a white background (transparent PNG/WebP areas become white, not black). An opaque
/// picture is converted without an RGBA copy.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(px[3]);
        for c in 0..3 {
            out[c] = ((u16::from(px[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: u8) -> Vec<u8> {
        let image = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 10, 10, alpha]));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_large_picture_gets_every_width_and_keeps_its_aspect() {
        let (w, h, sizes) = render(&png(2000, 1000, 255), DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!((w, h), (2000, 1000));
        let dims: Vec<_> = sizes.iter().map(|s| (s.width, s.height)).collect();
        assert_eq!(dims, [(1200, 600), (600, 300), (300, 150)]);
        let decoded = image::load_from_memory(&sizes[1].jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (600, 300));
    }

    #[test]
    fn a_small_transparent_picture_keeps_its_size_on_white() {
        let (_, _, sizes) = render(&png(500, 400, 0), DEFAULT_MAX_PIXELS).unwrap();
        let dims: Vec<_> = sizes.iter().map(|s| (s.width, s.height)).collect();
        assert_eq!(dims, [(500, 400), (300, 240)]);
        let px = image::load_from_memory(&sizes[0].jpeg).unwrap().to_rgb8();
        assert!(
            px.get_pixel(10, 10).0.iter().all(|&c| c > 245),
            "white, not black"
        );
    }

    #[test]
    fn text_is_not_an_image() {
        assert!(matches!(
            render(b"definitely not pixels", DEFAULT_MAX_PIXELS),
            Err(ImageError::Unreadable(_))
        ));
    }

    #[test]
    fn a_picture_over_the_pixel_limit_is_refused_from_its_header() {
        assert!(matches!(
            render(&png(300, 200, 255), 59_999),
            Err(ImageError::TooLarge {
                width: 300,
                height: 200,
                max: 59_999
            })
        ));
        assert!(render(&png(300, 200, 255), 60_000).is_ok());
    }
}
