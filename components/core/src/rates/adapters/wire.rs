//! Reading carriers' JSON: prices as their exact decimal text, UPS's one-or-many
//! arrays, counts written as numbers or strings, and dates in the carriers' formats.

use super::super::check::date_day;
use super::super::money::Money;
use super::super::quote::ServiceLevel;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::value::RawValue;
use std::fmt;
use std::marker::PhantomData;

/// A decimal as the carrier wrote it, from a JSON string (`"12.34"`) or a JSON number
/// (`12.34`, read as its text, never as a float).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(d)?;
        let text = raw.get().trim();
        if text.starts_with('"') {
            let s: String = serde_json::from_str(text).map_err(de::Error::custom)?;
            Ok(DecimalText(s))
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Ok(DecimalText(text.to_string()))
        } else {
            Err(de::Error::custom(format!(
                "expected a decimal, found {text}"
            )))
        }
    }
}

impl DecimalText {
    pub fn money(&self, currency: &str) -> Option<Money> {
        Money::parse(&self.0, currency).ok()
    }
}

/// A carrier's services: (code, display name, level).
pub type ServiceTable = [(&'static str, &'static str, ServiceLevel)];

/// The name and level of service `code`: the name the carrier gave when not blank,
/// else the table's, else `<carrier> service <code>`; the table's level, else `other`.
pub fn describe_service(
    table: &ServiceTable,
    code: &str,
    given: Option<&str>,
    carrier: &str,
) -> (String, ServiceLevel) {
    let known = table.iter().find(|(c, _, _)| *c == code);
    let name = given
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .or_else(|| known.map(|(_, name, _)| name.to_string()))
        .unwrap_or_else(|| format!("{carrier} service {code}"));
    (
        name,
        known.map_or(ServiceLevel::Other, |(_, _, level)| *level),
    )
}

/// A list that may arrive as a bare object when it has one element (UPS).
#[derive(Debug, Clone, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than `#[serde(untagged)]`: untagged buffers the input,
        // and a buffered value can no longer be read as raw text (prices).
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or an array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let one = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OneOrMany(vec![one]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OneOrMany(Vec::new()))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A count written as a number (`2`) or a string (`"2"`).
pub fn count(value: &Option<serde_json::Value>) -> Option<u32> {
    match value.as_ref()? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// FedEx's word counts: `THREE_DAYS` → 3 (up to `TWENTY_DAYS`).
pub fn word_days(text: &str) -> Option<u32> {
    const WORDS: [&str; 20] = [
        "ONE",
        "TWO",
        "THREE",
        "FOUR",
        "FIVE",
        "SIX",
        "SEVEN",
        "EIGHT",
        "NINE",
        "TEN",
        "ELEVEN",
        "TWELVE",
        "THIRTEEN",
        "FOURTEEN",
        "FIFTEEN",
        "SIXTEEN",
        "SEVENTEEN",
        "EIGHTEEN",
        "NINETEEN",
        "TWENTY",
    ];
    let word = text
        .strip_suffix("_DAYS")
        .or_else(|| text.strip_suffix("_DAY"))?;
    WORDS.iter().position(|w| *w == word).map(|i| i as u32 + 1)
}

/// A carrier date as `YYYY-MM-DD`: from `YYYYMMDD` (UPS) or the date part of
/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD HH:MM:SS`. Not a real date → None.
pub fn iso_date(text: &str) -> Option<String> {
    let text = text.trim();
    let date = if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..])
    } else {
        text.get(..10)?.to_string()
    };
    date_day(&date).map(|_| date)
}

/// Parses a 2xx body, or says why it is not the carrier's answer.
pub fn parse_body<T: DeserializeOwned>(
    body: &[u8],
) -> Result<T, super::super::carrier::CarrierError> {
    serde_json::from_slice(body).map_err(super::super::carrier::CarrierError::malformed)
}

/// Reads an error body leniently: `None` when it is not in the expected format.
pub fn parse_error<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// `code: message` pairs joined with `; `, skipping empty parts.
pub fn join_errors<'a>(
    errors: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Option<String> {
    let parts: Vec<String> = errors
        .into_iter()
        .filter_map(|(code, message)| {
            let code = code.map(str::trim).filter(|c| !c.is_empty());
            let message = message.map(str::trim).filter(|m| !m.is_empty());
            match (code, message) {
                (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                (None, Some(m)) => Some(m.to_string()),
                (Some(c), None) => Some(c.to_string()),
                (None, None) => None,
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Priced {
        price: DecimalText,
    }

    #[derive(Deserialize)]
    struct Holder {
        items: OneOrMany<Priced>,
    }

    #[test]
    fn prices_keep_their_text() {
        let p: Priced = serde_json::from_str(r#"{"price": 445.54}"#).unwrap();
        assert_eq!(p.price.0, "445.54");
        let p: Priced = serde_json::from_str(r#"{"price": "12.30"}"#).unwrap();
        assert_eq!(p.price.0, "12.30");
        let p: Priced = serde_json::from_str(r#"{"price": 0.1}"#).unwrap();
        assert_eq!(p.price.money("USD").unwrap().amount_minor, 10);
        assert!(serde_json::from_str::<Priced>(r#"{"price": true}"#).is_err());
    }

    #[test]
    fn one_or_many_reads_both_shapes_with_raw_prices_inside() {
        let one: Holder = serde_json::from_str(r#"{"items": {"price": 1.5}}"#).unwrap();
        assert_eq!(one.items.0.len(), 1);
        assert_eq!(one.items.0[0].price.0, "1.5");
        let many: Holder =
            serde_json::from_str(r#"{"items": [{"price": "1"}, {"price": 2}]}"#).unwrap();
        assert_eq!(many.items.0.len(), 2);
    }

    #[test]
    fn dates_and_counts() {
        assert_eq!(iso_date("20261204").as_deref(), Some("2026-12-04"));
        assert_eq!(
            iso_date("2026-12-04T10:30:00").as_deref(),
            Some("2026-12-04")
        );
        assert_eq!(
            iso_date("2026-12-04 23:59:00").as_deref(),
            Some("2026-12-04")
        );
        assert_eq!(iso_date("20261340"), None);
        assert_eq!(iso_date("soon"), None);
        assert_eq!(word_days("THREE_DAYS"), Some(3));
        assert_eq!(word_days("ONE_DAY"), Some(1));
        assert_eq!(word_days("UNKNOWN"), None);
        assert_eq!(count(&Some(serde_json::json!("2"))), Some(2));
        assert_eq!(count(&Some(serde_json::json!(4))), Some(4));
        assert_eq!(count(&None), None);
    }
}
