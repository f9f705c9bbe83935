//! Payments go through [`PaymentProvider`], the way real providers (Stripe, Adyen…) work: the
//! buyer's card never reaches us — their app turns it into a payment-method token (`pm_…`) with
//! the provider — and a charge is an authorization, then a capture; an authorization not
//! captured is voided, a captured one refunded. Every call is async and bounded by a timeout;
//! an order whose answer was lost stays `paying` until the sweep asks the provider what
//! became of it ([`PaymentProvider::find`]).
//!
//! The embedded default, [`TestPaymentProvider`], moves no money. It is chosen explicitly in
//! the configuration (`payment_provider = "test"`), says so when the server starts, and marks
//! every payment answer `"test_mode": true`.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use vitrine_core::money::Money;

mod saga;

pub use saga::{pay, refund, PayError};

/// Why a payment call did not go through.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PaymentError {
    #[error("the card was declined")]
    Declined,
    /// The provider asks for the attempt to be made again (a soft decline, a network hiccup).
    #[error("the payment provider asks to try again: {0}")]
    Retry(String),
    /// No answer in time, or none at all: whether money moved is not known.
    #[error("the payment provider could not be reached: {0}")]
    Unavailable(String),
    #[error("the payment method is not one the provider knows: {0}")]
    UnknownMethod(String),
}

/// What the provider holds for an order, found by its reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeState {
    /// Authorized and not captured: `authorization`.
    Authorized(String),
    /// Captured: the payment reference.
    Captured(String),
    /// Voided, refunded or declined: no money is held.
    Closed,
}

pub type PayFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PaymentError>> + Send + 'a>>;

/// A payment provider. `reference` names one payment attempt of an order
/// (`Order::payment_reference`): providers make calls with the same reference idempotent
/// (replaying the first answer), so a retried request never charges twice and a new attempt
/// after a decline gets a new reference.
pub trait PaymentProvider: Send + Sync + 'static {
    /// Shown in logs (`test`, `stripe`…).
    fn name(&self) -> &'static str;
    /// Whether no money moves (a test provider).
    fn test_mode(&self) -> bool;
    /// Holds `amount` on `payment_method` for the order `reference`; the authorization's id.
    fn authorize<'a>(
        &'a self,
        amount: &'a Money,
        payment_method: &'a str,
        reference: &'a str,
    ) -> PayFuture<'a, String>;
    /// Takes the money held by `authorization`; the payment reference.
    fn capture<'a>(&'a self, authorization: &'a str, amount: &'a Money) -> PayFuture<'a, String>;
    /// Releases an authorization that will not be captured.
    fn void<'a>(&'a self, authorization: &'a str) -> PayFuture<'a, ()>;
    /// Gives `amount` of a captured payment back; `reference` (the order) makes it idempotent:
    /// a second refund with it refunds nothing more.
    fn refund<'a>(
        &'a self,
        payment: &'a str,
        amount: &'a Money,
        reference: &'a str,
    ) -> PayFuture<'a, ()>;
    /// What the provider holds for `reference`, if anything (`None`: it never heard of it).
    fn find<'a>(&'a self, reference: &'a str) -> PayFuture<'a, Option<ChargeState>>;
}

/// The provider as the shop uses it: every call bounded by `timeout`.
#[derive(Clone)]
pub struct Payments {
    provider: Arc<dyn PaymentProvider>,
    timeout: Duration,
}

impl Payments {
    pub fn new(provider: Arc<dyn PaymentProvider>, timeout: Duration) -> Payments {
        Payments { provider, timeout }
    }

    pub fn test_mode(&self) -> bool {
        self.provider.test_mode()
    }

    pub fn name(&self) -> &'static str {
        self.provider.name()
    }

    async fn bounded<T>(&self, call: PayFuture<'_, T>) -> Result<T, PaymentError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(PaymentError::Unavailable(format!(
                "no answer within {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }

    pub async fn authorize(
        &self,
        amount: &Money,
        payment_method: &str,
        reference: &str,
    ) -> Result<String, PaymentError> {
        self.bounded(self.provider.authorize(amount, payment_method, reference))
            .await
    }

    pub async fn capture(
        &self,
        authorization: &str,
        amount: &Money,
    ) -> Result<String, PaymentError> {
        self.bounded(self.provider.capture(authorization, amount))
            .await
    }

    pub async fn void(&self, authorization: &str) -> Result<(), PaymentError> {
        self.bounded(self.provider.void(authorization)).await
    }

    pub async fn refund(
        &self,
        payment: &str,
        amount: &Money,
        reference: &str,
    ) -> Result<(), PaymentError> {
        self.bounded(self.provider.refund(payment, amount, reference))
            .await
    }

    pub async fn find(&self, reference: &str) -> Result<Option<ChargeState>, PaymentError> {
        self.bounded(self.provider.find(reference)).await
    }
}

/// The test provider: **no money moves**. Its payment methods, like a real provider's test
/// cards:
///
/// - `pm_card_approved`: approved;
/// - `pm_card_declined`: declined (402);
/// - `pm_card_retry`: the provider asks to try again (503, the order still waits for payment);
/// - `pm_card_slow`: approved, but the answer comes after every timeout (the order stays
///   `paying` until the sweep finds the payment with [`PaymentProvider::find`]).
///
/// Any other `pm_…` token is unknown (422). For development, demos and tests only.
#[derive(Debug, Default, Clone)]
pub struct TestPaymentProvider {
    /// What it holds per order reference.
    charges: Arc<Mutex<HashMap<String, ChargeState>>>,
    /// Authorization id → order reference.
    authorizations: Arc<Mutex<HashMap<String, String>>>,
    /// The first answer to each authorization reference, replayed for a repeat (as real
    /// providers do with idempotency keys).
    answers: Arc<Mutex<HashMap<String, Result<String, PaymentError>>>>,
}

pub const TEST_APPROVED: &str = "pm_card_approved";
pub const TEST_DECLINED: &str = "pm_card_declined";
pub const TEST_RETRY: &str = "pm_card_retry";
pub const TEST_SLOW: &str = "pm_card_slow";

impl TestPaymentProvider {
    fn set(&self, reference: &str, state: ChargeState) {
        self.charges
            .lock()
            .unwrap()
            .insert(reference.to_owned(), state);
    }

    fn reference_of(&self, authorization: &str) -> Result<String, PaymentError> {
        self.authorizations
            .lock()
            .unwrap()
            .get(authorization)
            .cloned()
            .ok_or_else(|| PaymentError::UnknownMethod(format!("authorization {authorization}")))
    }
}

impl PaymentProvider for TestPaymentProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn test_mode(&self) -> bool {
        true
    }

    fn authorize<'a>(
        &'a self,
        _amount: &'a Money,
        payment_method: &'a str,
        reference: &'a str,
    ) -> PayFuture<'a, String> {
        Box::pin(async move {
            // A repeated reference gets its first answer again, as real providers do.
            if let Some(answer) = self.answers.lock().unwrap().get(reference) {
                return answer.clone();
            }
            let authorization = format!("auth_test_{reference}");
            let answer = match payment_method {
                TEST_APPROVED | TEST_SLOW => Ok(authorization.clone()),
                TEST_DECLINED => {
                    self.set(reference, ChargeState::Closed);
                    Err(PaymentError::Declined)
                }
                TEST_RETRY => return Err(PaymentError::Retry("try again".into())),
                other => Err(PaymentError::UnknownMethod(other.to_owned())),
            };
            self.answers
                .lock()
                .unwrap()
                .insert(reference.to_owned(), answer.clone());
            answer?;
            self.authorizations
                .lock()
                .unwrap()
                .insert(authorization.clone(), reference.to_owned());
            self.set(reference, ChargeState::Authorized(authorization.clone()));
            if payment_method == TEST_SLOW {
                // Captured at once, answered never (within any timeout): a lost answer.
                let payment = format!("pay_test_{reference}");
                self.set(reference, ChargeState::Captured(payment));
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(authorization)
        })
    }

    fn capture<'a>(&'a self, authorization: &'a str, _amount: &'a Money) -> PayFuture<'a, String> {
        Box::pin(async move {
            let reference = self.reference_of(authorization)?;
            let payment = format!("pay_test_{reference}");
            self.set(&reference, ChargeState::Captured(payment.clone()));
            Ok(payment)
        })
    }

    fn void<'a>(&'a self, authorization: &'a str) -> PayFuture<'a, ()> {
        Box::pin(async move {
            let reference = self.reference_of(authorization)?;
            self.set(&reference, ChargeState::Closed);
            Ok(())
        })
    }

    fn refund<'a>(
        &'a self,
        payment: &'a str,
        _amount: &'a Money,
        _reference: &'a str,
    ) -> PayFuture<'a, ()> {
        Box::pin(async move {
            if let Some(reference) = payment.strip_prefix("pay_test_") {
                self.set(reference, ChargeState::Closed);
            }
            Ok(())
        })
    }

    fn find<'a>(&'a self, reference: &'a str) -> PayFuture<'a, Option<ChargeState>> {
        Box::pin(async move { Ok(self.charges.lock().unwrap().get(reference).cloned()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount_minor: i64) -> Money {
        Money {
            amount_minor,
            currency: vitrine_core::money::Currency::parse("USD").unwrap(),
        }
    }

    #[tokio::test]
    async fn the_test_provider_authorizes_captures_and_remembers() {
        let provider = TestPaymentProvider::default();
        let payments = Payments::new(Arc::new(provider), Duration::from_millis(200));
        let auth = payments
            .authorize(&usd(100), TEST_APPROVED, "ord_1")
            .await
            .unwrap();
        assert_eq!(
            payments.find("ord_1").await.unwrap(),
            Some(ChargeState::Authorized(auth.clone()))
        );
        let paid = payments.capture(&auth, &usd(100)).await.unwrap();
        assert_eq!(
            payments.find("ord_1").await.unwrap(),
            Some(ChargeState::Captured(paid.clone()))
        );
        payments.refund(&paid, &usd(100), "ord_1").await.unwrap();
        assert_eq!(
            payments.find("ord_1").await.unwrap(),
            Some(ChargeState::Closed)
        );
        assert_eq!(
            payments.authorize(&usd(1), TEST_DECLINED, "ord_2").await,
            Err(PaymentError::Declined)
        );
        // The same reference again replays the first answer, whatever the method now.
        assert_eq!(
            payments.authorize(&usd(1), TEST_APPROVED, "ord_2").await,
            Err(PaymentError::Declined)
        );
        assert!(matches!(
            payments.authorize(&usd(1), TEST_RETRY, "ord_3").await,
            Err(PaymentError::Retry(_))
        ));
        assert!(matches!(
            payments.authorize(&usd(1), "pm_nope", "ord_4").await,
            Err(PaymentError::UnknownMethod(_))
        ));
        // A lost answer: the timeout speaks, and the provider knows the payment went through.
        assert!(matches!(
            payments.authorize(&usd(1), TEST_SLOW, "ord_5").await,
            Err(PaymentError::Unavailable(_))
        ));
        assert!(matches!(
            payments.find("ord_5").await.unwrap(),
            Some(ChargeState::Captured(_))
        ));
    }
}
