//! Deterministic shipment histories for the tracking endpoints: a tracking number
//! hashes to a stage, a lane and a ship date a few days before today. A number made of
//! zeros only (e.g. `0000000000`) is unknown to every carrier.

use super::dates;
use super::pricing::hash;
use time::{Date, Duration};

/// Where a shipment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
}

/// A place on a shipment's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Site {
    pub city: &'static str,
    pub state: &'static str,
    pub postal: &'static str,
    pub country: &'static str,
}

const SITES: &[Site] = &[
    site("NEW YORK", "NY", "10001", "US"),
    site("ATLANTA", "GA", "30303", "US"),
    site("CHICAGO", "IL", "60601", "US"),
    site("LOS ANGELES", "CA", "90001", "US"),
    site("SEATTLE", "WA", "98101", "US"),
    site("LEIPZIG", "", "04435", "DE"),
    site("AMSTERDAM", "", "1012", "NL"),
];
const HUB: Site = site("LOUISVILLE", "KY", "40209", "US");

const fn site(
    city: &'static str,
    state: &'static str,
    postal: &'static str,
    country: &'static str,
) -> Site {
    Site {
        city,
        state,
        postal,
        country,
    }
}

/// One scan, newest first in [`Story::scans`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    pub date: Date,
    /// `HHMMSS`, local time.
    pub time: &'static str,
    pub stage: Stage,
    pub description: &'static str,
    pub site: Site,
}

impl Scan {
    /// `HH:MM:SS`.
    pub fn time_colons(&self) -> String {
        let t = self.time;
        format!("{}:{}:{}", &t[0..2], &t[2..4], &t[4..6])
    }

    /// `YYYY-MM-DDTHH:MM:SS`.
    pub fn timestamp(&self) -> String {
        format!("{}T{}", dates::iso(self.date), self.time_colons())
    }
}

/// A shipment's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Story {
    pub stage: Stage,
    pub origin: Site,
    pub destination: Site,
    pub shipped: Date,
    /// The scheduled (or actual) delivery date.
    pub delivery: Date,
    pub scans: Vec<Scan>,
}

impl Story {
    pub fn latest(&self) -> &Scan {
        &self.scans[0]
    }
}

/// The history of `number` as of `today`; `None` for an unknown number.
pub(crate) fn story(number: &str, today: Date) -> Option<Story> {
    if number.is_empty() || number.bytes().all(|b| b == b'0') {
        return None;
    }
    let h = hash(&["tracking", number]);
    let stage = [
        Stage::LabelCreated,
        Stage::InTransit,
        Stage::OutForDelivery,
        Stage::Delivered,
    ][(h % 4) as usize];
    let origin = SITES[(h / 4 % SITES.len() as u64) as usize];
    let mut destination = SITES[(h / 32 % SITES.len() as u64) as usize];
    if destination == origin {
        destination = SITES[(h / 4 % SITES.len() as u64 + 1) as usize % SITES.len()];
    }
    let shipped = today - Duration::days(1 + (h / 256 % 3) as i64);
    let mut scans = vec![scan(
        shipped,
        "081500",
        Stage::LabelCreated,
        "Shipment information received",
        origin,
    )];
    if stage >= Stage::InTransit {
        scans.push(scan(
            shipped,
            "194000",
            Stage::InTransit,
            "Departed from facility",
            origin,
        ));
        let next = shipped + Duration::days(1);
        scans.push(scan(
            next,
            "032000",
            Stage::InTransit,
            "Arrived at facility",
            HUB,
        ));
    }
    if stage >= Stage::OutForDelivery {
        scans.push(scan(
            today,
            "074500",
            Stage::OutForDelivery,
            "Out for delivery",
            destination,
        ));
    }
    if stage == Stage::Delivered {
        scans.push(scan(
            today,
            "143200",
            Stage::Delivered,
            "Delivered",
            destination,
        ));
    }
    scans.reverse();
    let delivery = match stage {
        Stage::OutForDelivery | Stage::Delivered => today,
        _ => dates::add_business_days(shipped, 3).max(today),
    };
    Some(Story {
        stage,
        origin,
        destination,
        shipped,
        delivery,
        scans,
    })
}

fn scan(
    date: Date,
    time: &'static str,
    stage: Stage,
    description: &'static str,
    site: Site,
) -> Scan {
    Scan {
        date,
        time,
        stage,
        description,
        site,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_number_always_tells_the_same_story() {
        let today = date!(2026 - 11 - 20);
        let a = story("1Z999AA10123456784", today).unwrap();
        assert_eq!(Some(a.clone()), story("1Z999AA10123456784", today));
        assert_ne!(a.origin, a.destination);
        assert!(a.shipped < today);
        assert!(
            a.scans
                .windows(2)
                .all(|w| (w[0].date, w[0].time) >= (w[1].date, w[1].time))
        );
        assert_eq!(a.latest().stage, a.stage);
    }

    #[test]
    fn every_stage_occurs_and_zeros_are_unknown() {
        let today = date!(2026 - 11 - 20);
        let stages: Vec<Stage> = (0..40)
            .map(|i| story(&format!("TRK{i}"), today).unwrap().stage)
            .collect();
        for s in [
            Stage::LabelCreated,
            Stage::InTransit,
            Stage::OutForDelivery,
            Stage::Delivered,
        ] {
            assert!(stages.contains(&s), "{s:?}");
        }
        assert_eq!(story("0000000000", today), None);
    }
}
