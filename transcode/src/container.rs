//! A look at an MP4/MOV file's top-level boxes, without GStreamer: when a phone upload was cut
//! short, GStreamer only says "no playable streams"; the boxes say how much of the file arrived
//! and whether its index (`moov`) is there.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// An ISO BMFF file whose last top-level box runs past the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// How much of the file arrived, in whole percent of what its boxes announce (0..=99).
    pub percent: u8,
    /// Whether the `moov` box (the index every player needs) is among what arrived.
    pub has_index: bool,
}

/// `Some` if `path` is an MP4/MOV (it starts with an `ftyp`, `moov`, `mdat`, `free` or `wide`
/// box) whose boxes announce more bytes than the file has. `None` for complete files and for
/// anything that is not ISO BMFF.
pub fn truncation(path: &Path) -> io::Result<Option<Truncation>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut offset = 0u64;
    let mut has_index = false;
    let mut first = true;
    while offset + 8 <= len {
        file.seek(SeekFrom::Start(offset))?;
        let mut header = [0u8; 16];
        let read = read_up_to(&mut file, &mut header)?;
        let kind = &header[4..8];
        if first
            && !matches!(
                kind,
                b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"
            )
        {
            return Ok(None);
        }
        first = false;
        let size = match u32::from_be_bytes(header[0..4].try_into().expect("4 bytes")) {
            // 64-bit size follows the type.
            1 if read >= 16 => u64::from_be_bytes(header[8..16].try_into().expect("8 bytes")),
            1 => return Ok(Some(truncated(len, offset + 16, has_index))),
            // The box runs to the end of the file: complete by definition.
            0 => return Ok(None),
            size => u64::from(size),
        };
        if size < 8 {
            // Not a box structure we can follow: say nothing rather than guess.
            return Ok(None);
        }
        if kind == b"moov" && offset + size <= len {
            has_index = true;
        }
        let end = offset.saturating_add(size);
        if end > len {
            return Ok(Some(truncated(len, end, has_index)));
        }
        offset = end;
    }
    if offset < len {
        // Fewer than 8 bytes left: a box header was cut.
        return Ok(Some(truncated(len, offset + 8, has_index)));
    }
    Ok(None)
}

fn truncated(len: u64, announced: u64, has_index: bool) -> Truncation {
    let percent = (u128::from(len) * 100 / u128::from(announced.max(1))).min(99) as u8;
    Truncation { percent, has_index }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn bmff(boxes: &[(&[u8; 4], u32, usize)]) -> Vec<u8> {
        // (type, announced size, bytes actually written including the header)
        let mut out = Vec::new();
        for (kind, size, written) in boxes {
            let mut b = Vec::new();
            b.extend_from_slice(&size.to_be_bytes());
            b.extend_from_slice(*kind);
            b.resize(*written, 0);
            out.extend(b);
        }
        out
    }

    fn check(bytes: &[u8]) -> Option<Truncation> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        truncation(file.path()).unwrap()
    }

    #[test]
    fn a_complete_file_is_not_truncated() {
        assert_eq!(
            check(&bmff(&[
                (b"ftyp", 24, 24),
                (b"moov", 100, 100),
                (b"mdat", 1000, 1000)
            ])),
            None
        );
    }

    #[test]
    fn a_cut_media_box_after_the_index_keeps_the_index() {
        let t = check(&bmff(&[
            (b"ftyp", 24, 24),
            (b"moov", 76, 76),
            (b"mdat", 900, 500),
        ]));
        assert_eq!(
            t,
            Some(Truncation {
                percent: 60,
                has_index: true
            })
        );
    }

    #[test]
    fn a_file_cut_before_its_trailing_index_has_no_index() {
        let t = check(&bmff(&[(b"ftyp", 20, 20), (b"mdat", 980, 580)]));
        assert_eq!(
            t,
            Some(Truncation {
                percent: 60,
                has_index: false
            })
        );
    }

    #[test]
    fn other_formats_are_not_judged() {
        assert_eq!(check(b"\x1aE\xdf\xa3 matroska or anything else"), None);
    }
}
