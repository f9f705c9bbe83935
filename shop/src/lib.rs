//! The shop: merchants' products and the product tags placed on videos over a time range.
//!
//! Prices are integers in the currency's minor unit with an ISO 4217 code; nothing here ever
//! uses floating point for money. The shop reads the `videos` table (owner, duration) to validate
//! tags but never writes it, and knows nothing of media files.

pub mod affiliates;
pub mod attribution;
pub mod checkout;
pub mod codes;
pub mod http;
pub mod images;
pub mod orders;
pub mod payment;
pub mod pricing;
pub mod products;
pub mod sweep;
pub mod tags;

pub use http::router;
