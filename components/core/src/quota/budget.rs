//! Charging one budget against its quota: the window arithmetic between the caller's
//! clock, the stored window counter and the [`Usage`] reported to the client.

use super::decision::Usage;
use super::window::{self, Charged};
use crate::kv::{KeyValue, KvResult};

/// A budget: where it is stored and what it allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget<'a> {
    /// The key prefix (see [`super::window`]).
    pub key: &'a str,
    /// The policy name reported to clients and logs.
    pub name: &'a str,
    pub quota: u32,
    pub window_secs: u32,
}

/// A charge that fit: give it back with [`give_back`] if the request is refused later.
#[derive(Debug, Clone)]
pub(crate) struct Taken {
    key: String,
    charged: Charged,
    units: u32,
}

pub(crate) enum Checked {
    Within(Usage, Taken),
    /// Over quota (the units were given back): the budget and the seconds until its
    /// window closes.
    Over(Usage, u32),
}

impl Budget<'_> {
    fn window_ms(&self) -> u64 {
        u64::from(self.window_secs.max(1)) * 1000
    }

    /// Seconds from `now_ms` until window `index` closes, rounded up, at least 1.
    fn secs_until_end(&self, index: u64, now_ms: u64) -> u32 {
        let end = index.saturating_add(1).saturating_mul(self.window_ms());
        let ms = end.saturating_sub(now_ms);
        u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1)
    }

    fn usage(&self, used: i64, reset_secs: u32) -> Usage {
        let remaining = (i64::from(self.quota) - used).clamp(0, i64::from(self.quota));
        Usage {
            name: self.name.to_string(),
            quota: self.quota,
            window_secs: self.window_secs,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_secs,
        }
    }

    /// Charges `units` at `now_ms` (Unix ms, the caller's clock). Within the quota the
    /// units stay counted; over it they are given back at once, so a request too heavy
    /// for what is left does not block lighter ones.
    pub(crate) fn check<K: KeyValue + ?Sized>(
        &self,
        kv: &K,
        units: u32,
        now_ms: u64,
    ) -> KvResult<Checked> {
        let charged = window::charge(kv, self.key, units, now_ms / self.window_ms())?;
        let reset = self.secs_until_end(charged.index, now_ms);
        if charged.total <= i64::from(self.quota) {
            let taken = Taken {
                key: self.key.to_string(),
                charged,
                units,
            };
            return Ok(Checked::Within(self.usage(charged.total, reset), taken));
        }
        // The refund is best effort: if it fails the units stay counted until the
        // window closes, which errs on the side of the limit.
        let _ = window::refund(kv, self.key, charged.index, units);
        let before = charged.total - i64::from(units);
        Ok(Checked::Over(self.usage(before, reset), reset))
    }
}

/// Gives back charges that fit, for a request another limit refused. Best effort, as
/// in [`Budget::check`].
pub(crate) fn give_back<K: KeyValue + ?Sized>(kv: &K, taken: &[Taken]) {
    for t in taken {
        let _ = window::refund(kv, &t.key, t.charged.index, t.units);
    }
}
