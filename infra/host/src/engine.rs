//! The Wasmtime engine: the pooling allocator, epochs, and the compilation cache
//! (`compile_cache`) that lets restarts skip Cranelift.

use anyhow::Context;
use std::time::Duration;
use wasmtime::{
    Cache, Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

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

/// `up`'s engine flags, named as Spin names them.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// `--disable-pooling`: each instance's memories and tables are mapped when it
    /// starts instead of taken from the pool, so there is no instance limit and
    /// no address space reserved up front.
    pub disable_pooling: bool,
    /// `--debug-info`: DWARF for native debuggers, and unoptimised code, as Spin.
    pub debug_info: bool,
}

pub fn new_engine(opts: &EngineOptions, cache: Option<Cache>) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model_async(true);
    config.concurrency_support(true);
    config.epoch_interruption(true);
    config.cache(cache);
    if opts.debug_info {
        config.debug_info(true);
        config.cranelift_opt_level(wasmtime::OptLevel::None);
    } else {
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    }
    // `perf record` sees guest code as anonymous JIT frames unless the engine writes
    // `/tmp/perf-<pid>.map`, which names them (README, Benchmarks).
    if std::env::var_os("WAYPOST_PROFILE").is_some_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if opts.disable_pooling {
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        return finish(&config, "with instances allocated on demand");
    }
    let instances = instance_count(std::env::var(INSTANCES_VAR).ok().as_deref())?;
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
    finish(
        &config,
        &format!("with room for {instances} pooled instances"),
    )
}

fn finish(config: &Config, allocation: &str) -> anyhow::Result<Engine> {
    let engine = Engine::new(config)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("creating the engine {allocation}"))?;
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
