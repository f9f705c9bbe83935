//! The JSON shapes of the public API that more than one service returns: the video object (from
//! ingest and the feed) and the product tag inside it (built by the shop).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use vitrine_core::{
    money::Money,
    videos::{Video, VideoStatus},
};

use crate::state::Urls;

/// A product placed in a video over a time range (a product anchor).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagView {
    pub id: String,
    pub video_id: String,
    pub product_id: String,
    /// The variant shown, if one was chosen.
    pub variant_id: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    /// `pending` (waiting for the video's creator), `live`, `rejected` or `invalid`.
    pub status: String,
    /// Why the tag is `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where to pin the card on the frame, each in 0..1 from the top left.
    pub position: Option<Position>,
    /// A short caption for the card.
    pub label: Option<String>,
    /// The product's title, live.
    pub title: String,
    /// The product's (or variant's) price, live.
    pub price: Money,
    /// The product's first picture, small.
    pub image: Option<String>,
    pub in_stock: bool,
}

pub use vitrine_core::videos::Position;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Mp4View {
    pub width: u32,
    pub height: u32,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PosterView {
    pub width: u32,
    pub height: u32,
    pub jpeg: String,
    pub webp: String,
}

/// Playback URLs: absolute and fetchable. Empty until the video is `playable`; while playable,
/// only `hls` (the lowest rung, still growing); everything once `ready`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Playback {
    /// HLS master playlist.
    pub hls: Option<String>,
    /// Progressive MP4 per rendition (index at the front), largest first.
    pub mp4: Vec<Mp4View>,
    /// JPEG poster.
    pub poster: Option<String>,
    /// The poster at several widths (for `srcset`), largest first.
    pub posters: Vec<PosterView>,
    /// A looping animated WebP of the first seconds (at most 320 px wide).
    pub preview: Option<String>,
    /// WebVTT thumbnails track for scrubbing: each cue's text is the sprite-sheet URL (relative
    /// to the track) with a `#xywh=x,y,w,h` fragment.
    pub storyboard: Option<String>,
}

/// The video object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VideoView {
    pub id: String,
    pub creator_id: String,
    pub title: String,
    pub status: VideoStatus,
    /// 0..1 while processing; 1 once ready.
    pub progress: f64,
    /// Why the video failed, in words a creator can act on.
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    /// Display width of the source (rotation applied).
    pub width: Option<u32>,
    /// Display height of the source (rotation applied).
    pub height: Option<u32>,
    pub playback: Playback,
    pub tags: Vec<TagView>,
    /// While `uploading` through a resumable upload: how much has arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadProgress>,
    /// The clip's place in the feed's traffic pools (shown to its creator only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
}

/// Where a clip stands in the feed's staged traffic pools.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Distribution {
    /// 0-based stage.
    pub stage: i64,
    /// `testing` (being shown to the stage's pool), `graduated` (passed every stage) or
    /// `stopped` (failed a stage's thresholds: no longer pushed).
    pub pool: String,
    /// Viewers who have been shown the clip.
    pub impressions: i64,
    /// Impressions at which the current stage ends (null once no longer testing).
    pub stage_ends_at: Option<i64>,
}

/// Bytes of a resumable upload received so far.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadProgress {
    pub offset: u64,
    /// `None` while the client defers the length.
    pub length: Option<u64>,
}

impl VideoView {
    pub fn new(video: &Video, tags: Vec<TagView>, urls: &Urls) -> VideoView {
        let playback = match (&video.outputs, video.status) {
            (Some(out), VideoStatus::Ready | VideoStatus::Playable) => Playback {
                hls: Some(urls.media(&out.master_playlist)),
                mp4: out
                    .renditions
                    .iter()
                    .filter_map(|r| {
                        Some(Mp4View {
                            width: r.width,
                            height: r.height,
                            url: urls.media(r.mp4.as_deref()?),
                        })
                    })
                    .collect(),
                poster: out.poster.as_deref().map(|key| urls.media(key)),
                posters: out
                    .posters
                    .iter()
                    .map(|p| PosterView {
                        width: p.width,
                        height: p.height,
                        jpeg: urls.media(&p.jpeg),
                        webp: urls.media(&p.webp),
                    })
                    .collect(),
                preview: out.preview.as_deref().map(|key| urls.media(key)),
                storyboard: out.storyboard.as_deref().map(|key| urls.media(key)),
            },
            _ => Playback {
                hls: None,
                mp4: Vec::new(),
                poster: None,
                posters: Vec::new(),
                preview: None,
                storyboard: None,
            },
        };
        VideoView {
            id: video.id.to_string(),
            creator_id: video.creator_id.to_string(),
            title: video.title.clone(),
            status: video.status,
            progress: if video.status == VideoStatus::Ready {
                1.0
            } else {
                video.progress
            },
            error: video.error.clone(),
            duration_ms: video.duration_ms,
            width: video.width,
            height: video.height,
            playback,
            tags,
            upload: None,
            distribution: None,
        }
    }
}
