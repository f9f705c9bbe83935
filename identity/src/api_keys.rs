//! API keys for integrators (Stripe's restricted keys): `vk_live_…`, shown once, stored as a
//! hash, limited to scopes, optionally acting for one shop, revocable at once, with the time of
//! their last use.

use sqlx::Row;
use vitrine_core::{
    db::Db,
    ids::{AccountId, ApiKeyId, ShopId},
    time::now_ms,
};

use crate::{
    accounts, hash_secret, new_secret,
    principal::{AuthError, Credential, Principal, Scope},
};

pub const KEY_PREFIX: &str = "vk_live_";
/// How much of a key is kept in clear, to tell keys apart in a list.
const SHOWN_CHARS: usize = KEY_PREFIX.len() + 6;

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    /// The key's first characters (`vk_live_1a2b3c`).
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub shop: Option<ShopId>,
    pub created_by: AccountId,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A key just made, with the only copy of its secret.
pub struct Created {
    pub key: ApiKey,
    pub secret: String,
}

pub async fn create(
    db: &Db,
    account: &AccountId,
    name: &str,
    scopes: &[Scope],
    shop: Option<&ShopId>,
) -> sqlx::Result<Created> {
    let id = ApiKeyId::generate();
    let secret = new_secret(KEY_PREFIX);
    let prefix = secret[..SHOWN_CHARS].to_owned();
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, shop_id, name, prefix, key_hash, scopes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.as_str())
    .bind(account.as_str())
    .bind(shop.map(ShopId::as_str))
    .bind(name)
    .bind(&prefix)
    .bind(hash_secret(&secret))
    .bind(join(&scopes))
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(Created {
        key: ApiKey {
            id,
            name: name.to_owned(),
            prefix,
            scopes,
            shop: shop.cloned(),
            created_by: account.clone(),
            created_at: now,
            last_used_at: None,
        },
        secret,
    })
}

fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn split(scopes: &str) -> Vec<Scope> {
    scopes
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

const COLUMNS: &str = "k.id, k.account_id, k.shop_id, k.name, k.prefix, k.scopes, k.created_at, \
     k.last_used_at";

fn read(row: &sqlx::any::AnyRow) -> sqlx::Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: split(&row.try_get::<String, _>("scopes")?),
        shop: row
            .try_get::<Option<String>, _>("shop_id")?
            .map(ShopId::from_db),
        created_by: row.try_get("account_id")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// The keys that still work that `account` made for itself, and those of `shops`, newest first.
pub async fn list(db: &Db, account: &AccountId, shops: &[ShopId]) -> sqlx::Result<Vec<ApiKey>> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.revoked_at IS NULL \
         AND ((k.account_id = $1 AND k.shop_id IS NULL)"
    );
    if !shops.is_empty() {
        sql.push_str(&format!(
            " OR k.shop_id IN ({})",
            vitrine_core::db::placeholder_list(shops.len(), 2)
        ));
    }
    sql.push_str(") ORDER BY k.created_at DESC, k.id DESC");
    let mut query = sqlx::query(&sql).bind(account.as_str());
    for shop in shops {
        query = query.bind(shop.as_str());
    }
    query.fetch_all(db.pool()).await?.iter().map(read).collect()
}

pub async fn get(db: &Db, id: &ApiKeyId) -> sqlx::Result<Option<ApiKey>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.id = $1 AND k.revoked_at IS NULL"
    ))
    .bind(id.as_str())
    .fetch_optional(db.pool())
    .await?
    .map(|row| read(&row))
    .transpose()
}

/// Revokes a key; false if it was not live.
pub async fn revoke(db: &Db, id: &ApiKeyId) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id.as_str())
            .execute(db.pool())
            .await?;
    db.changed(vitrine_core::changes::Topic::Identity);
    Ok(done.rows_affected() == 1)
}

/// The caller behind an API key, and when the key was last recorded used. A shop's key stops
/// working when its maker leaves the shop. Keys do not expire (`i64::MAX`).
pub(crate) async fn authenticate(
    db: &Db,
    secret: &str,
) -> Result<(Principal, i64, Option<i64>), AuthError> {
    let row = sqlx::query(&format!(
        "SELECT k.id AS key_id, k.shop_id AS key_shop_id, k.scopes AS key_scopes, \
         k.revoked_at AS key_revoked_at, k.last_used_at AS key_last_used_at, \
         (SELECT 1 FROM shop_members m WHERE m.shop_id = k.shop_id AND m.account_id = k.account_id) \
           AS key_member, {} \
         FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = $1",
        accounts::COLUMNS
    ))
    .bind(hash_secret(secret))
    .fetch_optional(db.pool())
    .await?
    .ok_or(AuthError::Unknown)?;
    let account = accounts::Row::read(&row)?;
    let id: ApiKeyId = row.try_get("key_id")?;
    let shop = row
        .try_get::<Option<String>, _>("key_shop_id")?
        .map(ShopId::from_db);
    let member: Option<i64> = row.try_get("key_member")?;
    if row.try_get::<Option<i64>, _>("key_revoked_at")?.is_some()
        || (shop.is_some() && member.is_none())
    {
        return Err(AuthError::KeyRevoked);
    }
    if account.suspended {
        return Err(AuthError::Suspended);
    }
    let now = now_ms();
    let last_used: Option<i64> = row.try_get("key_last_used_at")?;
    crate::touch::used(db, "api_keys", id.as_str(), last_used, now);
    let principal = Principal {
        account,
        credential: Credential::ApiKey {
            id,
            scopes: split(&row.try_get::<String, _>("key_scopes")?),
            shop,
        },
    };
    Ok((principal, i64::MAX, last_used))
}
