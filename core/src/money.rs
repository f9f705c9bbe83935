//! Money: integer minor units and an ISO 4217 code. Never a float.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// An amount of money in the currency's minor unit (cents for USD, yen for JPY): integers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    #[schema(example = 1999)]
    pub amount_minor: i64,
    pub currency: Currency,
}

// What a request body holds instead of `Money`: its currency is not checked yet, so that the
// domain refuses a bad code with its own error (`invalid_product`…), not as malformed JSON.
// `Currency::parse` checks it.
/// An amount of money in the currency's minor unit (cents for USD, yen for JPY): integers only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
pub struct MoneyInput {
    #[schema(example = 1999)]
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    #[schema(example = "USD")]
    pub currency: String,
}

/// An ISO 4217 currency code, upper case (`USD`, `EUR`, `JPY`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(example = "USD")]
pub struct Currency(String);

/// A code that is not on the ISO 4217 list (as sent: lower case is not accepted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ISO 4217 currency code")]
pub struct UnknownCurrency(pub String);

impl Currency {
    /// A code as a client sends it: exactly one of ISO 4217's (`"usd"` is refused, not
    /// corrected).
    pub fn parse(code: &str) -> Result<Currency, UnknownCurrency> {
        iso_currency::Currency::from_code(code)
            .map(|iso| Currency(iso.code().to_owned()))
            .ok_or_else(|| UnknownCurrency(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits of its minor unit: 2 for USD (cents), 0 for JPY, 3 for BHD. See [`minor_digits`].
    pub fn minor_digits(&self) -> u32 {
        minor_digits(&self.0)
    }
}

/// Digits of the minor unit of the ISO 4217 currency `code`; 2 for a code ISO gives none (gold,
/// `XXX`) or does not know, so such amounts read as they always have (hundredths).
pub fn minor_digits(code: &str) -> u32 {
    iso_currency::Currency::from_code(code)
        .and_then(|iso| iso.exponent())
        .map_or(2, u32::from)
}

impl TryFrom<String> for Currency {
    type Error = UnknownCurrency;

    fn try_from(code: String) -> Result<Currency, UnknownCurrency> {
        Currency::parse(&code)
    }
}

// Read back validated: a code that is not ISO 4217's is a decoding error, not a price in it.
crate::text_column!(Currency, Currency::parse);

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl PartialEq<&str> for Currency {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
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

#[cfg(test)]
mod currency_tests {
    use super::*;

    #[test]
    fn only_upper_case_codes_on_the_iso_list_are_currencies() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "USD");
        assert_eq!(Currency::parse("JPY").unwrap(), "JPY");
        for refused in ["jpy", "usd", "XYZ", "US", "USDX", ""] {
            assert_eq!(
                Currency::parse(refused),
                Err(UnknownCurrency(refused.to_owned())),
                "{refused:?}"
            );
        }
        assert_eq!(
            UnknownCurrency("XYZ".into()).to_string(),
            "\"XYZ\" is not an ISO 4217 currency code"
        );
    }

    #[test]
    fn a_currency_knows_its_minor_digits() {
        let digits = |code| Currency::parse(code).unwrap().minor_digits();
        assert_eq!(digits("USD"), 2);
        assert_eq!(digits("JPY"), 0);
        assert_eq!(digits("BHD"), 3);
        assert_eq!(
            digits("XAU"),
            2,
            "no minor unit in ISO: hundredths, as before"
        );
        assert_eq!(minor_digits("KWD"), 3);
    }

    #[test]
    fn money_travels_as_a_plain_code_and_an_unknown_one_is_refused() {
        let price = Money {
            amount_minor: 1999,
            currency: Currency::parse("EUR").unwrap(),
        };
        let json = serde_json::to_value(&price).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"amount_minor": 1999, "currency": "EUR"})
        );
        assert_eq!(serde_json::from_value::<Money>(json).unwrap(), price);
        let unknown = serde_json::json!({"amount_minor": 1, "currency": "XYZ"});
        let err = serde_json::from_value::<Money>(unknown).unwrap_err();
        assert!(err.to_string().contains("not an ISO 4217"), "{err}");
        assert!(serde_json::from_str::<Currency>("\"usd\"").is_err());
    }
}
