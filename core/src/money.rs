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

/// SQL for the sum of a minor-units column that cannot overflow on either database (SQLite's
/// integer `SUM` fails past 2⁶³; PostgreSQL's fails when cast back to `BIGINT`): summed as
/// double precision, exact to 2⁵³ minor units, read back with [`saturating_minor`].
pub fn sum_wide(column: &str) -> String {
    format!("COALESCE(SUM(CAST({column} AS DOUBLE PRECISION)), 0.0)")
}

/// A wide sum as minor units, saturating at the ends of `i64`.
pub fn saturating_minor(sum: f64) -> i64 {
    // `as` saturates (and maps NaN to 0).
    sum.round() as i64
}

#[cfg(test)]
mod wide_tests {
    use super::*;

    #[test]
    fn wide_sums_saturate_instead_of_failing() {
        assert_eq!(saturating_minor(1999.0), 1999);
        assert_eq!(saturating_minor(2.0 * i64::MAX as f64), i64::MAX);
        assert_eq!(saturating_minor(f64::NAN), 0);
        assert_eq!(
            sum_wide("a.gmv_minor"),
            "COALESCE(SUM(CAST(a.gmv_minor AS DOUBLE PRECISION)), 0.0)"
        );
    }
}
