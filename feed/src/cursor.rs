//! The opaque feed cursor: where a feed session stands (items served, the last creator, the
//! commerce cadence, the session's salt) and 32-bit fingerprints of the clips it has served,
//! so that no later page repeats one, whatever events arrive between pages. Stateless: any
//! API process can serve the next page.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::model::PageState;

/// Most fingerprints a cursor carries (~1.6 KB encoded); older ones drop out, and signed-in
/// viewers' seen sets cover them.
pub const MAX_SERVED: usize = 300;
const VERSION: u8 = 2;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cursor {
    pub page: PageState,
    pub salt: u64,
    pub served: Vec<u32>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let creator = self.page.last_creator.as_deref().unwrap_or("");
        let mut b = Vec::with_capacity(24 + creator.len() + 4 * self.served.len());
        b.push(VERSION);
        b.extend_from_slice(&self.page.position.to_le_bytes());
        b.extend_from_slice(&self.salt.to_le_bytes());
        b.push(
            self.page
                .since_commerce
                .map_or(u8::MAX, |n| n.min(254) as u8),
        );
        b.push(creator.len().min(255) as u8);
        b.extend_from_slice(&creator.as_bytes()[..creator.len().min(255)]);
        let skip = self.served.len().saturating_sub(MAX_SERVED);
        for f in &self.served[skip..] {
            b.extend_from_slice(&f.to_le_bytes());
        }
        URL_SAFE_NO_PAD.encode(b)
    }

    pub fn decode(raw: &str) -> Option<Cursor> {
        let b = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let (&version, rest) = b.split_first()?;
        if version != VERSION || rest.len() < 18 {
            return None;
        }
        let position = u64::from_le_bytes(rest[0..8].try_into().ok()?);
        let salt = u64::from_le_bytes(rest[8..16].try_into().ok()?);
        let since_commerce = (rest[16] != u8::MAX).then_some(u64::from(rest[16]));
        let len = usize::from(rest[17]);
        let rest = &rest[18..];
        if rest.len() < len || (rest.len() - len) % 4 != 0 {
            return None;
        }
        let creator = std::str::from_utf8(&rest[..len]).ok()?;
        let served = rest[len..]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect::<Vec<_>>();
        if served.len() > MAX_SERVED {
            return None;
        }
        Some(Cursor {
            page: PageState {
                position,
                last_creator: (!creator.is_empty()).then(|| creator.to_owned()),
                since_commerce,
            },
            salt,
            served,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            page: PageState {
                position: 20,
                last_creator: Some("acc_0193c8a0a0a07a0a8a0a0a0a0a0a0a0a".into()),
                since_commerce: Some(1),
            },
            salt: 42,
            served: (0..20).collect(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        let fresh = Cursor::default();
        assert_eq!(Cursor::decode(&fresh.encode()), Some(fresh));
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("12:acc_x")), None);
    }

    #[test]
    fn only_the_latest_fingerprints_are_kept() {
        let c = Cursor {
            served: (0..(MAX_SERVED as u32 + 50)).collect(),
            ..Default::default()
        };
        let back = Cursor::decode(&c.encode()).unwrap();
        assert_eq!(back.served.len(), MAX_SERVED);
        assert_eq!(back.served[0], 50);
    }
}
