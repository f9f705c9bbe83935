//! Which keys and prefixes a store accepts.
//!
//! Keys are `/`-separated relative paths. The filesystem store maps a key straight to a path under
//! its root, so the rules here are what keeps it from ever touching a file outside that root; the
//! S3 store applies the same rules so that both backends accept exactly the same keys.

use crate::StoreError;

/// S3's limit on a key's length, in bytes; enforced on both backends so they agree.
const MAX_KEY_LEN: usize = 1024;

/// File names starting with this are the filesystem store's in-flight temporary files. Keys may
/// not use it, so a listing can skip those files and no key can collide with one.
pub(crate) const TEMP_FILE_PREFIX: &str = ".vitrine-tmp.";

/// Accepts a key made of one or more non-empty components separated by single `/`, none of them
/// `.` or `..`, without backslashes or NUL bytes, not starting with `/`.
pub(crate) fn validate_key(key: &str) -> Result<(), StoreError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && !key.contains(['\\', '\0'])
        && key.split('/').all(is_valid_component);
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(key.to_owned()))
    }
}

/// Accepts `""` (everything) or the start of a key: every component before the last `/` must be a
/// valid key component; what follows it is matched as a plain string prefix.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    let directories_ok = match prefix.rfind('/') {
        None => true,
        Some(last_slash) => prefix[..last_slash].split('/').all(is_valid_component),
    };
    if directories_ok && prefix.len() <= MAX_KEY_LEN && !prefix.contains(['\\', '\0']) {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(prefix.to_owned()))
    }
}

fn is_valid_component(component: &str) -> bool {
    !component.is_empty()
        && component != "."
        && component != ".."
        && !component.starts_with(TEMP_FILE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_relative_paths_are_keys() {
        for key in [
            "a",
            "videos/vid_1/hls/720p.m3u8",
            "products/p/.hidden",
            "a..b/c.d",
        ] {
            assert!(validate_key(key).is_ok(), "{key:?} should be accepted");
        }
    }

    #[test]
    fn keys_that_could_escape_or_confuse_a_path_are_rejected() {
        for key in [
            "",
            "/etc/passwd",
            "..",
            "../x",
            "a/../../x",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "a\\..\\b",
            "a\0b",
            ".vitrine-tmp.123",
            "a/.vitrine-tmp.x",
        ] {
            assert!(
                matches!(validate_key(key), Err(StoreError::InvalidKey(_))),
                "{key:?} should be rejected"
            );
        }
        assert!(validate_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn prefixes_may_be_empty_partial_or_end_in_a_slash() {
        for prefix in ["", "videos/", "videos/vid_1", "vid", "a/b/c."] {
            assert!(
                validate_prefix(prefix).is_ok(),
                "{prefix:?} should be accepted"
            );
        }
        for prefix in ["/", "/videos", "../", "a/../", "a//", "a\\b", "a\0"] {
            assert!(
                validate_prefix(prefix).is_err(),
                "{prefix:?} should be rejected"
            );
        }
    }
}
