//! Creator handles (`@mia`): 3–30 of `[a-z0-9._]`, unique, a few names reserved.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandleError {
    #[error("a handle is 3 to 30 characters long")]
    Length,
    #[error("a handle uses only a-z, 0-9, '.' and '_'")]
    Characters,
    #[error("a handle cannot start or end with '.', nor have two in a row")]
    Dots,
    #[error("that handle is reserved")]
    Reserved,
}

/// Names a person could use to pass for the platform.
const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "api",
    "help",
    "me",
    "merchant",
    "moderator",
    "official",
    "root",
    "security",
    "staff",
    "studio",
    "support",
    "system",
    "vitrine",
];

impl Handle {
    /// Parses what a person typed: surrounding spaces and a leading `@` are dropped and letters
    /// lower-cased (`@Mia` is `mia`); anything else outside the rules is refused.
    pub fn parse(raw: &str) -> Result<Handle, HandleError> {
        let h = raw.trim();
        let h = h.strip_prefix('@').unwrap_or(h).to_ascii_lowercase();
        if !(3..=30).contains(&h.chars().count()) {
            return Err(HandleError::Length);
        }
        if !h
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
        {
            return Err(HandleError::Characters);
        }
        if h.starts_with('.') || h.ends_with('.') || h.contains("..") {
            return Err(HandleError::Dots);
        }
        if RESERVED.contains(&h.as_str()) {
            return Err(HandleError::Reserved);
        }
        Ok(Handle(h))
    }

    /// A valid handle made from a display name (`"Glow Co!"` → `glow_co`), for accounts that
    /// had none: the caller makes it unique.
    pub fn derive(name: &str) -> Handle {
        let mut h = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                h.push(c);
            } else if !h.ends_with('_') && !h.is_empty() {
                h.push('_');
            }
        }
        let mut h = h.trim_end_matches('_').to_owned();
        h.truncate(24);
        let h = h.trim_end_matches('_').to_owned();
        let h = match h.len() {
            0 => "creator".to_owned(),
            1 | 2 => format!("{h}_creator"),
            _ => h,
        };
        match Handle::parse(&h) {
            Ok(handle) => handle,
            Err(_) => Handle(format!("{h}_1")),
        }
    }

    /// This handle with a numeric suffix (`mia` → `mia_2`), still at most 30 characters.
    pub fn numbered(&self, n: u32) -> Handle {
        let suffix = format!("_{n}");
        let mut base = self.0.clone();
        base.truncate(30 - suffix.len());
        Handle(format!("{}{suffix}", base.trim_end_matches('.')))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_follow_the_rules_people_expect() {
        assert_eq!(Handle::parse("mia").unwrap().as_str(), "mia");
        assert_eq!(Handle::parse(" @Mia.Lu_9 ").unwrap().as_str(), "mia.lu_9");
        assert_eq!(Handle::parse("mi"), Err(HandleError::Length));
        assert_eq!(Handle::parse(&"a".repeat(31)), Err(HandleError::Length));
        assert_eq!(Handle::parse("mia lu"), Err(HandleError::Characters));
        assert_eq!(Handle::parse("mía"), Err(HandleError::Characters));
        assert_eq!(Handle::parse(".mia"), Err(HandleError::Dots));
        assert_eq!(Handle::parse("mi..a"), Err(HandleError::Dots));
        assert_eq!(Handle::parse("Vitrine"), Err(HandleError::Reserved));
    }

    #[test]
    fn a_handle_derived_from_any_name_is_valid() {
        assert_eq!(Handle::derive("Glow Co!").as_str(), "glow_co");
        assert_eq!(Handle::derive("Mia").as_str(), "mia");
        assert_eq!(Handle::derive("Ян").as_str(), "creator");
        assert_eq!(Handle::derive("Al").as_str(), "al_creator");
        assert_eq!(Handle::derive("admin").as_str(), "admin_1");
        for name in ["", "  ", "a", "__x__", &"Long name ".repeat(10), "support"] {
            let h = Handle::derive(name);
            assert!(Handle::parse(h.as_str()).is_ok(), "{name:?} → {h}");
            assert!(Handle::parse(h.numbered(1234).as_str()).is_ok());
        }
    }
}
