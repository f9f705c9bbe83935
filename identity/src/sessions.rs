//! Sessions: opaque random tokens (`vt_…`), stored as their hash, that end on sign-out, after an
//! absolute lifetime, or after an idle spell (OWASP ASVS 3.3). Lifetimes are read from the
//! configuration when a token is checked, so changing them applies to existing sessions too.

use sqlx::Row;
use vitrine_core::{
    db::Db,
    ids::{AccountId, SessionId},
    time::now_ms,
};

use crate::{hash_secret, new_secret};

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// From sign-in, whatever the use, in milliseconds (default 30 days).
    pub lifetime_ms: i64,
    /// Since last use, in milliseconds (default 7 days).
    pub idle_ms: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        const DAY: i64 = 24 * 3600 * 1000;
        SessionPolicy {
            lifetime_ms: 30 * DAY,
            idle_ms: 7 * DAY,
        }
    }
}

/// `last_used_at` is rewritten at most this often (a write per request would queue every
/// authenticated read behind SQLite's one writer); the idle timeout is days, so a minute of
/// imprecision is harmless.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// Session tokens start with this (API keys with `vk_live_`).
pub const TOKEN_PREFIX: &str = "vt_";

impl SessionPolicy {
    /// When a session created at `created_at` and last used at `last_used_at` ends.
    pub fn expires_at(&self, created_at: i64, last_used_at: i64) -> i64 {
        (created_at + self.lifetime_ms).min(last_used_at + self.idle_ms)
    }
}

/// A session just started, with the only copy of its token.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: SessionId,
    pub token: String,
    pub expires_at: i64,
}

/// Starts a session for `account` (inside the caller's transaction or on the pool).
pub async fn start(
    conn: &mut vitrine_core::db::Conn,
    policy: &SessionPolicy,
    account: &AccountId,
    user_agent: Option<&str>,
) -> sqlx::Result<Started> {
    let id = SessionId::generate();
    let token = new_secret(TOKEN_PREFIX);
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (id, account_id, token_hash, user_agent, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.as_str())
    .bind(account.as_str())
    .bind(hash_secret(&token))
    .bind(user_agent.map(|ua| truncate(ua, 256)))
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Started {
        id,
        token,
        expires_at: policy.expires_at(now, now),
    })
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// Ends one session of `account`; false if it has no such session (or it had ended).
pub async fn end(db: &Db, account: &AccountId, id: &SessionId) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND account_id = $3 AND ended_at IS NULL",
    )
    .bind(now_ms())
    .bind(id.as_str())
    .bind(account.as_str())
    .execute(db.pool())
    .await?;
    db.changed(vitrine_core::changes::Topic::Identity);
    Ok(done.rows_affected() == 1)
}

/// Ends every session of `account` but `except`; how many it ended.
pub async fn end_all(
    conn: &mut vitrine_core::db::Conn,
    account: &AccountId,
    except: Option<&SessionId>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND ended_at IS NULL AND id <> $3",
    )
    .bind(now_ms())
    .bind(account.as_str())
    .bind(except.map(SessionId::as_str).unwrap_or(""))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// A live session, as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: SessionId,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

/// The account's sessions that still work, newest first.
pub async fn list(
    db: &Db,
    policy: &SessionPolicy,
    account: &AccountId,
) -> sqlx::Result<Vec<SessionInfo>> {
    let now = now_ms();
    let rows = sqlx::query(
        "SELECT id, user_agent, created_at, last_used_at FROM sessions \
         WHERE account_id = $1 AND ended_at IS NULL AND created_at > $2 AND last_used_at > $3 \
         ORDER BY created_at DESC, id DESC LIMIT 1000",
    )
    .bind(account.as_str())
    .bind(now - policy.lifetime_ms)
    .bind(now - policy.idle_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let created_at: i64 = row.try_get("created_at")?;
            let last_used_at: i64 = row.try_get("last_used_at")?;
            Ok(SessionInfo {
                id: row.try_get("id")?,
                user_agent: row.try_get("user_agent")?,
                created_at,
                last_used_at,
                expires_at: policy.expires_at(created_at, last_used_at),
            })
        })
        .collect()
}
