//! Deterministic quotes: the price and transit time of one service for one shipment.
//!
//! A lane (origin and destination country and postal code) hashes to a zone 2–8; the
//! price is `(base + per_kg × weight) × zone spread × international factor × a per-
//! service wobble of 0–5 %` (the wobble hashes carrier, service and lane), plus a 12.5 %
//! fuel surcharge. Only the actual weight counts (no dimensional weight), so the same
//! request always gets the same price and a heavier one always a higher price.

use super::Carrier;
use sha2::{Digest, Sha256};

pub(crate) const KG_PER_LB: f64 = 0.453_592_37;

/// One end of a shipment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Place {
    /// ISO 3166 alpha-2, upper case.
    pub country: String,
    pub postal: String,
}

impl Place {
    pub fn new(country: &str, postal: &str) -> Self {
        Self {
            country: country.trim().to_ascii_uppercase(),
            postal: postal.trim().to_ascii_uppercase(),
        }
    }
}

/// Where a shipment goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lane {
    pub origin: Place,
    pub destination: Place,
}

impl Lane {
    pub fn is_domestic(&self) -> bool {
        self.origin.country == self.destination.country
    }

    /// 2–8, from a hash of the lane (per carrier, like real zone charts). A lane within
    /// one postal area (same first three characters) is zone 2.
    pub fn zone(&self, carrier: Carrier) -> u32 {
        let (o, d) = (&self.origin, &self.destination);
        if self.is_domestic() && o.postal.get(..3).is_some_and(|p| d.postal.starts_with(p)) {
            return 2;
        }
        let h = hash(&[
            carrier.as_str(),
            &o.country,
            &o.postal,
            &d.country,
            &d.postal,
        ]);
        2 + (h % 7) as u32
    }
}

/// How a service is priced and how long it takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tariff {
    /// In the quote's currency.
    pub base: f64,
    pub per_kg: f64,
    pub days: Days,
}

/// Business days in transit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Days {
    Fixed(u32),
    /// From `.0` days in zone 2 to `.1` days in zone 8.
    ByZone(u32, u32),
}

impl Tariff {
    pub const fn new(base: f64, per_kg: f64, days: Days) -> Self {
        Self { base, per_kg, days }
    }

    pub fn transit_days(&self, zone: u32) -> u32 {
        match self.days {
            Days::Fixed(d) => d,
            Days::ByZone(min, max) => min + (zone.clamp(2, 8) - 2) * (max - min) / 6,
        }
    }
}

/// An amount in cents (hundredths of the currency unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cents(pub i64);

impl Cents {
    /// As a JSON number, e.g. `12.34`.
    pub fn amount(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// As text with two decimals, e.g. `"12.34"` (UPS).
    pub fn text(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// `percent` % of this amount, rounded to the cent.
    pub fn percent(self, percent: i64) -> Cents {
        Cents((self.0 * percent + 50) / 100)
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;
    fn add(self, other: Cents) -> Cents {
        Cents(self.0 + other.0)
    }
}

impl std::ops::Sub for Cents {
    type Output = Cents;
    fn sub(self, other: Cents) -> Cents {
        Cents(self.0 - other.0)
    }
}

/// A priced service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Price {
    /// Transportation before surcharges.
    pub base: Cents,
    pub fuel: Cents,
}

impl Price {
    pub fn total(&self) -> Cents {
        self.base + self.fuel
    }
}

/// The price of `service` (its code) with `tariff` for `weight_kg` on `lane`.
pub(crate) fn price(
    carrier: Carrier,
    service: &str,
    tariff: &Tariff,
    lane: &Lane,
    weight_kg: f64,
) -> Price {
    let zone = lane.zone(carrier);
    let spread = 1.0 + 0.12 * f64::from(zone - 2);
    let international = if lane.is_domestic() { 1.0 } else { 2.2 };
    let (o, d) = (&lane.origin, &lane.destination);
    let h = hash(&[
        carrier.as_str(),
        service,
        &o.country,
        &o.postal,
        &d.country,
        &d.postal,
    ]);
    let wobble = 1.0 + (h % 500) as f64 / 10_000.0;
    let base = (tariff.base + tariff.per_kg * weight_kg) * spread * international * wobble;
    let base = Cents((base * 100.0).round() as i64);
    let fuel = Cents((base.0 * 125 + 500) / 1000);
    Price { base, fuel }
}

/// The currency a carrier bills a shipment from `country` in.
pub(crate) fn currency(country: &str) -> &'static str {
    const EURO: &[&str] = &[
        "AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV",
        "MT", "NL", "PT", "SI", "SK",
    ];
    match country {
        "CA" => "CAD",
        "GB" => "GBP",
        "CH" => "CHF",
        c if EURO.contains(&c) => "EUR",
        _ => "USD",
    }
}

/// A stable 64-bit hash of `parts` (separated, so `("ab","c")` ≠ `("a","bc")`).
pub(crate) fn hash(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(o: &str, d: &str) -> Lane {
        Lane {
            origin: Place::new("us", o),
            destination: Place::new("US", d),
        }
    }

    const GROUND: Tariff = Tariff::new(9.5, 2.2, Days::ByZone(1, 5));

    #[test]
    fn a_quote_is_the_same_every_time_and_grows_with_weight() {
        let l = lane("10001", "94105");
        let a = price(Carrier::Ups, "03", &GROUND, &l, 2.0);
        assert_eq!(a, price(Carrier::Ups, "03", &GROUND, &l, 2.0));
        let b = price(Carrier::Ups, "03", &GROUND, &l, 2.1);
        assert!(b.total() > a.total(), "{b:?} > {a:?}");
    }

    #[test]
    fn lanes_and_services_price_differently() {
        let far = price(Carrier::Ups, "03", &GROUND, &lane("10001", "94105"), 2.0);
        let near = price(Carrier::Ups, "03", &GROUND, &lane("10001", "10002"), 2.0);
        assert_eq!(lane("10001", "10002").zone(Carrier::Ups), 2);
        assert_ne!(far, near);
        let other = price(Carrier::Fedex, "03", &GROUND, &lane("10001", "94105"), 2.0);
        assert_ne!(far, other);
    }

    #[test]
    fn zones_stay_in_range_and_transit_follows_them() {
        for (o, d) in [("10001", "94105"), ("60601", "33101"), ("98101", "02108")] {
            let z = lane(o, d).zone(Carrier::Fedex);
            assert!((2..=8).contains(&z));
        }
        assert_eq!(GROUND.transit_days(2), 1);
        assert_eq!(GROUND.transit_days(8), 5);
        assert_eq!(Tariff::new(1.0, 1.0, Days::Fixed(2)).transit_days(8), 2);
    }

    #[test]
    fn cents_print_as_carriers_write_money() {
        assert_eq!(Cents(1234).text(), "12.34");
        assert_eq!(Cents(5).text(), "0.05");
        assert_eq!(Cents(1234).amount(), 12.34);
        assert_eq!(currency("DE"), "EUR");
        assert_eq!(currency("US"), "USD");
    }
}
