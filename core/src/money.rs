//! Money: integer minor units and an ISO 4217 code. Never a float.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount of money in the currency's minor unit (cents for USD, yen for JPY): integers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    #[schema(example = 1999)]
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    #[schema(example = "USD")]
    pub currency: String,
}
