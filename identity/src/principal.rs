//! From a token to a caller: the one way every route learns who is asking.

use std::{fmt, str::FromStr, sync::Arc};

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use vitrine_core::{
    changes::Topic,
    db::Db,
    ids::{ApiKeyId, SessionId, ShopId},
    time::now_ms,
};

use crate::{
    accounts::{self, Account},
    api_keys, hash_secret,
    sessions::SessionPolicy,
};

/// What an API key may do. Sessions may do everything their account may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    #[serde(rename = "videos:read")]
    VideosRead,
    #[serde(rename = "videos:write")]
    VideosWrite,
    #[serde(rename = "products:read")]
    ProductsRead,
    #[serde(rename = "products:write")]
    ProductsWrite,
    #[serde(rename = "orders:read")]
    OrdersRead,
    #[serde(rename = "orders:write")]
    OrdersWrite,
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    #[serde(rename = "events:write")]
    EventsWrite,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::VideosRead,
        Scope::VideosWrite,
        Scope::ProductsRead,
        Scope::ProductsWrite,
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::AnalyticsRead,
        Scope::EventsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::VideosRead => "videos:read",
            Scope::VideosWrite => "videos:write",
            Scope::ProductsRead => "products:read",
            Scope::ProductsWrite => "products:write",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::AnalyticsRead => "analytics:read",
            Scope::EventsWrite => "events:write",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Scope, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    Session {
        id: SessionId,
    },
    ApiKey {
        id: ApiKeyId,
        scopes: Vec<Scope>,
        /// The shop the key acts for; `None`: its account's own key.
        shop: Option<ShopId>,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    pub credential: Credential,
}

impl Principal {
    /// Whether the credential allows `scope` (a session allows every scope).
    pub fn allows(&self, scope: Scope) -> bool {
        match &self.credential {
            Credential::Session { .. } => true,
            Credential::ApiKey { scopes, .. } => scopes.contains(&scope),
        }
    }

    pub fn session(&self) -> Option<&SessionId> {
        match &self.credential {
            Credential::Session { id } => Some(id),
            Credential::ApiKey { .. } => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No session or key has this token.
    #[error("missing or invalid bearer token")]
    Unknown,
    /// The session was ended, or outlived its lifetime or idle timeout.
    #[error("this session has ended: sign in again")]
    SessionExpired,
    /// The key was revoked.
    #[error("this API key was revoked")]
    KeyRevoked,
    #[error("this account is suspended")]
    Suspended,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The caller behind `token`: a session token (`vt_…`) or an API key (`vk_live_…`), read
/// from the database. Routes go through [`Callers::authenticate`], which keeps the answer.
pub async fn authenticate(
    db: &Db,
    policy: &SessionPolicy,
    token: &str,
) -> Result<Principal, AuthError> {
    Ok(read(db, policy, token).await?.0)
}

/// How long a kept caller is used without reading it again, at most: the change generation
/// already drops it when any process ends a session, revokes a key or changes an account.
const KEEP_MS: i64 = 30_000;
/// Most callers kept.
const KEPT: usize = 100_000;

/// Authenticated callers, kept between their requests so that a request in the steady state
/// does not read the database to learn who is asking.
///
/// A kept caller is used only while the identity generation (`vitrine_core::changes`) is the
/// one it was read at — this process's sign-outs, revocations, suspensions and membership
/// changes move it at once, every process's within a quarter of a second — and not past its
/// session's end (lifetime or idle timeout, as of the read) nor `KEEP_MS`. Failures are not
/// kept.
pub struct Callers {
    kept: quick_cache::sync::Cache<String, Arc<Kept>>,
}

struct Kept {
    principal: Principal,
    generation: u64,
    /// Used until then (Unix ms).
    until: i64,
    /// When the credential was last recorded used (what `touch::used` needs).
    last_used: Option<i64>,
}

impl Default for Callers {
    fn default() -> Self {
        Callers {
            kept: quick_cache::sync::Cache::new(KEPT),
        }
    }
}

impl fmt::Debug for Callers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callers")
            .field("kept", &self.kept.len())
            .finish()
    }
}

impl Callers {
    /// The caller behind `token`, as [`authenticate`] finds it.
    pub async fn authenticate(
        &self,
        db: &Db,
        policy: &SessionPolicy,
        token: &str,
    ) -> Result<Principal, AuthError> {
        let key = hash_secret(token);
        let now = now_ms();
        let generation = db.generations().current(Topic::Identity);
        if let Some(kept) = self.kept.get(&key) {
            if kept.generation == generation && now < kept.until {
                let (table, id) = kept.credential();
                crate::touch::used(db, table, id, kept.last_used, now);
                return Ok(kept.principal.clone());
            }
        }
        let (principal, until, last_used) = read(db, policy, token).await?;
        self.kept.insert(
            key,
            Arc::new(Kept {
                principal: principal.clone(),
                generation,
                until: until.min(now + KEEP_MS),
                last_used,
            }),
        );
        Ok(principal)
    }
}

impl Kept {
    /// The table and row of the credential, whose use `touch::used` records.
    fn credential(&self) -> (&'static str, &str) {
        match &self.principal.credential {
            Credential::Session { id } => ("sessions", id.as_str()),
            Credential::ApiKey { id, .. } => ("api_keys", id.as_str()),
        }
    }
}

/// The caller behind `token`, until when that holds without reading again (a session's end),
/// and when the credential was last recorded used.
async fn read(
    db: &Db,
    policy: &SessionPolicy,
    token: &str,
) -> Result<(Principal, i64, Option<i64>), AuthError> {
    if token.starts_with(api_keys::KEY_PREFIX) {
        return api_keys::authenticate(db, token).await;
    }
    let row = sqlx::query(&format!(
        "SELECT s.id AS session_id, s.created_at AS session_created_at, \
         s.last_used_at AS session_last_used_at, s.ended_at AS session_ended_at, {} \
         FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1",
        accounts::COLUMNS
    ))
    .bind(hash_secret(token))
    .fetch_optional(db.pool())
    .await?
    .ok_or(AuthError::Unknown)?;
    let account = accounts::Row::read(&row)?;
    let id: SessionId = row.try_get("session_id")?;
    let created_at: i64 = row.try_get("session_created_at")?;
    let last_used_at: i64 = row.try_get("session_last_used_at")?;
    let ended_at: Option<i64> = row.try_get("session_ended_at")?;
    let now = now_ms();
    let ends_at = policy.expires_at(created_at, last_used_at);
    if ended_at.is_some() || now >= ends_at {
        return Err(AuthError::SessionExpired);
    }
    if account.suspended {
        return Err(AuthError::Suspended);
    }
    crate::touch::used(db, "sessions", id.as_str(), Some(last_used_at), now);
    let principal = Principal {
        account,
        credential: Credential::Session { id },
    };
    Ok((principal, ends_at, Some(last_used_at)))
}
