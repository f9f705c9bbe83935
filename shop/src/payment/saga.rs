//! Paying for an order and refunding it: the steps between our orders and the provider, in the
//! order that never charges twice and never marks an order paid or refunded that the provider
//! did not settle.
//!
//! Paying: claim the order (`pending_payment → paying`) → authorize → capture (void the
//! authorization if the capture fails) → `paid`, then attribute the sale. An attempt whose
//! outcome is unknown leaves the order `paying` for the sweep to settle with the provider
//! (`crate::sweep::reconcile`).

use vitrine_core::{db::Db, time::now_ms};

use super::{PaymentError, Payments};
use crate::orders::{self, Order, OrderStatus};

/// Why an order was not paid, or not refunded.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// 409: the order is in a state this move does not start from.
    #[error("the order is {status}, not {expected}")]
    WrongState {
        status: &'static str,
        expected: &'static str,
    },
    /// 409: another attempt holds the order.
    #[error("the order is being paid or is no longer waiting for payment; fetch it again")]
    InProgress,
    /// 503: the provider did not answer in time; the order stays `paying` and is settled in
    /// the background.
    #[error("the payment provider did not answer in time; the order is being checked with it: fetch it again in a few minutes")]
    OutcomeUnknown,
    /// 402: the card was declined; the order still waits for payment.
    #[error("the card was declined; the order still waits for payment")]
    Declined,
    /// 503: the provider asks to try again; the order still waits for payment.
    #[error("the payment provider asks to try again; the order still waits for payment")]
    Retry,
    /// 422: the provider does not know the payment method.
    #[error("the payment provider does not know this payment method")]
    UnknownMethod,
    /// 409: the order stopped waiting for payment while the card was charged; the payment was
    /// refunded.
    #[error("the order stopped waiting for payment meanwhile; the payment was refunded")]
    RefundedLate,
    /// 503: the refund did not go through; nothing changed.
    #[error("the refund did not go through ({0}); nothing changed, try again")]
    RefundFailed(PaymentError),
    /// The order was deleted meanwhile.
    #[error("order")]
    OrderGone,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl PayError {
    fn wrong_state(order: &Order, expected: &'static str) -> PayError {
        PayError::WrongState {
            status: order.status.as_str(),
            expected,
        }
    }
}

/// Pays `order` (the buyer's, checked by the caller) with the payment-method token `method`.
/// A retry of a payment that went through (its answer was lost) succeeds again, with the
/// attribution redone in case it was what failed.
pub async fn pay(
    db: &Db,
    payments: &Payments,
    order: &Order,
    method: &str,
) -> Result<(), PayError> {
    match order.status {
        OrderStatus::PendingPayment => {}
        OrderStatus::Paid | OrderStatus::Fulfilled => {
            let paid_at = order.paid_at.unwrap_or_else(now_ms);
            crate::attribution::attribute(db, order, paid_at).await?;
            return Ok(());
        }
        _ => return Err(PayError::wrong_state(order, "waiting for payment")),
    }
    if !orders::claim_for_payment(db, order).await? {
        return Err(PayError::InProgress);
    }
    // The claim counted this attempt: its own provider reference.
    let order = orders::get(db, &order.id)
        .await?
        .ok_or(PayError::OrderGone)?;
    let reference = order.payment_reference(order.payment_attempts);
    let payment_ref = match charge(payments, &order, method, &reference).await {
        Ok(payment_ref) => payment_ref,
        Err(e @ PaymentError::Unavailable(_)) => {
            // Whether money moved is not known: the order stays `paying` for the sweep to settle
            // with the provider (`sweep::reconcile`), never charged twice.
            tracing::warn!(order = %order.id, error = %e, "payment outcome unknown; left for reconciliation");
            return Err(PayError::OutcomeUnknown);
        }
        Err(e) => {
            // Not charged: back to waiting for payment.
            orders::release_payment_claim(db, &order).await?;
            return Err(match e {
                PaymentError::Declined => PayError::Declined,
                PaymentError::Retry(_) => PayError::Retry,
                PaymentError::UnknownMethod(_) => PayError::UnknownMethod,
                PaymentError::Unavailable(_) => unreachable!("handled above"),
            });
        }
    };
    let paid_at = now_ms();
    if !orders::mark_paid(db, &order, &payment_ref).await? {
        // Only this request, or the reconciling sweep, moves a `paying` order on. The sweep
        // found the payment first: the order is paid. It gave up on it first (the provider had
        // not recorded the capture yet): the money goes back, and the buyer is told.
        let now = orders::get(db, &order.id)
            .await?
            .ok_or(PayError::OrderGone)?;
        if matches!(now.status, OrderStatus::Paid | OrderStatus::Fulfilled) {
            return Ok(());
        }
        tracing::warn!(order = %order.id, payment_ref, "payment arrived for an order no longer being paid; refunding it");
        if let Err(e) = payments
            .refund(&payment_ref, &order.total, order.id.as_str())
            .await
        {
            tracing::error!(order = %order.id, payment_ref, error = %e, "could not refund a late payment: refund it by hand");
        }
        return Err(PayError::RefundedLate);
    }
    tracing::info!(order = %order.id, test_mode = payments.test_mode(), "order paid");
    crate::attribution::attribute(db, &order, paid_at).await?;
    Ok(())
}

/// Authorizes, then captures; an authorization whose capture fails is voided.
async fn charge(
    payments: &Payments,
    order: &Order,
    method: &str,
    reference: &str,
) -> Result<String, PaymentError> {
    let authorization = payments.authorize(&order.total, method, reference).await?;
    match payments.capture(&authorization, &order.total).await {
        Ok(payment_ref) => Ok(payment_ref),
        Err(e @ PaymentError::Unavailable(_)) => Err(e),
        Err(e) => match payments.void(&authorization).await {
            Ok(()) => Err(e),
            // The money is still held: the order stays `paying`, and the sweep voids it.
            Err(void) => {
                tracing::warn!(order = %order.id, error = %void, "could not void an authorization; the sweep will");
                Err(PaymentError::Unavailable(format!(
                    "the capture failed ({e}) and the authorization is still held"
                )))
            }
        },
    }
}

/// Refunds a paid or fulfilled order: the money goes back first (the order id is the refund's
/// idempotency key: two refunds at once refund once), so an order is never marked refunded that
/// the provider did not refund. A paid order not yet shipped returns its stock.
pub async fn refund(db: &Db, payments: &Payments, order: &Order) -> Result<(), PayError> {
    if !matches!(order.status, OrderStatus::Paid | OrderStatus::Fulfilled) {
        return Err(PayError::wrong_state(order, "paid or fulfilled"));
    }
    if let Some(payment) = &order.payment_ref {
        payments
            .refund(payment, &order.total, order.id.as_str())
            .await
            .map_err(PayError::RefundFailed)?;
    }
    if !orders::mark_refunded(db, order).await? {
        return Err(PayError::wrong_state(order, "paid or fulfilled"));
    }
    Ok(())
}
