//! Sign-in throttling (OWASP ASVS 2.2.1): failed attempts are counted per email and per client
//! address in the database, so every API process sees the same count. Past a few failures in the
//! window, answers are slowed down; past more, refused (429) until the window ends. A success
//! clears the email's count (not the address's: one address may try many emails).

use std::time::Duration;

use vitrine_core::{db::Db, time::now_ms};

/// Failures are counted over this window, from the first one.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Failures after which each answer is delayed.
    slow_after: i64,
    /// Failures after which attempts are refused until the window ends.
    refuse_after: i64,
}

/// One person mistyping a few times is not slowed; a guesser is stopped within a dozen tries.
const PER_EMAIL: Limits = Limits {
    slow_after: 5,
    refuse_after: 10,
};
/// An address can be a whole office or a phone carrier's NAT: more room.
const PER_ADDRESS: Limits = Limits {
    slow_after: 20,
    refuse_after: 100,
};

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead, after this delay.
    Proceed(Duration),
    /// Refused: try again after this long.
    Refuse(Duration),
}

fn keys(email: &str, address: &str) -> [(String, Limits); 2] {
    [
        (format!("email:{email}"), PER_EMAIL),
        (format!("addr:{address}"), PER_ADDRESS),
    ]
}

/// The verdict for an attempt to sign in as `email` from `address`.
pub async fn check(db: &Db, email: &str, address: &str) -> sqlx::Result<Verdict> {
    let now = now_ms();
    let mut delay = Duration::ZERO;
    for (key, limits) in keys(email, address) {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT failures, first_at FROM auth_failures WHERE key = $1")
                .bind(&key)
                .fetch_optional(db.pool())
                .await?;
        let Some((failures, first_at)) = row else {
            continue;
        };
        let ends = first_at + WINDOW_MS;
        if now >= ends {
            continue;
        }
        if failures >= limits.refuse_after {
            return Ok(Verdict::Refuse(Duration::from_millis((ends - now) as u64)));
        }
        if failures >= limits.slow_after {
            // 250 ms, doubling per failure, at most 4 s.
            let step = (failures - limits.slow_after).min(4) as u32;
            delay = delay.max(Duration::from_millis(250 << step));
        }
    }
    Ok(Verdict::Proceed(delay))
}

/// Counts a failed attempt.
pub async fn failed(db: &Db, email: &str, address: &str) -> sqlx::Result<()> {
    let now = now_ms();
    for (key, _) in keys(email, address) {
        // A count whose window ended starts again from one.
        sqlx::query(
            "INSERT INTO auth_failures (key, failures, first_at, last_at) VALUES ($1, 1, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN auth_failures.first_at <= $3 THEN 1 \
                               ELSE auth_failures.failures + 1 END, \
               first_at = CASE WHEN auth_failures.first_at <= $3 THEN $2 \
                               ELSE auth_failures.first_at END, \
               last_at = $2",
        )
        .bind(&key)
        .bind(now)
        .bind(now - WINDOW_MS)
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// Forgets the email's failures after a successful sign-in.
pub async fn succeeded(db: &Db, email: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM auth_failures WHERE key = $1")
        .bind(format!("email:{email}"))
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&Db::sqlite_url_in(dir.path())).await.unwrap();
        db.migrate().await.unwrap();
        (db, dir)
    }

    #[tokio::test]
    async fn failures_slow_down_then_refuse_per_email_and_per_address() {
        let (db, _dir) = db().await;
        let email = "mia@example.com";
        for _ in 0..PER_EMAIL.slow_after {
            assert_eq!(
                check(&db, email, "10.0.0.1").await.unwrap(),
                Verdict::Proceed(Duration::ZERO)
            );
            failed(&db, email, "10.0.0.1").await.unwrap();
        }
        // Slower with each failure, then refused until the window ends.
        let mut last = Duration::ZERO;
        for _ in PER_EMAIL.slow_after..PER_EMAIL.refuse_after {
            let Verdict::Proceed(delay) = check(&db, email, "10.0.0.1").await.unwrap() else {
                panic!("refused too early");
            };
            assert!(
                delay > last || delay == Duration::from_millis(4000),
                "{delay:?}"
            );
            last = delay;
            failed(&db, email, "10.0.0.1").await.unwrap();
        }
        let Verdict::Refuse(after) = check(&db, email, "10.0.0.2").await.unwrap() else {
            panic!("not refused after {} failures", PER_EMAIL.refuse_after);
        };
        assert!(after <= Duration::from_millis(WINDOW_MS as u64) && after > Duration::ZERO);
        // Another email from the same address is not refused (the address is below its limit).
        assert!(matches!(
            check(&db, "leo@example.com", "10.0.0.1").await.unwrap(),
            Verdict::Proceed(_)
        ));
        // A success clears the email's count.
        succeeded(&db, email).await.unwrap();
        assert!(matches!(
            check(&db, email, "10.0.0.3").await.unwrap(),
            Verdict::Proceed(_)
        ));

        // One address guessing many emails is refused too.
        for n in 0..PER_ADDRESS.refuse_after {
            failed(&db, &format!("guess{n}@example.com"), "10.9.9.9")
                .await
                .unwrap();
        }
        assert!(matches!(
            check(&db, "new@example.com", "10.9.9.9").await.unwrap(),
            Verdict::Refuse(_)
        ));
    }

    #[tokio::test]
    async fn a_count_whose_window_ended_starts_again() {
        let (db, _dir) = db().await;
        for _ in 0..PER_EMAIL.refuse_after {
            failed(&db, "mia@example.com", "10.0.0.1").await.unwrap();
        }
        assert!(matches!(
            check(&db, "mia@example.com", "10.0.0.1").await.unwrap(),
            Verdict::Refuse(_)
        ));
        sqlx::query("UPDATE auth_failures SET first_at = first_at - $1")
            .bind(WINDOW_MS)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            check(&db, "mia@example.com", "10.0.0.1").await.unwrap(),
            Verdict::Proceed(Duration::ZERO)
        );
        failed(&db, "mia@example.com", "10.0.0.1").await.unwrap();
        let failures: i64 = sqlx::query_scalar("SELECT failures FROM auth_failures WHERE key = $1")
            .bind("email:mia@example.com")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(failures, 1);
    }
}
