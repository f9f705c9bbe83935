//! HLS playlist text (RFC 8216), and nothing else: no files, no GStreamer. Every playlist Vitrine
//! writes or rewrites is built here: the finished media playlists (hlssink2's, made VOD), the
//! multivariant (master) playlist, and the reading of segments back from a media playlist.

use std::fmt::Write as _;
use std::str::FromStr;

/// Makes hlssink2's media playlist a valid VOD playlist. hlssink2 1.22 writes no playlist type,
/// and for clips shorter than a second a target duration of 0; RFC 8216 §4.3.3.1 wants every
/// segment's duration, rounded to the nearest integer, to be at most the target duration.
pub(crate) fn as_vod_playlist(text: &str) -> String {
    let longest = media_segments(text)
        .iter()
        .map(|(_, seconds)| seconds.round() as u64)
        .max()
        .unwrap_or(0);
    let mut out = String::with_capacity(text.len() + 64);
    let needs_type = !text.contains("#EXT-X-PLAYLIST-TYPE");
    for line in text.lines() {
        if let Some(target) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            let target = target
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
                .max(longest)
                .max(1);
            writeln!(out, "#EXT-X-TARGETDURATION:{target}").expect("writing to a String");
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if needs_type && line.starts_with("#EXT-X-VERSION") {
            out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
        }
    }
    if needs_type && !out.contains("#EXT-X-PLAYLIST-TYPE") {
        out = out.replacen("#EXTM3U\n", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n", 1);
    }
    if !out.contains("#EXT-X-ENDLIST") {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// A segment's bitrate in bits/s, for BANDWIDTH. Segments shorter than a second (usually the
/// last) overstate the rate: they count as one second.
pub(crate) fn segment_bps(bytes: u64, seconds: f64) -> u64 {
    (bytes as f64 * 8.0 / seconds.max(1.0)).ceil() as u64
}

/// `(uri, seconds)` of each segment in a media playlist.
pub(crate) fn media_segments(text: &str) -> Vec<(String, f64)> {
    let mut segments = Vec::new();
    let mut pending = None;
    for line in text.lines().map(str::trim) {
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            let seconds = info.split(',').next().unwrap_or("");
            pending = f64::from_str(seconds.trim()).ok();
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(seconds) = pending.take() {
                segments.push((line.to_owned(), seconds));
            }
        }
    }
    segments
}

/// One variant of a multivariant playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variant<'a> {
    /// Peak segment bitrate, bits/s.
    pub bandwidth: u64,
    pub width: u32,
    pub height: u32,
    /// RFC 6381 codec strings, comma-separated; `None` while they are not known yet.
    pub codecs: Option<&'a str>,
    /// The media playlist, relative to the master.
    pub uri: &'a str,
}

/// The multivariant playlist (RFC 8216 §4.3.4.2): one variant per rendition, in the order
/// given (largest first).
pub(crate) fn master_playlist(variants: &[Variant<'_>]) -> String {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for variant in variants {
        write!(
            text,
            "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={}x{}",
            variant.bandwidth, variant.width, variant.height
        )
        .expect("writing to a String");
        if let Some(codecs) = variant.codecs {
            write!(text, ",CODECS=\"{codecs}\"").expect("writing to a String");
        }
        writeln!(text, "\n{}", variant.uri).expect("writing to a String");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HLSSINK2_OUTPUT: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ALLOW-CACHE:NO\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:2\n\n\
        #EXTINF:2,\n720p_00000.ts\n#EXTINF:1.5,\n720p_00001.ts\n#EXT-X-ENDLIST\n";

    #[test]
    fn media_playlists_are_marked_vod_once() {
        let vod = as_vod_playlist(HLSSINK2_OUTPUT);
        assert!(vod.contains("#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert_eq!(as_vod_playlist(&vod), vod);
        assert_eq!(vod.matches("#EXT-X-ENDLIST").count(), 1);
    }

    #[test]
    fn a_clip_shorter_than_a_second_gets_a_target_duration_of_one() {
        let short = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:0\n\n\
            #EXTINF:0.49201110005378723,\n720p_00000.ts\n#EXT-X-ENDLIST\n";
        let vod = as_vod_playlist(short);
        assert!(vod.contains("#EXT-X-TARGETDURATION:1\n"), "{vod}");
        assert!(as_vod_playlist(HLSSINK2_OUTPUT).contains("#EXT-X-TARGETDURATION:2\n"));
    }

    #[test]
    fn segments_are_read_with_their_durations() {
        assert_eq!(
            media_segments(HLSSINK2_OUTPUT),
            [
                ("720p_00000.ts".to_owned(), 2.0),
                ("720p_00001.ts".to_owned(), 1.5)
            ]
        );
    }

    #[test]
    fn the_master_lists_each_variant_with_its_codecs_largest_first() {
        let variant = |bandwidth, width, height, uri| Variant {
            bandwidth,
            width,
            height,
            codecs: Some("avc1.64001f,mp4a.40.2"),
            uri,
        };
        assert_eq!(
            master_playlist(&[
                variant(2_900_000, 720, 1280, "720p.m3u8"),
                variant(420_000, 240, 426, "240p.m3u8"),
            ]),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2900000,RESOLUTION=720x1280,\
             CODECS=\"avc1.64001f,mp4a.40.2\"\n720p.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=420000,RESOLUTION=240x426,\
             CODECS=\"avc1.64001f,mp4a.40.2\"\n240p.m3u8\n"
        );
    }
}
