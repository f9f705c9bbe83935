//! Accounts made by scripts and benchmarks (`vitrine account create --role R --name N`): no
//! email or password, a session token printed once. A creator gets a handle derived from the
//! name, a merchant a shop of that name, an admin the operator role.

use std::str::FromStr;

use serde::Serialize;
use vitrine_core::{
    db::Db,
    ids::{AccountId, ShopId},
};

use crate::{
    accounts::{self, NewAccount, Role},
    handle::Handle,
    sessions::{self, SessionPolicy},
    shops,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptRole {
    Creator,
    Merchant,
    Viewer,
    Admin,
}

impl FromStr for ScriptRole {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<ScriptRole> {
        match s {
            "creator" => Ok(ScriptRole::Creator),
            "merchant" => Ok(ScriptRole::Merchant),
            "viewer" => Ok(ScriptRole::Viewer),
            "admin" => Ok(ScriptRole::Admin),
            other => anyhow::bail!("unknown role {other:?} (creator, merchant, viewer or admin)"),
        }
    }
}

impl ScriptRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptRole::Creator => "creator",
            ScriptRole::Merchant => "merchant",
            ScriptRole::Viewer => "viewer",
            ScriptRole::Admin => "admin",
        }
    }
}

/// What `vitrine account create` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptAccount {
    pub id: AccountId,
    /// The role asked for (`creator`, `merchant`, `viewer`, `admin`).
    pub role: &'static str,
    pub name: String,
    /// A session token (it expires like any session).
    pub token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<ShopId>,
}

pub async fn create(
    db: &Db,
    policy: &SessionPolicy,
    role: ScriptRole,
    name: &str,
) -> anyhow::Result<ScriptAccount> {
    let name = accounts::parse_display_name(name)
        .ok_or_else(|| anyhow::anyhow!("an account needs a name of 1 to 60 characters"))?;
    let mut tx = db.begin().await?;
    let handle = match role {
        ScriptRole::Creator => Some(accounts::free_handle(&mut tx, &Handle::derive(&name)).await?),
        _ => None,
    };
    let id = accounts::insert(
        &mut tx,
        NewAccount {
            role: if role == ScriptRole::Admin {
                Role::Admin
            } else {
                Role::User
            },
            display_name: &name,
            email: None,
            password_hash: None,
            handle: handle.as_ref(),
            anonymous: false,
        },
    )
    .await?;
    let shop = match role {
        ScriptRole::Merchant => Some(shops::create(&mut tx, &id, &name).await?.id),
        _ => None,
    };
    let session = sessions::start(&mut tx, policy, &id, Some("vitrine account create")).await?;
    tx.commit().await?;
    Ok(ScriptAccount {
        id,
        role: role.as_str(),
        name,
        token: session.token,
        handle: handle.map(|h| h.to_string()),
        shop_id: shop,
    })
}
