//! The error codes the HTTP edge itself answers with (`{"error": {"code": …}}`), named once.
//! Clients branch on these strings: they never change. Each domain crate names its own codes
//! in its own `codes` module.

/// 401: no credentials, or credentials we do not know.
pub const UNAUTHORIZED: &str = "unauthorized";
pub const SESSION_EXPIRED: &str = "session_expired";
pub const KEY_REVOKED: &str = "key_revoked";
pub const ACCOUNT_SUSPENDED: &str = "account_suspended";

/// 403: known caller, not allowed.
pub const FORBIDDEN: &str = "forbidden";
pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";
pub const SESSION_REQUIRED: &str = "session_required";
pub const SHOP_KEY: &str = "shop_key";
pub const SIGN_UP_REQUIRED: &str = "sign_up_required";
pub const NOT_A_CREATOR: &str = "not_a_creator";
pub const NOT_AN_OPERATOR: &str = "not_an_operator";
pub const CROSS_SITE_REQUEST: &str = "cross_site_request";
pub const NO_SHOP: &str = "no_shop";
pub const NOT_A_MEMBER: &str = "not_a_member";
pub const WRONG_SHOP: &str = "wrong_shop";
pub const PERSONAL_KEY: &str = "personal_key";

/// 4xx on the request's shape.
pub const NOT_FOUND: &str = "not_found";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
pub const UNREADABLE_BODY: &str = "unreadable_body";
pub const INVALID_BODY: &str = "invalid_body";
pub const MALFORMED_JSON: &str = "malformed_json";
pub const INVALID_TEXT: &str = "invalid_text";
pub const INVALID_QUERY: &str = "invalid_query";
pub const INVALID_LIMIT: &str = "invalid_limit";
/// 400: a list's cursor we did not issue.
pub const INVALID_CURSOR: &str = "invalid_cursor";
pub const SHOP_ID_REQUIRED: &str = "shop_id_required";

/// Sign-up.
pub const INVALID_EMAIL: &str = "invalid_email";
pub const INVALID_DISPLAY_NAME: &str = "invalid_display_name";
pub const WEAK_PASSWORD: &str = "weak_password";
pub const EMAIL_TAKEN: &str = "email_taken";

/// 409: a row this request refers to was deleted meanwhile.
pub const GONE: &str = "gone";
/// 429: over a request budget (`Retry-After` says when to come back).
pub const RATE_LIMITED: &str = "rate_limited";
/// 503: the database (or the server) is overloaded; nothing was written, retry.
pub const BUSY: &str = "busy";
/// 503: the database cannot be reached for now (restarting, failing over, a connection cut);
/// nothing was written, retry.
pub const UNAVAILABLE: &str = "unavailable";
/// 500: a fault of ours; the body says no more.
pub const INTERNAL: &str = "internal";
