//! Byte ranges, as a `Range: bytes=…` request header asks for them (RFC 9110 §14.1.2).

use crate::StoreError;

/// One byte range of an object. Multi-range requests are not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=N-`: from offset N to the end.
    From(u64),
    /// `bytes=N-M`: offsets N through M, inclusive (`N <= M`).
    FromTo(u64, u64),
    /// `bytes=-N`: the last N bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses the value of a `Range` header holding a single byte range, e.g. `bytes=0-1023`.
    ///
    /// Returns `None` for anything else (other units, several ranges, `N-M` with `N > M`, signs,
    /// spaces); per RFC 9110 §14.2 a server ignores a `Range` header it does not understand and
    /// serves the whole object.
    pub fn parse_header(value: &str) -> Option<ByteRange> {
        let (unit, spec) = value.trim().split_once('=')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        match (parse_digits(first), parse_digits(last)) {
            (Some(first), None) if last.is_empty() => Some(ByteRange::From(first)),
            (Some(first), Some(last)) if first <= last => Some(ByteRange::FromTo(first, last)),
            (None, Some(suffix)) if first.is_empty() => Some(ByteRange::Suffix(suffix)),
            _ => None,
        }
    }

    /// The inclusive `(first, last)` offsets this range selects in an object of `total` bytes.
    ///
    /// A range running past the end is cut at the end; one starting at or after the end, a
    /// zero-length suffix, or any range of an empty object is not satisfiable (RFC 9110 §14.1.2).
    pub fn resolve(self, total: u64) -> Result<(u64, u64), StoreError> {
        let last_offset = total.checked_sub(1).ok_or(StoreError::InvalidRange)?;
        match self {
            ByteRange::From(first) if first < total => Ok((first, last_offset)),
            ByteRange::FromTo(first, last) if first <= last && first < total => {
                Ok((first, last.min(last_offset)))
            }
            ByteRange::Suffix(len) if len > 0 => Ok((total - len.min(total), last_offset)),
            _ => Err(StoreError::InvalidRange),
        }
    }

    /// The `Range` header value asking for this range.
    pub fn to_header(self) -> String {
        match self {
            ByteRange::From(first) => format!("bytes={first}-"),
            ByteRange::FromTo(first, last) => format!("bytes={first}-{last}"),
            ByteRange::Suffix(len) => format!("bytes=-{len}"),
        }
    }
}

/// Parses a non-empty run of ASCII digits (`u64::from_str` would also take a leading `+`).
fn parse_digits(s: &str) -> Option<u64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses a `Content-Range: bytes first-last/total` response header.
pub(crate) fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let (unit, rest) = value.trim().split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    Some((
        parse_digits(first)?,
        parse_digits(last)?,
        parse_digits(total)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges_parse() {
        assert_eq!(
            ByteRange::parse_header("bytes=10-"),
            Some(ByteRange::From(10))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=0-99"),
            Some(ByteRange::FromTo(0, 99))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=5-5"),
            Some(ByteRange::FromTo(5, 5))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=-500"),
            Some(ByteRange::Suffix(500))
        );
        assert_eq!(
            ByteRange::parse_header(" Bytes=1-2 "),
            Some(ByteRange::FromTo(1, 2))
        );
    }

    #[test]
    fn anything_else_is_ignored() {
        for value in [
            "",
            "bytes=",
            "bytes=-",
            "bytes=5-4",
            "bytes=0-1,5-6",
            "bytes=+1-2",
            "bytes=1- 2",
            "items=0-1",
            "bytes=a-b",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(ByteRange::parse_header(value), None, "{value:?}");
        }
    }

    #[test]
    fn ranges_resolve_against_the_object_size() {
        assert_eq!(ByteRange::From(3).resolve(10).unwrap(), (3, 9));
        assert_eq!(ByteRange::FromTo(2, 4).resolve(10).unwrap(), (2, 4));
        assert_eq!(ByteRange::FromTo(8, 100).resolve(10).unwrap(), (8, 9));
        assert_eq!(ByteRange::Suffix(3).resolve(10).unwrap(), (7, 9));
        assert_eq!(ByteRange::Suffix(30).resolve(10).unwrap(), (0, 9));
    }

    #[test]
    fn ranges_outside_the_object_are_not_satisfiable() {
        for (range, total) in [
            (ByteRange::From(10), 10),
            (ByteRange::FromTo(10, 20), 10),
            (ByteRange::FromTo(5, 4), 10),
            (ByteRange::Suffix(0), 10),
            (ByteRange::From(0), 0),
            (ByteRange::Suffix(5), 0),
        ] {
            assert!(
                matches!(range.resolve(total), Err(StoreError::InvalidRange)),
                "{range:?}"
            );
        }
    }

    #[test]
    fn headers_round_trip() {
        for range in [
            ByteRange::From(7),
            ByteRange::FromTo(1, 2),
            ByteRange::Suffix(9),
        ] {
            assert_eq!(ByteRange::parse_header(&range.to_header()), Some(range));
        }
    }

    #[test]
    fn content_range_parses() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes */100"), None);
    }
}
