//! Money as integer minor units. Carriers' decimal prices (strings or JSON numbers read
//! as their text) are parsed exactly, digit by digit, never through a float.

use serde::{Serialize, Serializer};
use std::fmt;

/// An amount in a currency's minor units (`1234` USD = 12.34 USD).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Money {
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
}

impl Money {
    /// Parses a carrier's decimal price (`"12.34"`, `"12.3"`, `"12"`, `"1.2e1"`) in
    /// `currency`. More fraction digits than the currency has are rounded half away
    /// from zero (`"12.345"` USD → 1235).
    pub fn parse(text: &str, currency: &str) -> Result<Money, MoneyError> {
        Ok(Money {
            amount_minor: parse_minor_units(text, minor_digits(currency))?,
            currency: currency.to_string(),
        })
    }

    /// The amount as a decimal string with the currency's minor digits (`"12.34"`,
    /// `"1234"` for JPY, `"1.234"` for KWD).
    pub fn decimal(&self) -> String {
        format_minor_units(self.amount_minor, minor_digits(&self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

/// On the wire: `{"amount": "12.34", "amount_minor": 1234, "currency": "USD"}`.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            amount: String,
            amount_minor: i64,
            currency: &'a str,
        }
        Wire {
            amount: self.decimal(),
            amount_minor: self.amount_minor,
            currency: &self.currency,
        }
        .serialize(s)
    }
}

/// Why a price could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a plain decimal number.
    NotADecimal(String),
    /// Does not fit in an `i64` of minor units.
    TooLarge(String),
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::NotADecimal(t) => write!(f, "{t:?} is not a decimal amount"),
            MoneyError::TooLarge(t) => write!(f, "{t:?} is too large an amount"),
        }
    }
}

/// ISO 4217 currencies whose minor unit is not 2 digits (a deliberately small table:
/// every other code has 2).
const MINOR_DIGITS: &[(&str, u8)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];

/// Digits after the decimal point in `currency`'s minor unit (2 unless listed).
pub fn minor_digits(currency: &str) -> u8 {
    MINOR_DIGITS
        .iter()
        .find(|(code, _)| *code == currency)
        .map_or(2, |(_, digits)| *digits)
}

/// Whether `code` has the shape of an ISO 4217 code (three upper-case letters).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Parses a decimal (optional sign, digits, optional fraction, optional exponent) into
/// units of 10^-`digits`, rounding half away from zero.
pub fn parse_minor_units(text: &str, digits: u8) -> Result<i64, MoneyError> {
    let bad = || MoneyError::NotADecimal(text.to_string());
    let t = text.trim();
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => {
            let e: i32 = t[i + 1..].parse().map_err(|_| bad())?;
            (&t[..i], e)
        }
        None => (t, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if !(-64..=64).contains(&exponent) {
        return Err(MoneyError::TooLarge(text.to_string()));
    }
    // All digits, and where the decimal point sits among them.
    let all: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = int_part.len() as i64 + i64::from(exponent) + i64::from(digits);
    let too_large = || MoneyError::TooLarge(text.to_string());
    let mut units: i64 = 0;
    for i in 0..point.max(0) {
        let d = usize::try_from(i)
            .ok()
            .and_then(|i| all.get(i))
            .copied()
            .unwrap_or(0);
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(i64::from(d)))
            .ok_or_else(too_large)?;
    }
    // The first dropped digit decides the rounding.
    let next = usize::try_from(point)
        .ok()
        .and_then(|p| all.get(p))
        .copied()
        .unwrap_or(0);
    let next = if point < 0 { 0 } else { next };
    if next >= 5 {
        units = units.checked_add(1).ok_or_else(too_large)?;
    }
    Ok(if negative { -units } else { units })
}

/// `1234, 2` → `"12.34"`; `-5, 2` → `"-0.05"`; `1234, 0` → `"1234"`.
pub fn format_minor_units(units: i64, digits: u8) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs().to_string();
    let digits = usize::from(digits);
    if digits == 0 {
        return format!("{sign}{abs}");
    }
    let padded = format!("{abs:0>width$}", width = digits + 1);
    let (int, frac) = padded.split_at(padded.len() - digits);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_carrier_decimals_exactly() {
        assert_eq!(parse_minor_units("12.34", 2), Ok(1234));
        assert_eq!(parse_minor_units("12.3", 2), Ok(1230));
        assert_eq!(parse_minor_units("12", 2), Ok(1200));
        assert_eq!(parse_minor_units("0.07", 2), Ok(7));
        assert_eq!(parse_minor_units(".5", 2), Ok(50));
        assert_eq!(parse_minor_units("445.54", 2), Ok(44554));
        assert_eq!(parse_minor_units(" 9.35 ", 2), Ok(935));
        assert_eq!(parse_minor_units("1.2e1", 2), Ok(1200));
        assert_eq!(parse_minor_units("1234E-2", 2), Ok(1234));
        assert_eq!(parse_minor_units("-3.10", 2), Ok(-310));
        // A float would make 0.1 + 0.2 or 1.005 drift; digits do not.
        assert_eq!(parse_minor_units("1.005", 2), Ok(101));
        assert_eq!(parse_minor_units("1.004999", 2), Ok(100));
        assert_eq!(parse_minor_units("92233720368547758.07", 2), Ok(i64::MAX));
    }

    #[test]
    fn respects_zero_and_three_digit_currencies() {
        assert_eq!(Money::parse("1500", "JPY").unwrap().amount_minor, 1500);
        assert_eq!(Money::parse("1500.4", "JPY").unwrap().amount_minor, 1500);
        assert_eq!(Money::parse("1.234", "KWD").unwrap().amount_minor, 1234);
        assert_eq!(Money::parse("12.34", "EUR").unwrap().amount_minor, 1234);
        assert_eq!(Money::parse("1.234", "KWD").unwrap().decimal(), "1.234");
        assert_eq!(Money::parse("1500", "JPY").unwrap().decimal(), "1500");
    }

    #[test]
    fn refuses_what_is_not_a_decimal() {
        for bad in [
            "",
            "-",
            ".",
            "12,34",
            "1.2.3",
            "abc",
            "12.34 USD",
            "1e",
            "0x10",
            "NaN",
            "1e99",
        ] {
            assert!(parse_minor_units(bad, 2).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse_minor_units("99999999999999999999", 2),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_minor_units() {
        assert_eq!(format_minor_units(1234, 2), "12.34");
        assert_eq!(format_minor_units(5, 2), "0.05");
        assert_eq!(format_minor_units(-5, 2), "-0.05");
        assert_eq!(format_minor_units(0, 3), "0.000");
        assert_eq!(format_minor_units(42, 0), "42");
    }

    #[test]
    fn serializes_decimal_and_minor_units() {
        let v = serde_json::to_value(Money::parse("12.34", "USD").unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"amount": "12.34", "amount_minor": 1234, "currency": "USD"})
        );
    }
}
