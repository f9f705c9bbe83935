//! Payments go through [`PaymentProvider`]; the embedded default, [`TestPaymentProvider`], moves
//! no money: it approves or declines by card number, like the test cards of real providers. A
//! real provider (Stripe, Adyen…) implements the same trait and is passed to the shop's router.

use vitrine_core::money::Money;

/// Why a charge did not go through.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaymentError {
    #[error("the card was declined")]
    Declined,
    #[error("the payment provider could not be reached: {0}")]
    Unavailable(String),
}

/// Charges a buyer. Blocking is allowed: the shop calls it from a blocking thread.
pub trait PaymentProvider: Send + Sync + 'static {
    /// Charges `amount` for the order `reference`; returns the provider's payment reference.
    fn charge(
        &self,
        amount: &Money,
        card_number: &str,
        reference: &str,
    ) -> Result<String, PaymentError>;
}

/// The test provider: **no money moves**. Card `4242 4242 4242 4242` is approved, every other
/// number (e.g. `4000 0000 0000 0002`) declined. For development, demos and tests only.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestPaymentProvider;

/// The card number the test provider approves.
pub const TEST_CARD_APPROVED: &str = "4242424242424242";

impl PaymentProvider for TestPaymentProvider {
    fn charge(
        &self,
        _amount: &Money,
        card_number: &str,
        reference: &str,
    ) -> Result<String, PaymentError> {
        let digits: String = card_number.chars().filter(|c| !c.is_whitespace()).collect();
        if digits == TEST_CARD_APPROVED {
            Ok(format!("test_{reference}"))
        } else {
            Err(PaymentError::Declined)
        }
    }
}
