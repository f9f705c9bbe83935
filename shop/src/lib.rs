//! The shop: merchants' products, the product tags placed on videos over a time range, orders,
//! payments and what tags sold.
//!
//! Prices are integers in the currency's minor unit with an ISO 4217 code; nothing here ever
//! uses floating point for money. The shop reads the `videos` table (owner, duration) to validate
//! tags but never writes it, and knows nothing of media files.
//!
//! - `products` (and their variants), `images` (pictures, decoded on blocking threads);
//! - `tags` (placing one: `tags::place`, the consent rule; the live-tag limit; the domain `Tag`),
//!   `affiliates` (creators a shop blocked);
//! - `pricing` (an order priced from current prices), `orders` (placed with stock reserved
//!   atomically; named moves of its lifecycle), `payment` (the provider trait, the test provider
//!   and the pay/refund saga), `sweep` (expiry, reconciliation with the provider);
//! - `attribution` (impressions and clicks handed over by the feed, sales credited to clips,
//!   commissions, analytics);
//! - `http` (the routes, one module per resource, `checkout` among them) and `codes` (the error
//!   codes, named once).

pub mod affiliates;
pub mod attribution;
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
