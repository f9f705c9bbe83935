//! Accounts and their bearer tokens.
//!
//! A token is 32 random bytes shown once at creation; only its SHA-256 is stored, so a leaked
//! database does not leak credentials.

use std::{fmt, str::FromStr};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use utoipa::ToSchema;

use crate::{db::Db, ids::AccountId, time::now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Creator,
    Merchant,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Merchant => "merchant",
            Role::Viewer => "viewer",
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
            "creator" => Ok(Role::Creator),
            "merchant" => Ok(Role::Merchant),
            "viewer" => Ok(Role::Viewer),
            other => anyhow::bail!("unknown role {other:?} (creator, merchant or viewer)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub role: Role,
    pub name: String,
}

/// A new account together with the only copy of its token.
#[derive(Debug, Serialize)]
pub struct NewAccount {
    pub id: AccountId,
    pub role: Role,
    pub name: String,
    pub token: String,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn create(db: &Db, role: Role, name: &str) -> anyhow::Result<NewAccount> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "an account needs a non-empty name");
    let id = AccountId::generate();
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!("vt_{}", hex::encode(raw));
    sqlx::query(
        "INSERT INTO accounts (id, role, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.as_str())
    .bind(role.as_str())
    .bind(name)
    .bind(hash_token(&token))
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(NewAccount {
        id,
        role,
        name: name.to_owned(),
        token,
    })
}

pub async fn authenticate(db: &Db, token: &str) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query("SELECT id, role, name FROM accounts WHERE token_hash = $1")
        .bind(hash_token(token))
        .fetch_optional(db.pool())
        .await?;
    Ok(row.and_then(|row| {
        Some(Account {
            id: AccountId::from_db(row.get("id")),
            role: row.get::<String, _>("role").parse().ok()?,
            name: row.get("name"),
        })
    }))
}

pub async fn exists(db: &Db, id: &AccountId) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?
        .is_some())
}
