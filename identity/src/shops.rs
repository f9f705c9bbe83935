//! Shops: sellers with members. The owner (one per shop) manages members and keys; any member
//! acts for the shop (products, tags, orders, analytics).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use vitrine_core::{
    db::Db,
    ids::{AccountId, ShopId},
    time::now_ms,
};

use crate::principal::{Credential, Principal};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shop {
    pub id: ShopId,
    pub name: String,
    pub owner: AccountId,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Owner,
    Staff,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Staff => "staff",
        }
    }
}

impl fmt::Display for MemberRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemberRole {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<MemberRole> {
        match s {
            "owner" => Ok(MemberRole::Owner),
            "staff" => Ok(MemberRole::Staff),
            other => anyhow::bail!("unknown member role {other:?}"),
        }
    }
}

/// A shop's name: trimmed, 1–80 characters, no control characters.
pub fn parse_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let ok = (1..=80).contains(&name.chars().count()) && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

/// Opens a shop owned by `owner` (inside the caller's transaction).
pub async fn create(
    conn: &mut vitrine_core::db::Conn,
    owner: &AccountId,
    name: &str,
) -> sqlx::Result<Shop> {
    let shop = Shop {
        id: ShopId::generate(),
        name: name.to_owned(),
        owner: owner.clone(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO shops (id, name, owner_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(shop.id.as_str())
    .bind(&shop.name)
    .bind(owner.as_str())
    .bind(shop.created_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO shop_members (shop_id, account_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(shop.id.as_str())
    .bind(owner.as_str())
    .bind(shop.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(shop)
}

fn read(row: &sqlx::any::AnyRow) -> sqlx::Result<Shop> {
    Ok(Shop {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        owner: row.try_get("owner_id")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn get(db: &Db, id: &ShopId) -> sqlx::Result<Option<Shop>> {
    sqlx::query("SELECT id, name, owner_id, created_at FROM shops WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?
        .map(|row| read(&row))
        .transpose()
}

/// The shops `account` belongs to, oldest membership first, with its role in each.
pub async fn memberships(db: &Db, account: &AccountId) -> sqlx::Result<Vec<(Shop, MemberRole)>> {
    let rows = sqlx::query(
        "SELECT s.id, s.name, s.owner_id, s.created_at, m.role FROM shop_members m \
         JOIN shops s ON s.id = m.shop_id WHERE m.account_id = $1 ORDER BY m.created_at, s.id",
    )
    .bind(account.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok((read(row)?, role.parse().unwrap_or(MemberRole::Staff)))
        })
        .collect()
}

/// `account`'s role in `shop`, if it is a member.
pub async fn role_in(
    db: &Db,
    shop: &ShopId,
    account: &AccountId,
) -> sqlx::Result<Option<MemberRole>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM shop_members WHERE shop_id = $1 AND account_id = $2")
            .bind(shop.as_str())
            .bind(account.as_str())
            .fetch_optional(db.pool())
            .await?;
    Ok(role.and_then(|r| r.parse().ok()))
}

#[derive(Debug, Clone)]
pub struct Member {
    pub account: AccountId,
    pub display_name: String,
    pub email: Option<String>,
    pub role: MemberRole,
    pub since: i64,
}

pub async fn members(db: &Db, shop: &ShopId) -> sqlx::Result<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT a.id, a.name, a.email, m.role, m.created_at FROM shop_members m \
         JOIN accounts a ON a.id = m.account_id WHERE m.shop_id = $1 ORDER BY m.created_at, a.id",
    )
    .bind(shop.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Member {
                account: row.try_get("id")?,
                display_name: row.try_get("name")?,
                email: row.try_get("email")?,
                role: row
                    .try_get::<String, _>("role")?
                    .parse()
                    .unwrap_or(MemberRole::Staff),
                since: row.try_get("created_at")?,
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("that account is already a member of this shop")]
    AlreadyMember,
    #[error("the owner cannot be removed from their shop")]
    Owner,
    #[error("that account is not a member of this shop")]
    NotMember,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Invites `email` to work for `shop` as staff (again: a no-op). Nobody is made a member until
/// they accept (`join`); whether the email has an account is not told.
pub async fn invite(
    db: &Db,
    shop: &ShopId,
    email: &str,
    by: &AccountId,
) -> Result<(), MembershipError> {
    let member: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM shop_members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.shop_id = $1 AND a.email = $2",
    )
    .bind(shop.as_str())
    .bind(email)
    .fetch_optional(db.pool())
    .await?;
    if member.is_some() {
        return Err(MembershipError::AlreadyMember);
    }
    sqlx::query(
        "INSERT INTO shop_invitations (shop_id, email, role, invited_by, created_at) \
         VALUES ($1, $2, 'staff', $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(shop.as_str())
    .bind(email)
    .bind(by.as_str())
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The shops that invited `email`, oldest invitation first.
pub async fn invitations(db: &Db, email: &str) -> sqlx::Result<Vec<Shop>> {
    let rows = sqlx::query(
        "SELECT s.id, s.name, s.owner_id, s.created_at FROM shop_invitations i \
         JOIN shops s ON s.id = i.shop_id WHERE i.email = $1 ORDER BY i.created_at, s.id",
    )
    .bind(email)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(read).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("this shop has not invited your email address")]
    NotInvited,
    #[error("verify your email address first: the invitation was sent to it")]
    EmailNotVerified,
    #[error(transparent)]
    Membership(#[from] MembershipError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Accepts `shop`'s invitation to `account`'s (verified) email: it becomes staff.
pub async fn join(
    db: &Db,
    shop: &ShopId,
    account: &crate::accounts::Account,
) -> Result<(), JoinError> {
    let Some(email) = &account.email else {
        return Err(JoinError::NotInvited);
    };
    if !account.email_verified {
        return Err(JoinError::EmailNotVerified);
    }
    let mut tx = db.begin().await?;
    let taken = sqlx::query("DELETE FROM shop_invitations WHERE shop_id = $1 AND email = $2")
        .bind(shop.as_str())
        .bind(email)
        .execute(&mut *tx)
        .await?;
    if taken.rows_affected() == 0 {
        return Err(JoinError::NotInvited);
    }
    insert_staff(&mut tx, shop, &account.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes `account` staff of `shop` at once (scripts and tests; people join by invitation).
pub async fn add_staff(db: &Db, shop: &ShopId, account: &AccountId) -> Result<(), MembershipError> {
    let mut conn = db.pool().acquire().await?;
    insert_staff(&mut conn, shop, account).await
}

async fn insert_staff(
    conn: &mut vitrine_core::db::Conn,
    shop: &ShopId,
    account: &AccountId,
) -> Result<(), MembershipError> {
    let added = sqlx::query(
        "INSERT INTO shop_members (shop_id, account_id, role, created_at) VALUES ($1, $2, 'staff', $3)",
    )
    .bind(shop.as_str())
    .bind(account.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await;
    match added {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(MembershipError::AlreadyMember)
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes a staff member; their keys for the shop stop working with their membership.
pub async fn remove(db: &Db, shop: &ShopId, account: &AccountId) -> Result<(), MembershipError> {
    match role_in(db, shop, account).await? {
        None => Err(MembershipError::NotMember),
        Some(MemberRole::Owner) => Err(MembershipError::Owner),
        Some(MemberRole::Staff) => {
            sqlx::query("DELETE FROM shop_members WHERE shop_id = $1 AND account_id = $2")
                .bind(shop.as_str())
                .bind(account.as_str())
                .execute(db.pool())
                .await?;
            db.changed(vitrine_core::changes::Topic::Identity);
            Ok(())
        }
    }
}

/// Why a caller cannot act for a shop.
#[derive(Debug, thiserror::Error)]
pub enum ShopAccessError {
    #[error("open a shop first (POST /v1/shops)")]
    NoShop,
    #[error("you belong to several shops: say which one with shop_id")]
    Ambiguous,
    #[error("you are not a member of that shop")]
    NotMember,
    #[error("this API key acts for another shop")]
    OtherShop,
    #[error("this API key acts for the person who made it, not for a shop: the shop's owner makes shop keys")]
    PersonalKey,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The shop a caller acts for, and their role in it: `asked`, else the shop of their API key,
/// else their only shop.
pub async fn acting_for(
    db: &Db,
    caller: &Principal,
    asked: Option<&ShopId>,
) -> Result<(ShopId, MemberRole), ShopAccessError> {
    let me = &caller.account.id;
    // Only the owner manages a shop's keys: a personal key (a staff member's, say) never acts
    // for a shop.
    let bound = match &caller.credential {
        Credential::ApiKey { shop: None, .. } => return Err(ShopAccessError::PersonalKey),
        Credential::ApiKey { shop, .. } => shop.as_ref(),
        Credential::Session { .. } => None,
    };
    let shop = match (asked, bound) {
        (Some(asked), Some(bound)) if asked != bound => return Err(ShopAccessError::OtherShop),
        (Some(shop), _) | (None, Some(shop)) => shop.clone(),
        (None, None) => {
            let mut mine = memberships(db, me).await?;
            return match mine.len() {
                0 => Err(ShopAccessError::NoShop),
                1 => {
                    let (shop, role) = mine.pop().expect("one");
                    Ok((shop.id, role))
                }
                _ => Err(ShopAccessError::Ambiguous),
            };
        }
    };
    let role = role_in(db, &shop, me)
        .await?
        .ok_or(ShopAccessError::NotMember)?;
    Ok((shop, role))
}

/// Whether `caller` may act for `shop` (any member; an API key only for its own shop).
pub async fn may_act_for(db: &Db, caller: &Principal, shop: &ShopId) -> sqlx::Result<bool> {
    match acting_for(db, caller, Some(shop)).await {
        Ok(_) => Ok(true),
        Err(ShopAccessError::Db(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// Whether the shop sells: its owner's account is not suspended.
pub async fn selling(db: &Db, shop: &ShopId) -> sqlx::Result<bool> {
    let suspended: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT a.suspended_at FROM shops s JOIN accounts a ON a.id = s.owner_id WHERE s.id = $1",
    )
    .bind(shop.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(matches!(suspended, Some(None)))
}
