//! Signing up, signing in and anonymous viewers.

use secrecy::SecretString;
use sqlx::Row;
use vitrine_core::{db::Db, ids::AccountId};

use crate::{
    accounts::{self, Account, NewAccount, Role},
    password::{self, WeakPassword},
    sessions::{self, SessionPolicy, Started},
    throttle::{self, Verdict},
    tokens::{self, Purpose},
};

#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("that is not an email address")]
    InvalidEmail,
    #[error("a display name is 1 to 60 characters")]
    InvalidName,
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    #[error("an account with that email exists: sign in instead")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct SignUp<'a> {
    pub email: &'a str,
    pub password: &'a SecretString,
    pub display_name: &'a str,
}

/// Makes an account with a password and starts its first session. `claimed`: the caller's
/// account if it has no email yet — an anonymous viewer's, or one made before sign-up existed
/// or by a script — which becomes this account (its id, and so its history, clips and shops,
/// kept).
pub async fn sign_up(
    db: &Db,
    policy: &SessionPolicy,
    input: SignUp<'_>,
    claimed: Option<&AccountId>,
    user_agent: Option<&str>,
) -> Result<(Account, Started), SignUpError> {
    let email = accounts::parse_email(input.email).ok_or(SignUpError::InvalidEmail)?;
    let name = accounts::parse_display_name(input.display_name).ok_or(SignUpError::InvalidName)?;
    password::check(input.password, Some(&email))?;
    if accounts::by_email(db, &email).await?.is_some() {
        return Err(SignUpError::EmailTaken);
    }
    let hash = password::hash(input.password).await?;
    let mut tx = db.begin().await?;
    let kept = match claimed {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE accounts SET email = $1, password_hash = $2, name = $3, anonymous = 0 \
                 WHERE id = $4 AND email IS NULL",
            )
            .bind(&email)
            .bind(&hash)
            .bind(&name)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(taken)?;
            match done.rows_affected() {
                0 => None,
                _ => {
                    // Its tokens were handed out before this person proved anything.
                    sessions::end_all(&mut tx, id, None).await?;
                    Some(id.clone())
                }
            }
        }
        None => None,
    };
    let id = match kept {
        Some(id) => id,
        None => accounts::insert(
            &mut tx,
            NewAccount {
                role: Role::User,
                display_name: &name,
                email: Some(&email),
                password_hash: Some(&hash),
                handle: None,
                anonymous: false,
            },
        )
        .await
        .map_err(taken)?,
    };
    let session = sessions::start(&mut tx, policy, &id, user_agent).await?;
    tx.commit().await?;
    db.changed(vitrine_core::changes::Topic::Identity);
    let account = accounts::get(db, &id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((account, session))
}

/// A unique violation (two sign-ups with one email at once) is the email being taken.
fn taken(e: sqlx::Error) -> SignUpError {
    match e {
        sqlx::Error::Database(e) if e.is_unique_violation() => SignUpError::EmailTaken,
        e => SignUpError::Db(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogInError {
    /// Wrong password, unknown email or an account without a password: one answer for all.
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins: try again later")]
    Throttled(std::time::Duration),
    #[error("this account is suspended")]
    Suspended,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Checks a password and starts a session. An unknown email costs the same time as a wrong
/// password (a hash is checked either way), and failures are throttled per email and address.
pub async fn log_in(
    db: &Db,
    policy: &SessionPolicy,
    email: &str,
    password: &SecretString,
    address: &str,
    user_agent: Option<&str>,
) -> Result<(Account, Started), LogInError> {
    let email = accounts::parse_email(email).unwrap_or_else(|| email.trim().to_lowercase());
    match throttle::attempt(db, &email, address).await? {
        Verdict::Refuse(after) => return Err(LogInError::Throttled(after)),
        Verdict::Proceed(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
        Verdict::Proceed(_) => {}
    }
    let found = sqlx::query(&format!(
        "SELECT {}, a.password_hash FROM accounts a WHERE a.email = $1",
        accounts::COLUMNS
    ))
    .bind(&email)
    .fetch_optional(db.pool())
    .await?;
    let (account, stored) = match &found {
        Some(row) => (
            Some(accounts::Row::read(row)?),
            row.try_get::<Option<String>, _>("password_hash")?,
        ),
        None => (None, None),
    };
    let matches = password::verify(password, stored).await?;
    let account = match account {
        Some(account) if matches => account,
        _ => return Err(LogInError::InvalidCredentials),
    };
    throttle::succeeded(db, &email, address).await?;
    if account.suspended {
        return Err(LogInError::Suspended);
    }
    let mut conn = db.pool().acquire().await?;
    let session = sessions::start(&mut conn, policy, &account.id, user_agent).await?;
    Ok((account, session))
}

/// A viewer account without email or password, for a phone or browser that has not signed up:
/// its feed learns from its own events from the first swipe.
pub async fn anonymous(
    db: &Db,
    policy: &SessionPolicy,
    user_agent: Option<&str>,
) -> sqlx::Result<(Account, Started)> {
    let mut tx = db.begin().await?;
    let id = accounts::insert(
        &mut tx,
        NewAccount {
            role: Role::User,
            display_name: "Guest",
            email: None,
            password_hash: None,
            handle: None,
            anonymous: true,
        },
    )
    .await?;
    let session = sessions::start(&mut tx, policy, &id, user_agent).await?;
    tx.commit().await?;
    let account = accounts::get(db, &id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((account, session))
}

/// An operator (`role = admin`) who signs in with `email` (`vitrine admin create`): with
/// `password` (the same policy as everyone's), or without one yet and a link (valid 24 hours,
/// returned) to set it.
pub async fn create_operator(
    db: &Db,
    email: &str,
    display_name: &str,
    password: Option<&SecretString>,
) -> anyhow::Result<(AccountId, Option<String>)> {
    let email = accounts::parse_email(email)
        .ok_or_else(|| anyhow::anyhow!("{email:?} is not an email address"))?;
    let name = accounts::parse_display_name(display_name)
        .ok_or_else(|| anyhow::anyhow!("a display name is 1 to 60 characters"))?;
    if let Some(password) = password {
        password::check(password, Some(&email))?;
    }
    anyhow::ensure!(
        accounts::by_email(db, &email).await?.is_none(),
        "an account with {email} exists"
    );
    let hash = match password {
        Some(password) => Some(password::hash(password).await?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let id = accounts::insert(
        &mut tx,
        NewAccount {
            role: Role::Admin,
            display_name: &name,
            email: Some(&email),
            password_hash: hash.as_deref(),
            handle: None,
            anonymous: false,
        },
    )
    .await?;
    tx.commit().await?;
    let link = match password {
        Some(_) => None,
        None => Some(tokens::issue(db, &id, Purpose::ResetPassword, 24 * 3600 * 1000).await?),
    };
    Ok((id, link))
}

/// A reset link for the account with `email`, if there is one that may sign in (an unknown
/// email gets nothing, and the caller answers the same either way).
pub async fn request_reset(db: &Db, email: &str) -> sqlx::Result<Option<(Account, String)>> {
    let Some(email) = accounts::parse_email(email) else {
        return Ok(None);
    };
    let Some(account) = accounts::by_email(db, &email).await? else {
        return Ok(None);
    };
    if account.suspended {
        return Ok(None);
    }
    let token = tokens::issue(
        db,
        &account.id,
        Purpose::ResetPassword,
        tokens::RESET_PASSWORD_MS,
    )
    .await?;
    Ok(Some((account, token)))
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("this link is unknown, used or expired: ask for a new one")]
    InvalidToken,
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Sets a new password with a reset link: every session ends, a new one starts, and the email
/// counts as verified (the link arrived there).
pub async fn reset_password(
    db: &Db,
    policy: &SessionPolicy,
    token: &str,
    new_password: &SecretString,
    user_agent: Option<&str>,
) -> Result<(Account, Started), ResetError> {
    // A bad link costs no hashing (a flood of made-up tokens must stay cheap); it is checked
    // again, and used up, in the transaction.
    if !tokens::usable(db, token, Purpose::ResetPassword).await? {
        return Err(ResetError::InvalidToken);
    }
    let hash = password::hash(new_password).await?;
    let mut tx = db.begin().await?;
    let id = tokens::redeem(&mut tx, token, Purpose::ResetPassword)
        .await?
        .ok_or(ResetError::InvalidToken)?;
    tokens::void_all(&mut tx, &id, Purpose::ResetPassword).await?;
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM accounts WHERE id = $1")
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
    password::check(new_password, email.as_deref())?;
    sqlx::query(
        "UPDATE accounts SET password_hash = $1, \
         email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3",
    )
    .bind(&hash)
    .bind(vitrine_core::time::now_ms())
    .bind(id.as_str())
    .execute(&mut *tx)
    .await?;
    sessions::end_all(&mut tx, &id, None).await?;
    let session = sessions::start(&mut tx, policy, &id, user_agent).await?;
    tx.commit().await?;
    db.changed(vitrine_core::changes::Topic::Identity);
    if let Some(email) = &email {
        throttle::forget(db, email).await?;
    }
    let account = accounts::get(db, &id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((account, session))
}

/// A verification link for the account's email (none for an account without one, or already
/// verified).
pub async fn verification_link(db: &Db, account: &Account) -> sqlx::Result<Option<String>> {
    if account.email.is_none() || account.email_verified {
        return Ok(None);
    }
    tokens::issue(
        db,
        &account.id,
        Purpose::VerifyEmail,
        tokens::VERIFY_EMAIL_MS,
    )
    .await
    .map(Some)
}

/// Marks the email of the link's account verified; `None` for an unknown, used or expired
/// link.
pub async fn verify_email(db: &Db, token: &str) -> sqlx::Result<Option<Account>> {
    let mut tx = db.begin().await?;
    let Some(id) = tokens::redeem(&mut tx, token, Purpose::VerifyEmail).await? else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2",
    )
    .bind(vitrine_core::time::now_ms())
    .bind(id.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.changed(vitrine_core::changes::Topic::Identity);
    accounts::get(db, &id).await
}
