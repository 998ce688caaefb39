//! The unified rate request of `POST /v1/rates`, the same for every carrier.
//!
//! Read it with [`super::parse_rate_request`], which reports every field error at
//! once; these types are what a request is once it passed.

use super::quote::ServiceLevel;
use serde::{Deserialize, Serialize};

/// The currency asked for when the request names none.
pub const DEFAULT_CURRENCY: &str = "USD";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    pub origin: Address,
    pub destination: Address,
    /// At least one.
    pub parcels: Vec<Parcel>,
    /// `YYYY-MM-DD`.
    pub ship_date: String,
    /// Only these carrier ids (a carrier the tenant does not use is reported as
    /// `not_enabled`); absent = every carrier the tenant uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carriers: Option<Vec<String>>,
    /// Only quotes of these service levels; absent = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_levels: Option<Vec<ServiceLevel>>,
    /// ISO 4217; the currency asked of carriers that can quote in several and listed
    /// first. Quotes keep the currency the carrier answered in.
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub sort: Sort,
}

fn default_currency() -> String {
    DEFAULT_CURRENCY.to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// ISO 3166-1 alpha-2, upper case (`US`, `DE`).
    pub country: String,
    pub postal_code: String,
    pub city: String,
    /// State or province code (`GA`, `ON`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Street lines, at most three (UPS wants them; the others use them when given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residential: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Parcel {
    pub weight: Weight,
    pub dimensions: Dimensions,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    pub value: f64,
    pub unit: WeightUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightUnit {
    Kg,
    Lb,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dimensions {
    pub length: f64,
    pub width: f64,
    pub height: f64,
    pub unit: LengthUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthUnit {
    Cm,
    In,
}

/// How quotes are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Cheapest first; ties by earliest delivery, then carrier.
    #[default]
    Price,
    /// Earliest estimated delivery first (quotes without a date last); ties by price.
    Delivery,
}
