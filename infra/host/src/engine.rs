//! The Wasmtime engine and component loading: compiled once, cached on disk (keyed
//! by the component's bytes and the engine's compatibility hash) so restarts skip
//! Cranelift.

use anyhow::Context;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Concurrent component instances the pooling allocator reserves room for, unless
/// `SPIN_WASMTIME_INSTANCE_COUNT` says otherwise (Spin's variable and default).
const DEFAULT_INSTANCES: u32 = 1000;
const INSTANCES_VAR: &str = "SPIN_WASMTIME_INSTANCE_COUNT";
/// Each slot reserves address space for two memories of about 4.3 GB each (Wasmtime's
/// reservation and guard): 10,000 slots take 86 TB of x86-64's 128 TiB, 14,000 do not fit.
const MAX_INSTANCES: u32 = 10_000;

/// The pool's size: `SPIN_WASMTIME_INSTANCE_COUNT`, or the default.
fn instance_count(value: Option<&str>) -> anyhow::Result<u32> {
    let Some(value) = value else {
        return Ok(DEFAULT_INSTANCES);
    };
    match value.trim().parse::<u32>() {
        Ok(n @ 1..=MAX_INSTANCES) => Ok(n),
        _ => anyhow::bail!(
            "{INSTANCES_VAR}={value}: expected a number of instances from 1 to {MAX_INSTANCES}"
        ),
    }
}

/// Bytes of each pooled memory and table kept mapped between instances. With
/// `PAGEMAP_SCAN` (Linux 6.7+) only the pages an instance dirtied are reset, so a
/// window larger than a guest touches costs nothing; measured with the host bench
/// (hello at 32 connections: 13k req/s at 2 MiB without the scan, 25k at 8 MiB with it).
const MEMORY_KEEP_RESIDENT: usize = 8 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// How often the engine's epoch advances. A guest that computes for a tick without
/// waiting on anything yields its thread there (`workers`), so other requests on that
/// thread are not held up behind it and a request timeout can stop it. Spin ticks as
/// often, for its own request deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub fn new_engine() -> anyhow::Result<Engine> {
    let instances = instance_count(std::env::var(INSTANCES_VAR).ok().as_deref())?;
    let mut config = Config::new();
    config.wasm_component_model_async(true);
    config.concurrency_support(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // A pooled memory may grow to the pool's default, the 4 GiB it can address:
    // each store's limiter bounds it (`memory_limit`), and a component that starts
    // too big is refused with an error naming the setting, where the pool's would not.
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(instances)
        .total_core_instances(instances * 4)
        .total_memories(instances * 2)
        .total_tables(instances * 4)
        .max_component_instance_size(1 << 20)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .total_stacks(instances)
        // Reusing a slot resets the pages the last instance dirtied in place instead
        // of returning them to the kernel (madvise), which cost a page fault per
        // touched page and a TLB-shootdown IPI per instance.
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .decommit_batch_size(64)
        .pagemap_scan(Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    // `perf record` sees guest code as anonymous JIT frames unless the engine writes
    // `/tmp/perf-<pid>.map`, which names them (README, Benchmarks).
    if std::env::var_os("WAYPOST_PROFILE").is_some_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("creating the engine with room for {instances} instances"))?;
    tick_epochs(&engine)?;
    Ok(engine)
}

/// Advances `engine`'s epoch every `EPOCH_TICK` for as long as the engine lives.
fn tick_epochs(engine: &Engine) -> anyhow::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("starting the epoch ticker thread")?;
    Ok(())
}

/// Compiles `bytes`, reusing `<cache_dir>/<hash>.cwasm` when this engine compiled
/// them before.
pub fn load_component(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: &Path,
) -> anyhow::Result<Component> {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let mut digest = Sha256::new();
    digest.update(bytes);
    digest.update(engine_hash.finish().to_le_bytes());
    digest.update(env!("CARGO_PKG_VERSION"));
    let key = format!("{:x}", digest.finalize());
    let cached = cache_dir.join(format!("{key}.cwasm"));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the
        // same compatibility hash, in a directory only this host writes.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cached) } {
            return Ok(component);
        }
    }
    let component = Component::new(engine, bytes)
        .map_err(anyhow::Error::from)
        .context("not a valid component")?;
    std::fs::create_dir_all(cache_dir)?;
    let tmp = cache_dir.join(format!("{key}.tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, &cached)?;
    Ok(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_size_comes_from_spins_variable_or_defaults_to_a_thousand() {
        assert_eq!(instance_count(None).unwrap(), 1000);
        assert_eq!(instance_count(Some("64")).unwrap(), 64);
        for bad in ["0", "-3", "many", "10001", ""] {
            let e = instance_count(Some(bad)).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("SPIN_WASMTIME_INSTANCE_COUNT={bad}:")),
                "{e}"
            );
        }
    }
}
