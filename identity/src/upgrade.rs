//! Brings accounts made before identity existed up to date, once, when the server starts (the
//! part of the migration that needs code; `core/migrations/20261204000001_identity.sql` did the
//! rest): each creator gets a handle derived from their name, each account's token becomes a
//! session starting now, and every legacy role (`creator`, `merchant`, `viewer`) becomes `user`.
//! Idempotent: it only touches rows that still have a legacy role.

use sqlx::Row;
use vitrine_core::{db::Db, ids::SessionId, time::now_ms};

use crate::{accounts, handle::Handle};

/// The advisory lock key of the upgrade (processes starting at once run it one at a time).
const LOCK: i64 = 0x7669_7472_696e_6501;

/// How many accounts were upgraded.
pub async fn upgrade(db: &Db) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    db.lock_exclusive(&mut tx, LOCK).await?;
    let legacy = sqlx::query(
        "SELECT id, role, name, token_hash FROM accounts \
         WHERE role IN ('creator', 'merchant', 'viewer') ORDER BY created_at, id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let now = now_ms();
    for row in &legacy {
        let id: String = row.try_get("id")?;
        let role: String = row.try_get("role")?;
        let name: String = row.try_get("name")?;
        let token_hash: String = row.try_get("token_hash")?;
        if role == "creator" {
            let handle = accounts::free_handle(&mut tx, &Handle::derive(&name)).await?;
            sqlx::query("UPDATE accounts SET handle = $1 WHERE id = $2 AND handle IS NULL")
                .bind(handle.as_str())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        if !token_hash.starts_with("none:") {
            sqlx::query(
                "INSERT INTO sessions (id, account_id, token_hash, user_agent, created_at, \
                 last_used_at) VALUES ($1, $2, $3, 'a token from before sessions', $4, $4)",
            )
            .bind(SessionId::generate().as_str())
            .bind(&id)
            .bind(&token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE accounts SET role = 'user', token_hash = $1 WHERE id = $2")
            .bind(format!("none:{id}"))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if !legacy.is_empty() {
        tracing::info!(
            accounts = legacy.len(),
            "upgraded accounts to persons with sessions"
        );
    }
    Ok(legacy.len())
}
