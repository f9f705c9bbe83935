//! Where each kind of asset lives in the store.
//!
//! ```text
//! originals/{video_id}                 the upload exactly as the creator sent it
//! videos/{video_id}/                   everything derived from it, removed together:
//!     hls/720p.m3u8, hls/720p/…        HLS playlists and segments
//!     mp4/720p.mp4                     progressive MP4 renditions
//!     poster.jpg                       the poster frame
//! products/{product_id}/{name}         a product's images
//! ```
//!
//! Deleting a video is `delete(original(id))` plus `delete_prefix(video_prefix(id))`; nothing
//! else may be written under `videos/{id}/`, and no key here is a prefix of another asset's key
//! (the trailing `/` of [`video_prefix`] is what keeps `vid_1` from matching `vid_10`).
//!
//! These functions only assemble strings; the store validates every key it is given, so a
//! `rel` or `name` containing `..` is rejected there rather than escaping the layout.

use std::fmt::Display;

/// The uploaded source file of a video.
pub fn original(video_id: impl Display) -> String {
    format!("originals/{video_id}")
}

/// The prefix holding every rendition of a video (ends in `/`).
pub fn video_prefix(video_id: impl Display) -> String {
    format!("videos/{video_id}/")
}

/// One file of a video's renditions, `rel` being relative to [`video_prefix`], e.g.
/// `"hls/720p.m3u8"`, `"mp4/720p.mp4"` or `"poster.jpg"`.
pub fn rendition_file(video_id: impl Display, rel: &str) -> String {
    format!("videos/{video_id}/{rel}")
}

/// An image of a product, e.g. `product_image(id, "main.webp")`.
pub fn product_image(product_id: impl Display, name: &str) -> String {
    format!("products/{product_id}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renditions_live_under_their_video_prefix() {
        let file = rendition_file("vid_1", "hls/720p.m3u8");
        assert_eq!(file, "videos/vid_1/hls/720p.m3u8");
        assert!(file.starts_with(&video_prefix("vid_1")));
        assert!(!rendition_file("vid_10", "poster.jpg").starts_with(&video_prefix("vid_1")));
    }

    #[test]
    fn originals_and_product_images_have_their_own_roots() {
        assert_eq!(original("vid_1"), "originals/vid_1");
        assert_eq!(
            product_image("prd_1", "main.webp"),
            "products/prd_1/main.webp"
        );
    }
}
