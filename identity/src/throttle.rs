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

/// Counts an attempt to sign in as `email` from `address` — before its password is checked, in
/// one atomic statement per key, so parallel guesses cannot all slip under the limit — and
/// says whether it may go ahead. A success takes its count back (`succeeded`).
pub async fn attempt(db: &Db, email: &str, address: &str) -> sqlx::Result<Verdict> {
    let now = now_ms();
    let mut delay = Duration::ZERO;
    let mut refuse: Option<Duration> = None;
    for (key, limits) in keys(email, address) {
        // A count whose window ended starts again.
        let (count, first_at): (i64, i64) = sqlx::query_as(
            "INSERT INTO auth_failures (key, failures, first_at, last_at) VALUES ($1, 1, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN auth_failures.first_at <= $3 THEN 1 \
                               ELSE auth_failures.failures + 1 END, \
               first_at = CASE WHEN auth_failures.first_at <= $3 THEN $2 \
                               ELSE auth_failures.first_at END, \
               last_at = $2 \
             RETURNING failures, first_at",
        )
        .bind(&key)
        .bind(now)
        .bind(now - WINDOW_MS)
        .fetch_one(db.pool())
        .await?;
        // What came before this attempt decides.
        let before = count - 1;
        let ends = first_at + WINDOW_MS;
        if before >= limits.refuse_after {
            let after = Duration::from_millis((ends - now).max(1000) as u64);
            refuse = Some(refuse.map_or(after, |r| r.max(after)));
        } else if before >= limits.slow_after {
            // 250 ms, doubling per failure, at most 4 s.
            let step = (before - limits.slow_after).min(4) as u32;
            delay = delay.max(Duration::from_millis(250 << step));
        }
    }
    Ok(match refuse {
        Some(after) => Verdict::Refuse(after),
        None => Verdict::Proceed(delay),
    })
}

/// The attempt succeeded: the email's count is forgotten and the address's attempt taken back
/// (only failures count against an address).
pub async fn succeeded(db: &Db, email: &str, address: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM auth_failures WHERE key = $1")
        .bind(format!("email:{email}"))
        .execute(db.pool())
        .await?;
    sqlx::query("UPDATE auth_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0")
        .bind(format!("addr:{address}"))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Forgets the email's failures (its password was just reset through a mailed link).
pub async fn forget(db: &Db, email: &str) -> sqlx::Result<()> {
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
                attempt(&db, email, "10.0.0.1").await.unwrap(),
                Verdict::Proceed(Duration::ZERO)
            );
        }
        // Slower with each failure, then refused until the window ends.
        let mut last = Duration::ZERO;
        for _ in PER_EMAIL.slow_after..PER_EMAIL.refuse_after {
            let Verdict::Proceed(delay) = attempt(&db, email, "10.0.0.1").await.unwrap() else {
                panic!("refused too early");
            };
            assert!(
                delay > last || delay == Duration::from_millis(4000),
                "{delay:?}"
            );
            last = delay;
        }
        let Verdict::Refuse(after) = attempt(&db, email, "10.0.0.2").await.unwrap() else {
            panic!("not refused after {} failures", PER_EMAIL.refuse_after);
        };
        assert!(after <= Duration::from_millis(WINDOW_MS as u64) && after > Duration::ZERO);
        // Another email from the same address is not refused (the address is below its limit).
        assert!(matches!(
            attempt(&db, "leo@example.com", "10.0.0.1").await.unwrap(),
            Verdict::Proceed(_)
        ));
        // A success clears the email's count.
        succeeded(&db, email, "10.0.0.3").await.unwrap();
        assert!(matches!(
            attempt(&db, email, "10.0.0.3").await.unwrap(),
            Verdict::Proceed(_)
        ));

        // One address guessing many emails is refused too; its successes do not count.
        for n in 0..PER_ADDRESS.refuse_after {
            attempt(&db, &format!("guess{n}@example.com"), "10.9.9.9")
                .await
                .unwrap();
        }
        assert!(matches!(
            attempt(&db, "new@example.com", "10.9.9.9").await.unwrap(),
            Verdict::Refuse(_)
        ));
        for n in 0..PER_ADDRESS.refuse_after * 2 {
            let who = format!("office{n}@example.com");
            attempt(&db, &who, "10.1.1.1").await.unwrap();
            succeeded(&db, &who, "10.1.1.1").await.unwrap();
        }
        assert_eq!(
            attempt(&db, "last@example.com", "10.1.1.1").await.unwrap(),
            Verdict::Proceed(Duration::ZERO)
        );
    }

    #[tokio::test]
    async fn parallel_guesses_cannot_all_slip_under_the_limit() {
        let (db, _dir) = db().await;
        let guesses = (0..40).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { attempt(&db, "mia@example.com", "10.0.0.1").await })
        });
        let mut refused = 0;
        for guess in guesses {
            if matches!(guess.await.unwrap().unwrap(), Verdict::Refuse(_)) {
                refused += 1;
            }
        }
        assert_eq!(refused, 40 - PER_EMAIL.refuse_after);
    }

    #[tokio::test]
    async fn a_count_whose_window_ended_starts_again() {
        let (db, _dir) = db().await;
        for _ in 0..=PER_EMAIL.refuse_after {
            attempt(&db, "mia@example.com", "10.0.0.1").await.unwrap();
        }
        assert!(matches!(
            attempt(&db, "mia@example.com", "10.0.0.1").await.unwrap(),
            Verdict::Refuse(_)
        ));
        sqlx::query("UPDATE auth_failures SET first_at = first_at - $1")
            .bind(WINDOW_MS)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            attempt(&db, "mia@example.com", "10.0.0.1").await.unwrap(),
            Verdict::Proceed(Duration::ZERO)
        );
        let failures: i64 = sqlx::query_scalar("SELECT failures FROM auth_failures WHERE key = $1")
            .bind("email:mia@example.com")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(failures, 1);
    }
}
