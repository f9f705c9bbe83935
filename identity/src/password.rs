//! Passwords: the policy (NIST SP 800-63B §5.1.1.2: at least 8 characters, not a known common
//! password, not the account's own email; no composition rules) and argon2id hashing with
//! OWASP's parameters (19 MiB, 2 passes, 1 lane). Hashing takes tens of milliseconds of CPU on
//! purpose, so it runs on the blocking pool, never on the async runtime.

use std::{collections::HashSet, io::Read, sync::LazyLock};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

pub const MIN_CHARS: usize = 8;
/// Long enough for any passphrase or manager-made password, short enough to bound hashing.
pub const MAX_CHARS: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeakPassword {
    #[error("a password has at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_CHARS} characters")]
    TooLong,
    #[error("that password is one of the most common ones: choose another")]
    Common,
    #[error("a password cannot be your email address")]
    IsEmail,
}

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let gz = include_bytes!("../data/common-passwords.txt.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("the bundled password list is valid gzip");
    text.lines().map(str::to_owned).collect()
});

/// Unicode passwords are compared and hashed in NFKC (NIST 5.1.1.2), so the same password typed
/// on two keyboards is the same.
fn normalized(password: &str) -> String {
    password.nfkc().collect()
}

pub fn check(password: &SecretString, email: Option<&str>) -> Result<(), WeakPassword> {
    let password = normalized(password.expose_secret());
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower) {
        return Err(WeakPassword::Common);
    }
    if email.is_some_and(|e| e.eq_ignore_ascii_case(lower.trim())) {
        return Err(WeakPassword::IsEmail);
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("OWASP's argon2id parameters are valid"),
    )
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?
        .to_string())
}

/// A hash to check unknown emails against, so they take as long as known ones.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash_now("not anyone's password").expect("hashing works"));

/// At most this many hashes run at once (one per core): each takes 19 MiB and tens of
/// milliseconds, and a flood of sign-ins must queue here rather than fill the blocking pool
/// (shared with GStreamer and image work) and the memory.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Runs `work` on the blocking pool, within the hashing limit.
async fn limited<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let _permit = HASHING.acquire().await?;
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// The argon2id PHC string for `password` (on the blocking pool).
pub async fn hash(password: &SecretString) -> anyhow::Result<String> {
    let password = normalized(password.expose_secret());
    limited(move || hash_now(&password)).await?
}

/// Whether `password` matches `stored`. With no stored hash (unknown email, an account without
/// a password) it still does the same work, then says no.
pub async fn verify(password: &SecretString, stored: Option<String>) -> anyhow::Result<bool> {
    let password = normalized(password.expose_secret());
    limited(move || {
        let (phc, real) = match &stored {
            Some(s) => (s.as_str(), true),
            None => (DUMMY.as_str(), false),
        };
        let parsed = PasswordHash::new(phc)
            .map_err(|e| anyhow::anyhow!("a stored hash is unreadable: {e}"))?;
        let matches = hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(real && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn the_policy_refuses_short_common_and_email_passwords_only() {
        assert_eq!(check(&secret("short"), None), Err(WeakPassword::TooShort));
        assert_eq!(check(&secret("password"), None), Err(WeakPassword::Common));
        assert_eq!(check(&secret("Qwerty123"), None), Err(WeakPassword::Common));
        assert_eq!(
            check(&secret("ana@example.com"), Some("ana@example.com")),
            Err(WeakPassword::IsEmail)
        );
        assert_eq!(
            check(&secret(&"x".repeat(257)), None),
            Err(WeakPassword::TooLong)
        );
        // No composition rules: a long lower-case passphrase is fine, and so is Unicode.
        assert_eq!(check(&secret("carrot lip balm in june"), None), Ok(()));
        assert_eq!(check(&secret("пароль-для-витрины"), None), Ok(()));
        // Characters, not bytes: eight Cyrillic letters are eight.
        assert_eq!(check(&secret("ёжикёжик"), None), Ok(()));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash(&secret("carrot lip balm")).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify(&secret("carrot lip balm"), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!verify(&secret("carrot lip bal"), Some(stored))
            .await
            .unwrap());
        assert!(!verify(&secret("not anyone's password"), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn the_same_password_typed_in_another_normal_form_matches() {
        let stored = hash(&secret("cafe\u{301} au lait")).await.unwrap();
        assert!(verify(&secret("caf\u{e9} au lait"), Some(stored))
            .await
            .unwrap());
    }
}
