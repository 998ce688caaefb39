//! A normalized quote: one carrier service with its price and, where the carrier says,
//! its transit time.

use super::money::Money;
use serde::{Deserialize, Serialize};

/// A carrier-independent speed class, for the request's `service_levels` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevel {
    /// Next business day (UPS Next Day Air, FedEx Standard Overnight, DHL Domestic
    /// Express, USPS Priority Mail Express).
    Overnight,
    /// UPS 2nd Day Air, FedEx 2Day, USPS Priority Mail.
    TwoDay,
    /// UPS 3 Day Select, FedEx Express Saver.
    ThreeDay,
    /// Ground and standard parcel services (UPS Ground and Standard, FedEx Ground,
    /// USPS Ground Advantage and Parcel Select).
    Ground,
    /// International time-definite express (UPS Worldwide Express/Saver, FedEx
    /// International Priority, DHL Express Worldwide).
    Express,
    /// International deferred and economy services, USPS Media/Library Mail.
    Economy,
    /// A service the adapter does not classify.
    Other,
}

impl ServiceLevel {
    pub const ALL: [ServiceLevel; 7] = [
        ServiceLevel::Overnight,
        ServiceLevel::TwoDay,
        ServiceLevel::ThreeDay,
        ServiceLevel::Ground,
        ServiceLevel::Express,
        ServiceLevel::Economy,
        ServiceLevel::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceLevel::Overnight => "overnight",
            ServiceLevel::TwoDay => "two_day",
            ServiceLevel::ThreeDay => "three_day",
            ServiceLevel::Ground => "ground",
            ServiceLevel::Express => "express",
            ServiceLevel::Economy => "economy",
            ServiceLevel::Other => "other",
        }
    }
}

/// One priced service of one carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    /// The carrier id of the config (`ups`), as the tenant names it.
    pub carrier: String,
    /// The carrier's own service code (`03`, `FEDEX_GROUND`, `P`, `PRIORITY_MAIL`).
    pub service_code: String,
    pub service_name: String,
    pub service_level: ServiceLevel,
    pub price: Money,
    /// Transit time in (business) days as the carrier states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_days: Option<u32>,
    /// `YYYY-MM-DD`, the carrier's estimate (or commitment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_delivery_date: Option<String>,
}
