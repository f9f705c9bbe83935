//! HLS playlist text (RFC 8216), and nothing else: no files, no GStreamer, no HTTP. Every
//! playlist Vitrine writes or rewrites is built here: the finished media playlists (hlssink2's,
//! made VOD), the growing EVENT playlist of a video that is playable early, the multivariant
//! (master) playlist, the product tags added as `EXT-X-DATERANGE`s when a media playlist is
//! served, and the reading of segments back from a media playlist.

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

/// The target duration a media playlist declares.
pub(crate) fn target_duration(playlist: &str) -> Option<u64> {
    playlist
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|value| value.trim().parse().ok())
}

/// A media playlist that is still growing (RFC 8216 §4.3.3.5, EVENT): `segments` (`(uri,
/// seconds)`, in order) so far, no end list. `EXT-X-START:TIME-OFFSET=0` makes players start at
/// the beginning, as they would a VOD, rather than at the live edge.
pub(crate) fn event_playlist(target_duration: u64, segments: &[(String, f64)]) -> String {
    let mut text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-START:TIME-OFFSET=0\n\
         #EXT-X-TARGETDURATION:{target_duration}\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
    for (uri, seconds) in segments {
        writeln!(text, "#EXTINF:{seconds:.3},\n{uri}").expect("writing to a String");
    }
    text
}

/// The date a video's timeline starts at in its media playlists: `EXT-X-DATERANGE` needs
/// absolute dates, so playback time t is this date plus t.
const TIMELINE_START: &str = "1970-01-01T00:00:00.000Z";

/// A product shown over part of a video's timeline: one `EXT-X-DATERANGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductRange<'a> {
    /// The range's ID (the tag's id).
    pub id: &'a str,
    pub product_id: &'a str,
    pub title: &'a str,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Inserts `EXT-X-PROGRAM-DATE-TIME` before the first segment of a media playlist and an
/// `EXT-X-DATERANGE` per product range (RFC 8216 §4.3.2.7), so that any HLS player (hls.js,
/// AVPlayer, ExoPlayer) surfaces them as timed metadata. Without ranges the playlist is
/// unchanged.
pub fn with_product_ranges(playlist: &str, ranges: &[ProductRange<'_>]) -> String {
    if ranges.is_empty() {
        return playlist.to_owned();
    }
    let quoted = |s: &str| s.replace(['"', '\n', '\r'], "'");
    let mut text = format!("#EXT-X-PROGRAM-DATE-TIME:{TIMELINE_START}\n");
    for range in ranges {
        let start = timeline_date(range.start_ms);
        writeln!(
            text,
            "#EXT-X-DATERANGE:ID=\"{}\",CLASS=\"com.vitrine.product\",START-DATE=\"{start}\",\
             DURATION={:.3},X-PRODUCT-ID=\"{}\",X-TITLE=\"{}\"",
            range.id,
            (range.end_ms - range.start_ms) as f64 / 1000.0,
            range.product_id,
            quoted(range.title),
        )
        .expect("writing to a String");
    }
    match playlist.find("#EXTINF") {
        Some(at) => format!("{}{text}{}", &playlist[..at], &playlist[at..]),
        None => format!("{playlist}{text}"),
    }
}

/// [`TIMELINE_START`] plus `ms`, as an ISO 8601 date (within the first day of 1970 for any clip).
fn timeline_date(ms: i64) -> String {
    let (s, ms) = (ms / 1000, ms % 1000);
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    let days = h / 24;
    format!(
        "1970-01-{:02}T{:02}:{m:02}:{s:02}.{ms:03}Z",
        1 + days,
        h % 24
    )
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

    #[test]
    fn an_early_master_lists_its_one_rung_without_codecs() {
        let text = master_playlist(&[Variant {
            bandwidth: 412_345,
            width: 240,
            height: 426,
            codecs: None,
            uri: "240p.m3u8",
        }]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=412345,RESOLUTION=240x426\n240p.m3u8\n"
        );
    }

    #[test]
    fn an_event_playlist_lists_its_segments_from_the_start_and_does_not_end() {
        let segments = [
            ("240p_00000.ts".to_owned(), 2.0),
            ("240p_00001.ts".to_owned(), 1.25),
        ];
        let text = event_playlist(2, &segments);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-START:TIME-OFFSET=0\n\
             #EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXTINF:2.000,\n240p_00000.ts\n#EXTINF:1.250,\n240p_00001.ts\n"
        );
        assert_eq!(
            media_segments(&text),
            segments,
            "segments round-trip in order"
        );
        assert_eq!(target_duration(&text), Some(2));
    }

    #[test]
    fn product_ranges_become_date_ranges_on_the_playlists_timeline() {
        let playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
            #EXTINF:2.0,\n240p_00000.ts\n#EXT-X-ENDLIST\n";
        let range = ProductRange {
            id: "tag_a",
            product_id: "prd_x",
            title: "Say \"hi\"\nnow",
            start_ms: 1500,
            end_ms: 2800,
        };
        assert_eq!(
            with_product_ranges(playlist, &[range]),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
             #EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:00.000Z\n\
             #EXT-X-DATERANGE:ID=\"tag_a\",CLASS=\"com.vitrine.product\",\
             START-DATE=\"1970-01-01T00:00:01.500Z\",DURATION=1.300,X-PRODUCT-ID=\"prd_x\",\
             X-TITLE=\"Say 'hi''now\"\n#EXTINF:2.0,\n240p_00000.ts\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn a_playlist_without_product_ranges_is_served_as_it_is() {
        let playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:2.0,\n240p_00000.ts\n";
        assert_eq!(with_product_ranges(playlist, &[]), playlist);
    }

    #[test]
    fn ranges_go_at_the_end_of_a_playlist_without_segments() {
        let range = ProductRange {
            id: "tag_a",
            product_id: "prd_x",
            title: "Hat",
            start_ms: 0,
            end_ms: 1000,
        };
        let text = with_product_ranges("#EXTM3U\n", &[range]);
        assert!(
            text.starts_with("#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:"),
            "{text}"
        );
        assert!(text.ends_with("X-TITLE=\"Hat\"\n"), "{text}");
    }

    #[test]
    fn timeline_dates_count_hours_minutes_seconds_and_days() {
        assert_eq!(timeline_date(3_723_004), "1970-01-01T01:02:03.004Z");
        assert_eq!(timeline_date(90_000_000), "1970-01-02T01:00:00.000Z");
    }
}
