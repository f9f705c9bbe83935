//! Typed, prefixed identifiers (`vid_…`, `acc_…`, `shp_…`, `prd_…`, `tag_…`, `ord_…`, `ses_…`, …).
//!
//! The prefix tells a human (and a support engineer reading logs) what an id names; the body is
//! a UUIDv7, so ids sort by creation time. Ids arriving from clients are parsed once at the edge
//! (`FromStr`) and trusted after.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// An id that is also a capability (an upload URL): all 122 random bits of a
            /// UUIDv4, nothing derived from the time.
            pub fn generate_unguessable() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::new_v4().simple()))
            }

            /// Wraps an id read back from our own database.
            pub fn from_db(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let body = s
                    .strip_prefix(concat!($prefix, "_"))
                    .ok_or(InvalidId { expected: $prefix })?;
                if body.len() == 32 && body.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId { expected: $prefix })
                }
            }
        }

        // Ids read back from our own database are trusted (`from_db`).
        crate::text_column!($name, |s: &str| Ok::<_, std::convert::Infallible>(
            $name::from_db(s.to_owned())
        ));

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(AccountId, "acc");
id_type!(VideoId, "vid");
id_type!(ProductId, "prd");
id_type!(TagId, "tag");
id_type!(JobId, "job");
id_type!(UploadId, "upl");
id_type!(DirectUploadId, "dup");
id_type!(VariantId, "var");
id_type!(ImageId, "img");
id_type!(OrderId, "ord");
id_type!(ShopId, "shp");
id_type!(SessionId, "ses");
id_type!(ApiKeyId, "key");

#[derive(Debug, thiserror::Error)]
#[error("not a valid {expected}_… id")]
pub struct InvalidId {
    pub expected: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_foreign_ids_do_not() {
        let id = VideoId::generate();
        assert_eq!(id.as_str().parse::<VideoId>().unwrap(), id);
        assert!(id.as_str().parse::<ProductId>().is_err());
        assert!("vid_123".parse::<VideoId>().is_err());
        assert!("vid_../../etc/passwd0000000000000000000"
            .parse::<VideoId>()
            .is_err());
    }
}
