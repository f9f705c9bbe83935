//! Accounts: one per person (or per anonymous phone or browser), with an optional creator handle
//! and a role (`user`, or `admin` for operators).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, FromRow};
use utoipa::ToSchema;
use vitrine_core::{db::Db, ids::AccountId, time::now_ms};

use crate::handle::Handle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everyone: watches, buys, creates with a handle, sells through shops.
    User,
    /// An operator of the platform.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Role> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => anyhow::bail!("unknown role {other:?} (user or admin)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub role: Role,
    pub display_name: String,
    /// Lower-cased; `None` for anonymous viewers and accounts made by scripts.
    pub email: Option<String>,
    pub email_verified: bool,
    /// Set once the account turned on creator capabilities.
    pub handle: Option<String>,
    /// A viewer session made without signing up (`POST /v1/auth/anonymous`).
    pub anonymous: bool,
    /// Suspended by an operator: its sessions and keys stop working, nothing is deleted.
    pub suspended: bool,
    pub created_at: i64,
}

impl Account {
    pub fn is_creator(&self) -> bool {
        self.handle.is_some()
    }

    pub fn is_operator(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The columns `Row` reads, for a query over `accounts a`.
pub(crate) const COLUMNS: &str = "a.id AS account_id, a.role AS account_role, a.name AS account_name, \
     a.email AS account_email, a.email_verified_at AS account_verified_at, a.handle AS account_handle, \
     a.anonymous AS account_anonymous, a.suspended_at AS account_suspended_at, \
     a.created_at AS account_created_at";

#[derive(FromRow)]
pub(crate) struct Row {
    account_id: String,
    account_role: String,
    account_name: String,
    account_email: Option<String>,
    account_verified_at: Option<i64>,
    account_handle: Option<String>,
    account_anonymous: i64,
    account_suspended_at: Option<i64>,
    account_created_at: i64,
}

impl Row {
    pub(crate) fn read(row: &AnyRow) -> sqlx::Result<Account> {
        let r = Row::from_row(row)?;
        Ok(Account {
            id: AccountId::from_db(r.account_id),
            // Legacy roles ('creator', 'merchant', 'viewer') exist only until `upgrade` runs,
            // which happens before the server answers anything.
            role: r.account_role.parse().unwrap_or(Role::User),
            display_name: r.account_name,
            email: r.account_email,
            email_verified: r.account_verified_at.is_some(),
            handle: r.account_handle,
            anonymous: r.account_anonymous != 0,
            suspended: r.account_suspended_at.is_some(),
            created_at: r.account_created_at,
        })
    }
}

pub async fn get(db: &Db, id: &AccountId) -> sqlx::Result<Option<Account>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM accounts a WHERE a.id = $1"))
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?
        .map(|row| Row::read(&row))
        .transpose()
}

pub async fn by_email(db: &Db, email: &str) -> sqlx::Result<Option<Account>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM accounts a WHERE a.email = $1"
    ))
    .bind(email)
    .fetch_optional(db.pool())
    .await?
    .map(|row| Row::read(&row))
    .transpose()
}

/// What a new account starts with.
pub struct NewAccount<'a> {
    pub role: Role,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub handle: Option<&'a Handle>,
    pub anonymous: bool,
}

/// Inserts an account (inside the caller's transaction).
pub async fn insert(
    conn: &mut vitrine_core::db::Conn,
    new: NewAccount<'_>,
) -> sqlx::Result<AccountId> {
    let id = AccountId::generate();
    sqlx::query(
        "INSERT INTO accounts (id, role, name, token_hash, email, password_hash, handle, anonymous, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id.as_str())
    .bind(new.role.as_str())
    .bind(new.display_name)
    .bind(format!("none:{id}"))
    .bind(new.email)
    .bind(new.password_hash)
    .bind(new.handle.map(Handle::as_str))
    .bind(i64::from(new.anonymous))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

#[derive(Debug, thiserror::Error)]
pub enum BecomeCreatorError {
    #[error("that handle is taken")]
    HandleTaken,
    #[error("you are already a creator, as @{0}")]
    AlreadyCreator(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Turns on creator capabilities with `handle`. Asking again with the same handle is a no-op.
pub async fn become_creator(
    db: &Db,
    account: &AccountId,
    handle: &Handle,
) -> Result<(), BecomeCreatorError> {
    let done = sqlx::query("UPDATE accounts SET handle = $1 WHERE id = $2 AND handle IS NULL")
        .bind(handle.as_str())
        .bind(account.as_str())
        .execute(db.pool())
        .await;
    db.changed(vitrine_core::changes::Topic::Identity);
    match done {
        Ok(r) if r.rows_affected() == 1 => Ok(()),
        Ok(_) => {
            let current = get(db, account).await?.and_then(|a| a.handle);
            match current {
                Some(h) if h == handle.as_str() => Ok(()),
                Some(h) => Err(BecomeCreatorError::AlreadyCreator(h)),
                None => Err(BecomeCreatorError::Db(sqlx::Error::RowNotFound)),
            }
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(BecomeCreatorError::HandleTaken)
        }
        Err(e) => Err(e.into()),
    }
}

/// `wanted`, or the first free `wanted_N`.
pub async fn free_handle(
    conn: &mut vitrine_core::db::Conn,
    wanted: &Handle,
) -> sqlx::Result<Handle> {
    let mut candidate = wanted.clone();
    for n in 2u32.. {
        let taken = sqlx::query("SELECT 1 FROM accounts WHERE handle = $1")
            .bind(candidate.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if !taken {
            break;
        }
        candidate = wanted.numbered(n);
    }
    Ok(candidate)
}

/// Accounts whose email, display name or handle contains `q` (any case), newest first, after
/// `after` (the previous page's last).
pub async fn search(
    db: &Db,
    q: Option<&str>,
    after: Option<&AccountId>,
    limit: i64,
) -> sqlx::Result<Vec<Account>> {
    let pattern = q.map(|q| {
        let escaped = q
            .trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts a WHERE ($1 IS NULL OR lower(a.email) LIKE $1 ESCAPE '\\' \
         OR lower(a.name) LIKE $1 ESCAPE '\\' OR a.handle LIKE $1 ESCAPE '\\') \
         AND ($2 IS NULL OR a.id < $2) ORDER BY a.id DESC LIMIT {}",
        limit.clamp(1, 200)
    );
    sqlx::query(&sql)
        .bind(pattern)
        .bind(after.map(AccountId::as_str))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(Row::read)
        .collect()
}

/// Suspends an account (`reason` kept for operators) or restores it (`None`). Its sessions and
/// keys stop or start working at once (they are checked on every request); its clips leave or
/// return to the feed (its videos are touched, so the feed's refresh sees them); its shops stop
/// or start selling. Nothing is deleted. False if there is no such account.
pub async fn set_suspended(db: &Db, id: &AccountId, reason: Option<&str>) -> sqlx::Result<bool> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let done =
        sqlx::query("UPDATE accounts SET suspended_at = $1, suspended_reason = $2 WHERE id = $3")
            .bind(reason.map(|_| now))
            .bind(reason)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
    sqlx::query("UPDATE videos SET updated_at = $1 WHERE creator_id = $2")
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    db.changed(vitrine_core::changes::Topic::Identity);
    db.changed(vitrine_core::changes::Topic::Showcase);
    Ok(done.rows_affected() == 1)
}

/// Lower-cases and checks an email address (the shape only: a link sent to it proves it).
pub fn parse_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    ok.then_some(email)
}

/// A display name: trimmed, 1–60 characters, no control characters.
pub fn parse_display_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let ok = (1..=60).contains(&name.chars().count()) && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked_for_shape() {
        assert_eq!(
            parse_email(" Ana@Example.COM ").as_deref(),
            Some("ana@example.com")
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a na@x.io",
            "ana@.io",
        ] {
            assert_eq!(parse_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(parse_display_name("  Ana ").as_deref(), Some("Ana"));
        assert_eq!(parse_display_name("   "), None);
        assert_eq!(parse_display_name(&"x".repeat(61)), None);
        assert_eq!(parse_display_name("a\u{7}b"), None);
    }
}
