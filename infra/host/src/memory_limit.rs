//! How much memory one component instance may have: `--max-instance-memory`
//! (`SPIN_MAX_INSTANCE_MEMORY`) or the runtime config's `max_instance_memory`, in
//! bytes, as Spin spells them. It bounds each of an instance's linear memories. A
//! guest asking to grow past it is refused (its `memory.grow` fails, which Rust's
//! allocator turns into an abort, so the request gets a 500), and the host logs a
//! `memory_limit_exceeded` event naming the component, as Spin logs a warning: once
//! per instance, so a guest retrying in a loop does not flood the log.

use anyhow::bail;
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::Component;

/// Waypost's default. Spin has none below the 4 GiB a 32-bit memory can address; a
/// gateway serving many tenants bounds what one request can take.
pub const DEFAULT: usize = 256 << 20;

/// The most a 32-bit linear memory can address.
const CEILING: u64 = 4 << 30;

const WASM_PAGE: u64 = 64 << 10;

/// A limit as given, checked: from one wasm page to 4 GiB.
pub fn validate(bytes: u64) -> anyhow::Result<usize> {
    if !(WASM_PAGE..=CEILING).contains(&bytes) {
        bail!(
            "{bytes} bytes: must be from {WASM_PAGE} (one wasm page) to {CEILING} \
             (4 GiB, all a wasm32 memory can address)"
        );
    }
    Ok(usize::try_from(bytes)?)
}

/// Refuses a component whose memory starts larger than `limit`: none of its
/// instances could be created, so every request to it would fail.
pub fn check_initial(component: &Component, limit: usize) -> anyhow::Result<()> {
    let initial = component
        .resources_required()
        .and_then(|r| r.max_initial_memory_size)
        .unwrap_or(0)
        .saturating_mul(WASM_PAGE);
    if initial > limit as u64 {
        bail!(
            "its memory starts at {initial} bytes, more than the instance memory limit of \
             {limit} bytes (--max-instance-memory, or max_instance_memory in the runtime config)"
        );
    }
    Ok(())
}

/// The `ResourceLimiter` of one instance's store.
pub struct InstanceLimits {
    max_memory: usize,
    /// What the log names: the component, or the chain sharing the store.
    name: Arc<str>,
    logged: bool,
}

impl InstanceLimits {
    pub fn new(max_memory: usize, name: Arc<str>) -> Self {
        Self {
            max_memory,
            name,
            logged: false,
        }
    }
}

impl ResourceLimiter for InstanceLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired <= self.max_memory {
            return Ok(true);
        }
        if std::mem::replace(&mut self.logged, true) {
            return Ok(false);
        }
        crate::log::event(
            "memory_limit_exceeded",
            &[
                ("component", &self.name),
                ("current", &current.to_string()),
                ("desired", &desired.to_string()),
                ("max_instance_memory", &self.max_memory.to_string()),
            ],
        );
        Ok(false)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_from_one_page_to_4_gib_is_taken() {
        assert_eq!(validate(WASM_PAGE).unwrap(), 65536);
        assert_eq!(validate(DEFAULT as u64).unwrap(), DEFAULT);
        assert_eq!(validate(CEILING).unwrap(), 4 << 30);
    }

    #[test]
    fn a_limit_below_one_page_or_above_4_gib_is_refused_by_value() {
        for bytes in [0, WASM_PAGE - 1, CEILING + 1] {
            let e = validate(bytes).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{bytes} bytes: must be from 65536")),
                "{e}"
            );
            assert!(e.contains("4294967296"), "{e}");
        }
    }

    #[test]
    fn growth_up_to_the_limit_is_allowed_and_past_it_refused() {
        let mut limits = InstanceLimits::new(1 << 20, "probe".into());
        assert!(limits.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limits.memory_growing(1 << 20, (1 << 20) + 1, None).unwrap());
        assert!(limits.logged);
        assert!(!limits.memory_growing(1 << 20, 2 << 20, None).unwrap());
    }
}
