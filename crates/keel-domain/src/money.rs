//! Money: an integer amount of a currency's minor unit (cents, pence; yen have none).
//!
//! Never a float. Arithmetic is checked: an overflow is an error, not a wrapped number. The
//! currency table below is the set Keel accepts; each entry carries its ISO 4217 exponent so that
//! amounts can be shown and parsed with the right number of decimals.

use serde::{Deserialize, Serialize};
use std::fmt;

/// ISO 4217 codes Keel knows, with their number of decimal places.
const CURRENCIES: &[(&str, u8)] = &[
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PLN", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("USD", 2),
    ("ZAR", 2),
];

/// An ISO 4217 currency code from the table Keel supports, stored as three ASCII capitals.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("expected a supported ISO 4217 currency code such as \"USD\", got {0:?}")]
pub struct UnknownCurrency(pub String);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const GBP: Currency = Currency(*b"GBP");

    /// Parses a code case-insensitively (`"eur"` → `EUR`).
    pub fn parse(code: &str) -> Result<Self, UnknownCurrency> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|(c, _)| {
                let b = c.as_bytes();
                Currency([b[0], b[1], b[2]])
            })
            .ok_or_else(|| UnknownCurrency(code.to_string()))
    }

    pub fn code(&self) -> &str {
        // The bytes come from the ASCII table above.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_units(&self) -> u8 {
        CURRENCIES.iter().find(|(c, _)| c.as_bytes() == self.0).map_or(2, |(_, d)| *d)
    }

    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES.iter().filter_map(|(c, _)| Currency::parse(c).ok())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("ISO 4217 currency code"))
            .examples([serde_json::json!("EUR")])
            .enum_values(Some(CURRENCIES.iter().map(|(c, _)| *c)))
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

/// A supported ISO 4217 currency code, such as `EUR`.
#[async_graphql::Scalar]
impl async_graphql::ScalarType for Currency {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        match &value {
            async_graphql::Value::String(text) => Currency::parse(text).map_err(async_graphql::InputValueError::custom),
            _ => Err(async_graphql::InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.code().to_string())
    }
}

/// An amount in a currency's minor unit: `{"amount": 1999, "currency": "EUR"}` is €19.99.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    async_graphql::SimpleObject,
    async_graphql::InputObject,
)]
#[graphql(input_name = "MoneyInput")]
pub struct Money {
    /// Integer amount in the currency's minor unit (cents for EUR, yen for JPY).
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self { amount: 0, currency }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_add(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_sub(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(factor).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

/// Shows the amount with the currency's decimals: `19.99 EUR`, `1200 JPY`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = u32::from(self.currency.minor_units());
        if digits == 0 {
            return write!(f, "{} {}", self.amount, self.currency);
        }
        let scale = 10i64.pow(digits);
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        let scale = scale.unsigned_abs();
        write!(f, "{sign}{}.{:0width$} {}", abs / scale, abs % scale, self.currency, width = digits as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_codes_case_insensitively_and_rejects_unknown() {
        assert_eq!(Currency::parse("eur").unwrap(), Currency::EUR);
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("XYZ").is_err());
    }

    #[test]
    fn displays_with_the_currency_decimals() {
        assert_eq!(Money::new(1999, Currency::EUR).to_string(), "19.99 EUR");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(Money::new(1200, Currency::parse("JPY").unwrap()).to_string(), "1200 JPY");
        assert_eq!(Money::new(1234, Currency::parse("KWD").unwrap()).to_string(), "1.234 KWD");
    }

    #[test]
    fn refuses_to_mix_currencies() {
        let err = Money::new(1, Currency::EUR).checked_add(Money::new(1, Currency::USD));
        assert_eq!(err, Err(MoneyError::CurrencyMismatch(Currency::EUR, Currency::USD)));
    }

    #[test]
    fn serialises_as_amount_and_code() {
        let json = serde_json::to_value(Money::new(1999, Currency::GBP)).unwrap();
        assert_eq!(json, serde_json::json!({"amount": 1999, "currency": "GBP"}));
    }

    proptest! {
        #[test]
        fn addition_then_subtraction_round_trips(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            let x = Money::new(a, Currency::USD);
            let y = Money::new(b, Currency::USD);
            prop_assert_eq!(x.checked_add(y).unwrap().checked_sub(y).unwrap(), x);
        }

        #[test]
        fn overflow_is_an_error_not_a_wrap(a in i64::MAX - 10..=i64::MAX, b in 11i64..1000) {
            prop_assert_eq!(Money::new(a, Currency::USD).checked_add(Money::new(b, Currency::USD)), Err(MoneyError::Overflow));
        }
    }
}
