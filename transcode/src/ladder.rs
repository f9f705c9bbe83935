//! The rendition ladder: which sizes, bitrates and frame rate one upload is encoded to, with
//! which x264 preset, and the audio every rung shares.
//!
//! Rungs are chosen by the picture's *short* side, so a portrait phone video and a landscape one
//! get the same quality steps ("720p" is 720x1280 or 1280x720). The source is never upscaled: the
//! top rung is the source itself when it is smaller than the largest target.

/// Short sides of the default ladder, largest first.
pub const DEFAULT_SHORT_SIDES: [u32; 5] = [1080, 720, 480, 360, 240];

/// Bits per pixel per frame at the reference frame rate: enough for H.264 at `veryfast` on
/// typical creator footage without wasting bandwidth on static shots.
const BITS_PER_PIXEL: f64 = 0.1;
const REFERENCE_FPS: f64 = 30.0;
/// Below this even a tiny picture looks broken.
const MIN_VIDEO_BITRATE: u32 = 200_000;

/// x264's speed/quality trade-off for every encoded rung.
pub const X264_PRESET: &str = "veryfast";
/// Output frame rates are capped here (and kept constant).
pub const MAX_FPS: f64 = 60.0;
/// The output rate when the source does not declare a frame rate (variable rate).
pub const FALLBACK_FPS: i32 = 30;
/// Audio is AAC at this bitrate (bits/s), sample rate and channel count, whatever the source.
pub const AUDIO_BITRATE: i32 = 128_000;
pub const AUDIO_RATE: i32 = 48_000;
pub const AUDIO_CHANNELS: i32 = 2;

/// One output size of the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// Short side with a `p`, e.g. "720p"; also the file stem of its outputs.
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Target video bitrate in bits per second.
    pub video_bitrate: u32,
}

/// Plans the ladder for a picture displayed at `display_w` x `display_h`, largest rung first.
///
/// The top rung's short side is the smaller of the source's short side and the largest target;
/// every target below it follows. Both dimensions are even (4:2:0 chroma needs it) and neither
/// exceeds the source. An empty `short_sides` means [`DEFAULT_SHORT_SIDES`].
pub fn plan(display_w: u32, display_h: u32, short_sides: &[u32]) -> Vec<Rung> {
    let mut targets: Vec<u32> = if short_sides.is_empty() {
        DEFAULT_SHORT_SIDES.to_vec()
    } else {
        short_sides.iter().copied().filter(|&s| s >= 2).collect()
    };
    targets.sort_unstable_by(|a, b| b.cmp(a));
    targets.dedup();

    let (source_short, source_long) = (display_w.min(display_h), display_w.max(display_h));
    let Some(&largest) = targets.first() else {
        return Vec::new();
    };
    let top = largest.min(source_short);
    std::iter::once(top)
        .chain(targets.into_iter().filter(|&t| t < top))
        .map(|short| rung(short, source_short, source_long, display_w >= display_h))
        .collect()
}

fn rung(short_target: u32, source_short: u32, source_long: u32, landscape: bool) -> Rung {
    let short = even_at_most(f64::from(short_target), source_short);
    let long_exact = f64::from(source_long) * f64::from(short) / f64::from(source_short);
    let long = even_at_most(long_exact, source_long);
    let (width, height) = if landscape {
        (long, short)
    } else {
        (short, long)
    };
    Rung {
        name: format!("{short}p"),
        width,
        height,
        video_bitrate: bitrate_for(width, height),
    }
}

/// Rounds to the nearest even number, but never above `limit` (rounded down to even) and never
/// below 2.
fn even_at_most(value: f64, limit: u32) -> u32 {
    let nearest = ((value / 2.0).round() * 2.0) as u32;
    nearest.min(limit & !1).max(2)
}

/// Caps every rung's bitrate at the source's video bitrate: re-encoding cannot add detail the
/// source does not have, so spending more bits than it did only wastes viewers' data.
pub fn cap_bitrates(rungs: &mut [Rung], source_video_bitrate: Option<u32>) {
    let Some(source) = source_video_bitrate else {
        return;
    };
    let cap = source.max(MIN_VIDEO_BITRATE);
    for rung in rungs {
        rung.video_bitrate = rung.video_bitrate.min(cap);
    }
}

/// Video bitrate from the bits-per-pixel model.
pub fn bitrate_for(width: u32, height: u32) -> u32 {
    let bits = f64::from(width) * f64::from(height) * REFERENCE_FPS * BITS_PER_PIXEL;
    (bits.round() as u32).max(MIN_VIDEO_BITRATE)
}

/// The constant output frame rate `(numerator, denominator)` for a source rate: the source's
/// own up to [`MAX_FPS`]; above it, the largest whole fraction of it that fits (119.88 → 59.94,
/// 240 → 60); unknown or variable rates (0/1) get [`FALLBACK_FPS`].
pub fn output_rate(source: Option<(i32, i32)>) -> (i32, i32) {
    let Some((numer, denom)) = source.filter(|&(n, d)| n > 0 && d > 0) else {
        return (FALLBACK_FPS, 1);
    };
    let fps = f64::from(numer) / f64::from(denom);
    if fps <= MAX_FPS {
        return (numer, denom);
    }
    let divisor = (fps / MAX_FPS).ceil() as i32;
    match denom.checked_mul(divisor) {
        Some(denom) => (numer, denom),
        None => (MAX_FPS as i32, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(rungs: &[Rung]) -> Vec<(&str, u32, u32)> {
        rungs
            .iter()
            .map(|r| (r.name.as_str(), r.width, r.height))
            .collect()
    }

    #[test]
    fn a_portrait_1080p_source_gets_every_default_rung_by_short_side() {
        let rungs = plan(1080, 1920, &DEFAULT_SHORT_SIDES);
        assert_eq!(
            sizes(&rungs),
            [
                ("1080p", 1080, 1920),
                ("720p", 720, 1280),
                ("480p", 480, 854),
                ("360p", 360, 640),
                ("240p", 240, 426)
            ]
        );
    }

    #[test]
    fn a_landscape_source_keeps_its_orientation() {
        let rungs = plan(1920, 1080, &[720, 360]);
        assert_eq!(sizes(&rungs), [("720p", 1280, 720), ("360p", 640, 360)]);
    }

    #[test]
    fn a_small_source_is_never_upscaled() {
        let rungs = plan(640, 480, &DEFAULT_SHORT_SIDES);
        assert_eq!(
            sizes(&rungs),
            [("480p", 640, 480), ("360p", 480, 360), ("240p", 320, 240)]
        );
    }

    #[test]
    fn odd_source_dimensions_become_even_and_no_larger() {
        let rungs = plan(161, 121, &DEFAULT_SHORT_SIDES);
        assert_eq!(sizes(&rungs), [("120p", 160, 120)]);
    }

    #[test]
    fn the_aspect_ratio_survives_rounding() {
        let rungs = plan(854, 480, &[720, 360]);
        assert_eq!(sizes(&rungs), [("480p", 854, 480), ("360p", 640, 360)]);
        // 320x240 stored with 4:3 pixels is shown at 427x240: the width rounds down to even.
        assert_eq!(
            sizes(&plan(427, 240, &DEFAULT_SHORT_SIDES)),
            [("240p", 426, 240)]
        );
    }

    #[test]
    fn targets_are_sorted_and_deduplicated() {
        let rungs = plan(3840, 2160, &[360, 1080, 720, 360]);
        let names: Vec<_> = rungs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["1080p", "720p", "360p"]);
    }

    #[test]
    fn an_empty_target_list_means_the_default_ladder() {
        assert_eq!(
            plan(1920, 1080, &[]),
            plan(1920, 1080, &DEFAULT_SHORT_SIDES)
        );
    }

    #[test]
    fn bitrate_follows_the_pixel_count_with_a_floor() {
        assert_eq!(bitrate_for(1280, 720), 2_764_800);
        assert_eq!(bitrate_for(640, 360), 691_200);
        assert_eq!(bitrate_for(160, 120), MIN_VIDEO_BITRATE);
        let rungs = plan(1920, 1080, &DEFAULT_SHORT_SIDES);
        assert!(rungs
            .windows(2)
            .all(|w| w[0].video_bitrate > w[1].video_bitrate));
    }

    #[test]
    fn bitrates_never_exceed_the_source() {
        let mut rungs = plan(1080, 1920, &DEFAULT_SHORT_SIDES);
        cap_bitrates(&mut rungs, Some(3_000_000));
        let rates: Vec<u32> = rungs.iter().map(|r| r.video_bitrate).collect();
        assert_eq!(rates[..2], [3_000_000, 2_764_800]);
        // A starved source still gets the floor, not less.
        cap_bitrates(&mut rungs, Some(50_000));
        assert!(rungs.iter().all(|r| r.video_bitrate == MIN_VIDEO_BITRATE));
        // Unknown source bitrate: the model stands.
        let mut rungs = plan(1080, 1920, &DEFAULT_SHORT_SIDES);
        cap_bitrates(&mut rungs, None);
        assert_eq!(rungs[0].video_bitrate, bitrate_for(1080, 1920));
    }

    #[test]
    fn output_rates_are_the_source_rate_capped_at_sixty() {
        assert_eq!(output_rate(Some((30000, 1001))), (30000, 1001));
        assert_eq!(output_rate(Some((60, 1))), (60, 1));
        assert_eq!(output_rate(Some((120000, 1001))), (120000, 2002));
        assert_eq!(output_rate(Some((240, 1))), (240, 4));
        assert_eq!(output_rate(Some((0, 1))), (30, 1));
        assert_eq!(output_rate(None), (30, 1));
    }
}
