//! Playable early: while the ladder is still encoding, the lowest rung's finished segments are
//! published as they appear, behind a master playlist that lists only that rung. Viewers can
//! start watching within seconds, long before the whole ladder is done: the video is `playable`.
//! It becomes `ready` when every rung exists and the final master lists them all.
//!
//! The rung's media playlist goes out as an EVENT playlist (segments are only ever appended to
//! it) that starts at the beginning (`EXT-X-START:TIME-OFFSET=0`), so players play it from the
//! first second, as they would a VOD, instead of jumping to the live edge. When the job is done,
//! the worker replaces it with the finished VOD playlist and the master with the whole ladder.
//!
//! The publisher only reads what hlssink2 has written: a segment is listed in hlssink2's playlist
//! once its file is closed, and is never rewritten afterwards.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::PathBuf;

use anyhow::Context as _;
use bytes::Bytes;
use vitrine_assets::{content_type_for, Store};
use vitrine_core::videos::{RenditionOutput, VideoOutputs};

use crate::hls::{self, Variant};
use crate::ladder::Rung;
use crate::pipeline::MASTER_PLAYLIST;

/// Publishes one rung's segments while the pipeline writes them.
pub struct EarlyPublisher {
    out_dir: PathBuf,
    rung: Rung,
    /// Segments published so far, in playlist order: `(uri, seconds)`.
    segments: Vec<(String, f64)>,
    /// Paths (relative to the output directory) of every file published so far.
    published: HashSet<String>,
    /// Highest segment bitrate so far, bits/s: the early master's BANDWIDTH.
    peak_bps: u64,
    target_duration: u64,
    playable: bool,
}

impl EarlyPublisher {
    /// `rung` is the lowest rung of the ladder, the cheapest to watch.
    pub fn new(out_dir: PathBuf, rung: Rung) -> Self {
        Self {
            out_dir,
            rung,
            segments: Vec::new(),
            published: HashSet::new(),
            peak_bps: 0,
            target_duration: 1,
            playable: false,
        }
    }

    /// Uploads the segments hlssink2 listed since the last step, then the rung's playlist, and
    /// the first time the master playlist. Returns true when this step made the video playable.
    /// `key` maps a path relative to the output directory to its object key.
    pub async fn step(
        &mut self,
        store: &Store,
        key: impl Fn(&str) -> String,
    ) -> anyhow::Result<bool> {
        let playlist_rel = self.rung_playlist();
        let text = match tokio::fs::read_to_string(self.out_dir.join(&playlist_rel)).await {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).context("reading the rung's playlist"),
        };
        let listed = hls::media_segments(&text);
        if listed.len() <= self.segments.len() {
            return Ok(false);
        }
        if let Some(target) = hls::target_duration(&text) {
            self.target_duration = self.target_duration.max(target);
        }
        for (uri, seconds) in listed.into_iter().skip(self.segments.len()) {
            // hlssink2 writes bare file names; anything else is not ours to publish.
            if uri.contains('/') {
                anyhow::bail!("unexpected segment URI {uri:?}");
            }
            let rel = format!("hls/{uri}");
            let bytes = store
                .put_file(&key(&rel), &self.out_dir.join(&rel), content_type_for(&rel))
                .await
                .with_context(|| format!("uploading {rel}"))?;
            self.peak_bps = self.peak_bps.max(hls::segment_bps(bytes, seconds));
            self.target_duration = self.target_duration.max(seconds.round() as u64);
            self.published.insert(rel);
            self.segments.push((uri, seconds));
        }
        store
            .put_bytes(
                &key(&playlist_rel),
                Bytes::from(hls::event_playlist(self.target_duration, &self.segments)),
                content_type_for(&playlist_rel),
            )
            .await
            .with_context(|| format!("uploading {playlist_rel}"))?;
        if self.playable {
            return Ok(false);
        }
        store
            .put_bytes(
                &key(MASTER_PLAYLIST),
                Bytes::from(self.master_playlist()),
                content_type_for(MASTER_PLAYLIST),
            )
            .await
            .context("uploading the early master playlist")?;
        self.playable = true;
        Ok(true)
    }

    /// Segment files already uploaded: the final upload can skip them.
    pub fn published(&self) -> &HashSet<String> {
        &self.published
    }

    /// What a playable video lists: the master and the one rung, no MP4 or images yet.
    pub fn outputs(&self, key: impl Fn(&str) -> String) -> VideoOutputs {
        VideoOutputs {
            master_playlist: key(MASTER_PLAYLIST),
            poster: None,
            posters: Vec::new(),
            preview: None,
            storyboard: None,
            renditions: vec![RenditionOutput {
                name: self.rung.name.clone(),
                width: self.rung.width,
                height: self.rung.height,
                bandwidth: u32::try_from(self.peak_bps).unwrap_or(u32::MAX),
                playlist: key(&self.rung_playlist()),
                mp4: None,
            }],
            keys: self.published.iter().map(|rel| key(rel)).collect(),
        }
    }

    fn rung_playlist(&self) -> String {
        format!("hls/{}.m3u8", self.rung.name)
    }

    /// Like the final master, less CODECS: the encoder's profile and level are known only once
    /// the pipeline ends, and players do without it.
    fn master_playlist(&self) -> String {
        hls::master_playlist(&[Variant {
            bandwidth: self.peak_bps.max(1),
            width: self.rung.width,
            height: self.rung.height,
            codecs: None,
            uri: &format!("{}.m3u8", self.rung.name),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung() -> Rung {
        Rung {
            name: "240p".into(),
            width: 240,
            height: 426,
            video_bitrate: 300_000,
        }
    }

    #[test]
    fn early_master_lists_only_the_published_rung() {
        let mut publisher = EarlyPublisher::new(PathBuf::from("/nowhere"), rung());
        publisher.peak_bps = 412_345;
        let text = publisher.master_playlist();
        assert_eq!(text.matches("#EXT-X-STREAM-INF").count(), 1);
        assert!(text.contains("BANDWIDTH=412345,RESOLUTION=240x426\n240p.m3u8\n"));
    }
}
