//! A subscription's retry schedule: the delay before each delivery attempt, from its
//! tier (`tiers` records; `default` is built in as [`DEFAULT_SCHEDULE_SECS`], Svix's
//! schedule), each delay spread by up to ±[`JITTER_PERCENT`] so that retries of many
//! deliveries that failed together do not arrive together.

use crate::config::{DEFAULT_SCHEDULE_SECS, DEFAULT_TIER, DeliveryTier};
use serde::{Deserialize, Serialize};

/// The largest spread of a delay, in percent either way.
pub const JITTER_PERCENT: u64 = 10;

/// Delays before each attempt, in seconds; after the last one fails: dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RetrySchedule(Vec<u32>);

impl RetrySchedule {
    /// The schedule of `tier` among `tiers`; `default` when the document does not
    /// define it, and for a tier that is gone (a delivery keeps its schedule anyway).
    pub fn for_tier(tiers: &[DeliveryTier], tier: &str) -> RetrySchedule {
        let find = |id: &str| {
            tiers
                .iter()
                .find(|t| t.id == id && !t.schedule_secs.is_empty())
        };
        match find(tier).or_else(|| find(DEFAULT_TIER)) {
            Some(t) => RetrySchedule(t.schedule_secs.clone()),
            None => RetrySchedule(DEFAULT_SCHEDULE_SECS.to_vec()),
        }
    }

    pub fn from_secs(delays: Vec<u32>) -> RetrySchedule {
        RetrySchedule(delays)
    }

    /// How many attempts the schedule allows.
    pub fn attempts(&self) -> u32 {
        self.0.len() as u32
    }

    pub fn delays_secs(&self) -> &[u32] {
        &self.0
    }

    /// The jittered delay before attempt `attempt` (0-based), or `None` past the last.
    pub fn delay(&self, attempt: u32, rand: u64) -> Option<u64> {
        let base = *self.0.get(attempt as usize)?;
        Some(jitter(u64::from(base), rand))
    }
}

/// `delay` moved by up to ±[`JITTER_PERCENT`] (whole seconds), chosen by `rand`.
pub fn jitter(delay: u64, rand: u64) -> u64 {
    let spread = delay * JITTER_PERCENT / 100;
    if spread == 0 {
        return delay;
    }
    let offset = rand % (2 * spread + 1);
    delay - spread + offset
}

/// An independent random value for the `n`-th use of one caller-provided `rand`
/// (SplitMix64's output function), so one u64 from the caller covers a fan-out.
pub fn derive(rand: u64, n: u64) -> u64 {
    let mut z = rand.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(id: &str, delays: &[u32]) -> DeliveryTier {
        DeliveryTier {
            id: id.into(),
            schedule_secs: delays.to_vec(),
        }
    }

    #[test]
    fn the_default_tier_is_at_least_svix() {
        let s = RetrySchedule::for_tier(&[], DEFAULT_TIER);
        assert_eq!(
            s.delays_secs(),
            &[0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
        );
        assert_eq!(s.attempts(), 8);
    }

    #[test]
    fn tiers_are_looked_up_and_unknown_ones_fall_back_to_default() {
        let tiers = [
            tier("bulk", &[0, 60, 1_800, 21_600]),
            tier("default", &[0, 1, 2, 3, 4, 5, 6, 7, 8]),
        ];
        assert_eq!(RetrySchedule::for_tier(&tiers, "bulk").attempts(), 4);
        assert_eq!(
            RetrySchedule::for_tier(&tiers, "gone").attempts(),
            9,
            "redefined default"
        );
        assert_eq!(
            RetrySchedule::for_tier(&tiers[..1], "gone").attempts(),
            8,
            "built-in default"
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_covers_both_sides() {
        let (mut low, mut high) = (u64::MAX, 0);
        for n in 0..2_000 {
            let d = jitter(1_800, derive(42, n));
            assert!((1_620..=1_980).contains(&d), "{d}");
            low = low.min(d);
            high = high.max(d);
        }
        assert!(low < 1_700 && high > 1_900, "{low}..{high}");
        assert_eq!(jitter(0, 7), 0, "immediately stays immediately");
        assert_eq!(
            jitter(5, u64::MAX),
            5,
            "less than a second of spread is none"
        );
    }

    #[test]
    fn jittered_default_delays_keep_their_order() {
        let s = RetrySchedule::for_tier(&[], DEFAULT_TIER);
        for seed in 0..200 {
            let delays: Vec<u64> = (0..6)
                .map(|a| s.delay(a, derive(seed, u64::from(a))).unwrap())
                .collect();
            assert!(delays.windows(2).all(|w| w[0] < w[1]), "{delays:?}");
        }
        assert_eq!(s.delay(8, 0), None, "no ninth attempt");
    }
}
