//! One-time links (email verification, password reset, an operator's first password): a random
//! token mailed to the person, stored as its hash with a purpose and an expiry, good once.

use vitrine_core::{db::Db, ids::AccountId, time::now_ms};

use crate::{hash_secret, new_secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the account's email address (48 hours).
    VerifyEmail,
    /// Sets a new password (1 hour; an operator's first password: 24 hours).
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

pub const VERIFY_EMAIL_MS: i64 = 48 * 3600 * 1000;
pub const RESET_PASSWORD_MS: i64 = 3600 * 1000;

/// A new link token for `account`, valid for `valid_ms`.
pub async fn issue(
    db: &Db,
    account: &AccountId,
    purpose: Purpose,
    valid_ms: i64,
) -> sqlx::Result<String> {
    let token = new_secret("vl_");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, account_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash_secret(&token))
    .bind(account.as_str())
    .bind(purpose.as_str())
    .bind(now)
    .bind(now + valid_ms)
    .execute(db.pool())
    .await?;
    Ok(token)
}

/// Whether `token` could be redeemed for `purpose` now (a read: nothing is used up).
pub async fn usable(db: &Db, token: &str, purpose: Purpose) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 FROM account_tokens WHERE token_hash = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash_secret(token.trim()))
    .bind(purpose.as_str())
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?
    .is_some())
}

/// Uses up every other link of `account` for `purpose` (a reset makes older reset links void).
pub async fn void_all(
    conn: &mut vitrine_core::db::Conn,
    account: &AccountId,
    purpose: Purpose,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE account_tokens SET used_at = $1 WHERE account_id = $2 AND purpose = $3 \
         AND used_at IS NULL",
    )
    .bind(now_ms())
    .bind(account.as_str())
    .bind(purpose.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Uses up `token` for `purpose` inside the caller's transaction: its account, or `None` when
/// it is unknown, for another purpose, expired or already used.
pub async fn redeem(
    conn: &mut vitrine_core::db::Conn,
    token: &str,
    purpose: Purpose,
) -> sqlx::Result<Option<AccountId>> {
    let now = now_ms();
    let account: Option<String> = sqlx::query_scalar(
        "UPDATE account_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 \
         AND used_at IS NULL AND expires_at > $1 RETURNING account_id",
    )
    .bind(now)
    .bind(hash_secret(token.trim()))
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(account.map(AccountId::from_db))
}
