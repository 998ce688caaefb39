//! Reading a `POST /v1/rates` body. Every field error is reported at once, each with a
//! JSON pointer to the field (`/parcels/0/weight/value`) and a message; syntax errors
//! and unknown fields are field errors too. The answer to a bad body is one 400
//! problem (`invalid-request`) carrying the list.

use super::money::is_currency_code;
use super::quote::ServiceLevel;
use super::request::{
    Address, DEFAULT_CURRENCY, Dimensions, LengthUnit, Parcel, RateRequest, Sort, Weight,
    WeightUnit,
};
use crate::config::{check_id, parse_rfc3339};
use crate::problem::Problem;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Largest rate request body; a longer one is refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most parcels in one request.
pub const MAX_PARCELS: usize = 50;
/// Most carriers in the `carriers` filter.
pub const MAX_CARRIERS: usize = 20;
/// Largest weight value, in the parcel's unit.
pub const MAX_WEIGHT: f64 = 1000.0;
/// Largest dimension, in the parcel's unit.
pub const MAX_DIMENSION: f64 = 999.0;
/// How far ahead a ship date may be (UPS rates up to 60 days ahead).
pub const MAX_SHIP_DAYS_AHEAD: i64 = 60;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// RFC 6901 pointer into the request body; `""` is the body itself.
    pub path: String,
    pub message: String,
}

/// 413 for a body over [`MAX_BODY_BYTES`]: checked before [`parse_rate_request`],
/// which parses whatever it is given.
pub fn oversized_body_problem(body: &[u8]) -> Option<Problem> {
    (body.len() > MAX_BODY_BYTES)
        .then(|| Problem::payload_too_large("A rate request", MAX_BODY_BYTES))
}

/// Reads and checks a rate request. `now_unix` (seconds) dates the ship-date check:
/// a ship date may be from yesterday (UTC; the caller's local day may lag) up to
/// [`MAX_SHIP_DAYS_AHEAD`] days ahead.
pub fn parse_rate_request(body: &[u8], now_unix: i64) -> Result<RateRequest, Vec<FieldError>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        vec![FieldError {
            path: String::new(),
            message: format!("the body is not valid JSON: {e}"),
        }]
    })?;
    let mut walk = Walk::default();
    match walk.request(&value, now_unix) {
        Some(request) if walk.errors.is_empty() => Ok(request),
        _ => Err(walk.errors),
    }
}

/// The 400 answer to a request with field errors: type `invalid-request`, with the
/// list as the `errors` extension member.
pub fn invalid_request_problem(errors: &[FieldError]) -> Problem {
    let detail = match errors {
        [one] if one.path.is_empty() => format!("The body: {}.", one.message),
        [one] => format!("{}: {}.", one.path, one.message),
        many => format!("The request has {} errors; see `errors`.", many.len()),
    };
    Problem::new(400, "invalid-request", "Invalid request")
        .with_detail(detail)
        .with_extension("errors", errors)
}

const REQUEST_FIELDS: &[&str] = &[
    "origin",
    "destination",
    "parcels",
    "ship_date",
    "carriers",
    "service_levels",
    "currency",
    "sort",
];
const ADDRESS_FIELDS: &[&str] = &[
    "country",
    "postal_code",
    "city",
    "state",
    "address_lines",
    "residential",
];
const PARCEL_FIELDS: &[&str] = &["weight", "dimensions"];
const WEIGHT_FIELDS: &[&str] = &["value", "unit"];
const DIMENSION_FIELDS: &[&str] = &["length", "width", "height", "unit"];

/// The walk over the body: each reader records what is wrong and returns `None` for
/// a field it could not read, and the walk goes on to the next field.
#[derive(Default)]
struct Walk {
    errors: Vec<FieldError>,
}

fn child(path: &str, name: &str) -> String {
    format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"))
}

impl Walk {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn request(&mut self, v: &Value, now_unix: i64) -> Option<RateRequest> {
        let obj = self.object(v, "", REQUEST_FIELDS)?;
        let origin = self
            .required(obj, "", "origin")
            .and_then(|v| self.address(v, "/origin"));
        let destination = self
            .required(obj, "", "destination")
            .and_then(|v| self.address(v, "/destination"));
        let parcels = self
            .required(obj, "", "parcels")
            .and_then(|v| self.parcels(v, "/parcels"));
        let ship_date = self
            .required(obj, "", "ship_date")
            .and_then(|v| self.ship_date(v, "/ship_date", now_unix));
        let carriers = match obj.get("carriers").filter(|v| !v.is_null()) {
            Some(v) => self.carriers(v, "/carriers").map(Some),
            None => Some(None),
        };
        let service_levels = match obj.get("service_levels").filter(|v| !v.is_null()) {
            Some(v) => self.service_levels(v, "/service_levels").map(Some),
            None => Some(None),
        };
        let currency = match obj.get("currency").filter(|v| !v.is_null()) {
            Some(v) => self.currency(v, "/currency"),
            None => Some(DEFAULT_CURRENCY.to_string()),
        };
        let sort = match obj.get("sort").filter(|v| !v.is_null()) {
            Some(v) => self.variant::<Sort>(v, "/sort"),
            None => Some(Sort::default()),
        };
        Some(RateRequest {
            origin: origin?,
            destination: destination?,
            parcels: parcels?,
            ship_date: ship_date?,
            carriers: carriers?,
            service_levels: service_levels?,
            currency: currency?,
            sort: sort?,
        })
    }

    fn address(&mut self, v: &Value, path: &str) -> Option<Address> {
        let obj = self.object(v, path, ADDRESS_FIELDS)?;
        let country = self
            .required(obj, path, "country")
            .and_then(|v| self.country(v, &child(path, "country")));
        let postal_code = self
            .required(obj, path, "postal_code")
            .and_then(|v| self.postal_code(v, &child(path, "postal_code")));
        let city = self
            .required(obj, path, "city")
            .and_then(|v| self.text(v, &child(path, "city"), 35));
        let state = match obj.get("state").filter(|v| !v.is_null()) {
            Some(v) => self.state(v, &child(path, "state")).map(Some),
            None => Some(None),
        };
        let address_lines = match obj.get("address_lines").filter(|v| !v.is_null()) {
            Some(v) => self.address_lines(v, &child(path, "address_lines")),
            None => Some(Vec::new()),
        };
        let residential = match obj.get("residential").filter(|v| !v.is_null()) {
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(_) => {
                self.error(&child(path, "residential"), "must be true or false");
                None
            }
            None => Some(None),
        };
        Some(Address {
            country: country?,
            postal_code: postal_code?,
            city: city?,
            state: state?,
            address_lines: address_lines?,
            residential: residential?,
        })
    }

    fn parcels(&mut self, v: &Value, path: &str) -> Option<Vec<Parcel>> {
        let items = self.array(v, path)?;
        if items.is_empty() {
            self.error(path, "must hold at least one parcel");
            return None;
        }
        if items.len() > MAX_PARCELS {
            self.error(path, format!("must hold at most {MAX_PARCELS} parcels"));
            return None;
        }
        let parcels: Vec<Option<Parcel>> = items
            .iter()
            .enumerate()
            .map(|(i, v)| self.parcel(v, &format!("{path}/{i}")))
            .collect();
        parcels.into_iter().collect()
    }

    fn parcel(&mut self, v: &Value, path: &str) -> Option<Parcel> {
        let obj = self.object(v, path, PARCEL_FIELDS)?;
        let weight = self
            .required(obj, path, "weight")
            .and_then(|v| self.weight(v, &child(path, "weight")));
        let dimensions = self
            .required(obj, path, "dimensions")
            .and_then(|v| self.dimensions(v, &child(path, "dimensions")));
        Some(Parcel {
            weight: weight?,
            dimensions: dimensions?,
        })
    }

    fn weight(&mut self, v: &Value, path: &str) -> Option<Weight> {
        let obj = self.object(v, path, WEIGHT_FIELDS)?;
        let value = self
            .required(obj, path, "value")
            .and_then(|v| self.measure(v, &child(path, "value"), MAX_WEIGHT));
        let unit = self
            .required(obj, path, "unit")
            .and_then(|v| self.variant::<WeightUnit>(v, &child(path, "unit")));
        Some(Weight {
            value: value?,
            unit: unit?,
        })
    }

    fn dimensions(&mut self, v: &Value, path: &str) -> Option<Dimensions> {
        let obj = self.object(v, path, DIMENSION_FIELDS)?;
        let side = |walk: &mut Walk, name: &str| {
            walk.required(obj, path, name)
                .and_then(|v| walk.measure(v, &child(path, name), MAX_DIMENSION))
        };
        let length = side(self, "length");
        let width = side(self, "width");
        let height = side(self, "height");
        let unit = self
            .required(obj, path, "unit")
            .and_then(|v| self.variant::<LengthUnit>(v, &child(path, "unit")));
        Some(Dimensions {
            length: length?,
            width: width?,
            height: height?,
            unit: unit?,
        })
    }

    fn ship_date(&mut self, v: &Value, path: &str, now_unix: i64) -> Option<String> {
        let text = self.string(v, path)?;
        let Some(day) = date_day(text) else {
            self.error(path, "must be a calendar date as YYYY-MM-DD");
            return None;
        };
        let today = now_unix.div_euclid(86_400);
        if day < today - 1 {
            self.error(path, "must not be in the past");
            return None;
        }
        if day > today + MAX_SHIP_DAYS_AHEAD {
            self.error(
                path,
                format!("must be at most {MAX_SHIP_DAYS_AHEAD} days from today"),
            );
            return None;
        }
        Some(text.to_string())
    }

    fn carriers(&mut self, v: &Value, path: &str) -> Option<Vec<String>> {
        let items = self.array(v, path)?;
        if items.is_empty() {
            self.error(
                path,
                "must name at least one carrier (leave it out to ask every carrier)",
            );
            return None;
        }
        if items.len() > MAX_CARRIERS {
            self.error(path, format!("must name at most {MAX_CARRIERS} carriers"));
            return None;
        }
        let mut ids = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}/{i}");
            match self.string(item, &item_path) {
                Some(id) => match check_id(id, "carrier") {
                    Ok(()) if !ids.iter().any(|known| known == id) => ids.push(id.to_string()),
                    Ok(()) => {}
                    Err(message) => {
                        self.error(&item_path, message);
                        ok = false;
                    }
                },
                None => ok = false,
            }
        }
        ok.then_some(ids)
    }

    fn service_levels(&mut self, v: &Value, path: &str) -> Option<Vec<ServiceLevel>> {
        let items = self.array(v, path)?;
        if items.is_empty() {
            self.error(
                path,
                "must name at least one service level (leave it out for all)",
            );
            return None;
        }
        let mut levels = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.variant::<ServiceLevel>(item, &format!("{path}/{i}")) {
                Some(level) if !levels.contains(&level) => levels.push(level),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(levels)
    }

    fn currency(&mut self, v: &Value, path: &str) -> Option<String> {
        let code = self.string(v, path)?;
        if !is_currency_code(code) {
            self.error(
                path,
                "must be an ISO 4217 currency code in upper case, e.g. `USD`",
            );
            return None;
        }
        Some(code.to_string())
    }

    fn country(&mut self, v: &Value, path: &str) -> Option<String> {
        let code = self.string(v, path)?;
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            self.error(
                path,
                "must be an ISO 3166-1 alpha-2 country code in upper case, e.g. `US`",
            );
            return None;
        }
        Some(code.to_string())
    }

    fn postal_code(&mut self, v: &Value, path: &str) -> Option<String> {
        let code = self.string(v, path)?;
        let ok = !code.trim().is_empty()
            && code.len() <= 12
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
        if !ok {
            self.error(
                path,
                "must be a postal code of at most 12 letters, digits, spaces or `-`",
            );
            return None;
        }
        Some(code.trim().to_string())
    }

    fn state(&mut self, v: &Value, path: &str) -> Option<String> {
        let code = self.string(v, path)?;
        let ok = (1..=3).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            self.error(
                path,
                "must be a state or province code of 1 to 3 upper-case letters or digits, e.g. `GA`",
            );
            return None;
        }
        Some(code.to_string())
    }

    fn address_lines(&mut self, v: &Value, path: &str) -> Option<Vec<String>> {
        let items = self.array(v, path)?;
        if items.len() > 3 {
            self.error(path, "must hold at most 3 lines");
            return None;
        }
        let lines: Vec<Option<String>> = items
            .iter()
            .enumerate()
            .map(|(i, v)| self.text(v, &format!("{path}/{i}"), 35))
            .collect();
        lines.into_iter().collect()
    }

    /// A non-blank single-line string of at most `max` characters.
    fn text(&mut self, v: &Value, path: &str, max: usize) -> Option<String> {
        let text = self.string(v, path)?;
        if text.trim().is_empty() {
            self.error(path, "must not be empty");
            return None;
        }
        if text.chars().count() > max {
            self.error(path, format!("must be at most {max} characters"));
            return None;
        }
        if text.chars().any(char::is_control) {
            self.error(path, "must not contain control characters");
            return None;
        }
        Some(text.trim().to_string())
    }

    /// A positive number up to `max`.
    fn measure(&mut self, v: &Value, path: &str, max: f64) -> Option<f64> {
        let Some(n) = v.as_f64() else {
            self.error(path, "must be a number");
            return None;
        };
        if n <= 0.0 {
            self.error(path, "must be greater than 0");
            return None;
        }
        if n > max {
            self.error(path, format!("must be at most {max}"));
            return None;
        }
        Some(n)
    }

    fn variant<T: DeserializeOwned>(&mut self, v: &Value, path: &str) -> Option<T> {
        self.string(v, path)?;
        match T::deserialize(v) {
            Ok(t) => Some(t),
            Err(e) => {
                // serde's message names the accepted values: "unknown variant `g`,
                // expected `kg` or `lb`".
                self.error(path, e.to_string());
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v str> {
        let s = v.as_str();
        if s.is_none() {
            self.error(path, "must be a string");
        }
        s
    }

    fn array<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        let a = v.as_array();
        if a.is_none() {
            self.error(path, "must be an array");
        }
        a
    }

    /// The object at `path`; each member not in `fields` is an error of its own.
    fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        fields: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(obj) = v.as_object() else {
            self.error(path, "must be a JSON object");
            return None;
        };
        for name in obj.keys().filter(|k| !fields.contains(&k.as_str())) {
            let known = fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                &child(path, name),
                format!("is not a known field (known here: {known})"),
            );
        }
        Some(obj)
    }

    /// A member that must be present and not null.
    fn required<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        name: &str,
    ) -> Option<&'v Value> {
        let v = obj.get(name).filter(|v| !v.is_null());
        if v.is_none() {
            self.error(&child(path, name), "is required");
        }
        v
    }
}

/// Days since 1970-01-01 of a strict `YYYY-MM-DD` calendar date.
pub(crate) fn date_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return None;
    }
    parse_rfc3339(text).map(|secs| secs.div_euclid(86_400))
}

#[cfg(test)]
mod tests;
