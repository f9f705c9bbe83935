//! The opaque feed cursor: the `(ready_at, id)` of the last item served, base64url-encoded.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use vitrine_core::ids::VideoId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub ready_at: i64,
    pub id: VideoId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.ready_at, self.id))
    }

    pub fn decode(raw: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (ready_at, id) = text.split_once(':')?;
        Some(Cursor {
            ready_at: ready_at.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            ready_at: 1_700_000_000_123,
            id: VideoId::generate(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("12:acc_x")), None);
    }
}
