//! The background work on orders, run by every API process:
//!
//! - unpaid orders past their expiry release their stock (an order moves out of
//!   `pending_payment` once, so two sweeps never release twice);
//! - orders left `paying` (the request died, or the provider's answer was lost) are reconciled
//!   by asking the provider what became of the payment: captured → `paid`; authorized → voided;
//!   nothing → back to waiting for payment.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vitrine_core::{db::Db, time::now_ms};

use crate::{
    orders::{self, Order},
    payment::{ChargeState, Payments},
};

/// How long an order stays `paying` before the sweep asks the provider about it: longer than
/// any payment request takes.
pub const RECONCILE_AFTER: Duration = Duration::from_secs(120);

/// Runs until `shutdown`: a round every `interval`.
pub async fn run(db: Db, payments: Payments, interval: Duration, shutdown: CancellationToken) {
    loop {
        match orders::expire(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "unpaid orders expired; stock released"),
            Err(e) => tracing::warn!(error = %e, "order sweep failed; will retry"),
        }
        if let Err(e) = reconcile(&db, &payments, RECONCILE_AFTER).await {
            tracing::warn!(error = %e, "payment reconciliation failed; will retry");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Settles orders `paying` for longer than `after` with what the provider says. Returns how
/// many were settled.
pub async fn reconcile(db: &Db, payments: &Payments, after: Duration) -> anyhow::Result<usize> {
    let before = now_ms() - i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
    let mut settled = 0;
    for order in orders::stuck_paying(db, before).await? {
        let state = match held(payments, &order).await {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(order = %order.id, error = %e, "could not ask the provider; will retry");
                continue;
            }
        };
        // One order that cannot be settled (its void keeps failing) does not hold up the rest.
        match settle(db, payments, &order, state).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(order = %order.id, error = %e, "could not settle; will retry"),
        }
    }
    Ok(settled)
}

/// What the provider holds for the order, over all its payment attempts: a capture first,
/// else an authorization (the newest), else nothing.
async fn held(
    payments: &Payments,
    order: &Order,
) -> Result<Option<ChargeState>, crate::payment::PaymentError> {
    let mut found = None;
    for attempt in (1..=order.payment_attempts).rev() {
        match payments.find(&order.payment_reference(attempt)).await? {
            Some(captured @ ChargeState::Captured(_)) => return Ok(Some(captured)),
            Some(authorized @ ChargeState::Authorized(_)) if found.is_none() => {
                found = Some(authorized)
            }
            Some(closed @ ChargeState::Closed) if found.is_none() => found = Some(closed),
            _ => {}
        }
    }
    Ok(found)
}

async fn settle(
    db: &Db,
    payments: &Payments,
    order: &Order,
    state: Option<ChargeState>,
) -> anyhow::Result<bool> {
    match state {
        Some(ChargeState::Captured(payment)) => {
            let moved = orders::mark_paid(db, order, &payment).await?;
            if moved {
                crate::attribution::attribute(db, order, now_ms()).await?;
                tracing::info!(order = %order.id, "payment found captured: order paid");
            }
            Ok(moved)
        }
        Some(ChargeState::Authorized(authorization)) => {
            payments.void(&authorization).await?;
            let moved = orders::release_payment_claim(db, order).await?;
            tracing::info!(order = %order.id, "authorization voided: order waits for payment");
            Ok(moved)
        }
        Some(ChargeState::Closed) | None => {
            let moved = orders::release_payment_claim(db, order).await?;
            tracing::info!(order = %order.id, "no payment held: order waits for payment");
            Ok(moved)
        }
    }
}
