//! The feed's error codes (`{"error": {"code": …}}`, and each rejected event's `code`), named
//! once. Clients branch on these strings: they never change.

// GET /v1/feed
pub const INVALID_CURSOR: &str = "invalid_cursor";
pub const INVALID_DEBUG: &str = "invalid_debug";
pub const INVALID_VIEWER: &str = "invalid_viewer";
pub const NOT_YOUR_FEED: &str = "not_your_feed";

// POST /v1/events: the request
pub const TOO_MANY_EVENTS: &str = "too_many_events";

// POST /v1/events: one event of the batch
pub const INVALID_EVENT: &str = "invalid_event";
pub const UNKNOWN_TYPE: &str = "unknown_type";
pub const WRONG_VIEWER: &str = "wrong_viewer";
pub const INVALID_AT: &str = "invalid_at";
pub const UNKNOWN_VIDEO: &str = "unknown_video";
pub const MISSING_TAG: &str = "missing_tag";
pub const UNKNOWN_TAG: &str = "unknown_tag";
