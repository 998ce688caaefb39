//! `waypost-probe`: a test fixture that exercises the host's Spin APIs over HTTP.
//!
//! Routing: the operation is taken from the request's URI path (not `spin-path-info`),
//! so the component works under any route prefix. The path is split into segments and
//! the FIRST segment that names an operation (`echo`, `kv`, `var`, `outbound`, `trap`,
//! `slow`, `busy`, `stream`, `bytes`, `files`, `files-write`, `instance`, `env`) selects
//! it; the segments after it are its arguments.
//! So `/probe/kv/get?store=s&key=k` and `/kv/get?...` are the same operation. Route
//! prefixes must therefore not contain one of those words as a whole segment.
//!
//! | path                               | response                                              |
//! |------------------------------------|-------------------------------------------------------|
//! | `/echo`                            | 200 JSON `{method, path, headers, body}`; a body that |
//! |                                    | fails to arrive reads as empty                        |
//! | `/kv/get?store=L&key=K`            | 200 raw value, 404 `no-such-key`                      |
//! | `/kv/set?store=L&key=K` (body)     | 204, 400 `unreadable-body` (nothing written)          |
//! | `/kv/keys?store=L`                 | 200 JSON array of keys, sorted                        |
//! | `/kv/incr?store=L&key=K&delta=N`   | 200 new value (wasi:keyvalue atomics), delta default 1|
//! | `/kv/bench?store=L&key=K`          | 200 counter after get + set + increment of K (below)  |
//! | `/kv/cas-conflict?store=L&key=K`   | 409 `cas-failed` / 200 `swapped`                      |
//! | `/kv/cas?store=L&key=K` (body)     | 200 `swapped` / 409 `cas-failed`, 400 as `set`        |
//! | `/var/NAME`                        | 200 value, 404 Debug of the error                     |
//! | `/outbound?url=URL`                | 200 upstream body + `x-upstream-status`, 502 Debug    |
//! |   `&connect_ms=&first_byte_ms=`    | of the error; the request's `request-options`         |
//! |   `&between_bytes_ms=` (optional)  | timeouts, in ms                                       |
//! | `/trap`                            | traps (panic)                                         |
//! | `/slow?ms=N`                       | 200 `slept N` after N ms                              |
//! | `/busy?ms=N`                       | 200 `busy N` after computing for N ms without once    |
//! |                                    | waiting; `ms=forever` never stops                     |
//! | `/stream?first=TEXT`               | 200, body TEXT at once, `late` only 120 s later       |
//! | `/stream?first=TEXT&then=trap`     | 200, body TEXT at once, then traps 200 ms later       |
//! | `/bytes?n=N`                       | 200, N bytes of `x`, streamed in 16 KiB writes that   |
//! |                                    | wait once 1,024 are ahead of what the host has taken  |
//! | `/files/REL`                       | 200 contents of `/REL`, 404 io error text             |
//! | `/files-write/REL`                 | 200 `written`, 403 io error text                      |
//! | `/instance`                        | 200 `served N`: requests this instance has served     |
//! | `/env/NAME`                        | 200 the environment variable's value, 404 error text  |
//! | anything else                      | 200 `probe`                                           |
//!
//! `/kv/bench` is the host benchmark's KV workload: one spin:key-value `get` of K, one
//! `set` of K to the value read (the counter in the store's own encoding, so K stays a
//! counter on Spin as here; nothing is set while K is absent), then one wasi:keyvalue
//! atomics `increment` of K by 1. The three are not atomic together: under
//! concurrency a `set` may undo another request's increment.
//!
//! Store errors, for every `/kv/...` operation: 403 `access-denied`, 404 `no-such-store`,
//! otherwise 500 with the error's Debug text.

use bytes::Bytes;
use futures::SinkExt;
use spin_sdk::experimental::wasi::keyvalue::{atomics, store as wasi_kv};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{BoxBody, FullBody, Request, Response, StatusCode, box_body};
use spin_sdk::{http_service, key_value, variables};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Computes for `ms` milliseconds (`forever`: never stops) without yielding once: a
/// guest stuck in a loop, or a CPU-heavy one.
fn busy(ms: &str) -> Reply {
    let until = match ms.parse() {
        Ok(ms) => Some(std::time::Instant::now() + Duration::from_millis(ms)),
        Err(_) if ms == "forever" => None,
        Err(_) => return reply(400, "ms: a number, or forever"),
    };
    let mut spins = 0u64;
    while until.is_none_or(|until| std::time::Instant::now() < until) {
        for _ in 0..1_000 {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
    reply(200, format!("busy {ms}"))
}

/// Holds `mib` MiB, every page written, for the rest of the request: a guest that
/// needs that much memory (`--max-instance-memory`).
fn alloc(mib: &str) -> Reply {
    let Ok(mib) = mib.parse::<usize>() else {
        return reply(400, "mib: a number");
    };
    let held = std::hint::black_box(vec![1u8; mib << 20]);
    reply(200, format!("allocated {} MiB", held.len() >> 20))
}

/// Requests this instance has served, this one included: shows instance reuse.
static SERVED: AtomicU64 = AtomicU64::new(0);

type Reply = Response<BoxBody>;

const OPS: &[&str] = &[
    "echo",
    "kv",
    "var",
    "outbound",
    "trap",
    "slow",
    "busy",
    "stream",
    "bytes",
    "files",
    "files-write",
    "instance",
    "env",
    "alloc",
    "print",
];

#[http_service]
async fn handle(req: Request) -> Reply {
    let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();

    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(at) = segments.iter().position(|s| OPS.contains(s)) else {
        return reply(200, "probe");
    };
    let args = segments[at + 1..].join("/");

    match (segments[at], args.as_str()) {
        ("echo", _) => echo(req).await,
        ("kv", "get") => kv_get(&param("store"), &param("key")).await,
        ("kv", "set") => match written_body(req).await {
            Ok(value) => kv_set(&param("store"), &param("key"), value).await,
            Err(refused) => refused,
        },
        ("kv", "keys") => kv_keys(&param("store")).await,
        ("kv", "incr") => {
            let delta = param("delta").parse().unwrap_or(1);
            kv_incr(&param("store"), &param("key"), delta)
        }
        ("kv", "bench") => kv_bench(&param("store"), &param("key")).await,
        ("kv", "cas-conflict") => kv_cas(&param("store"), &param("key"), None),
        ("kv", "cas") => match written_body(req).await {
            Ok(value) => kv_cas(&param("store"), &param("key"), Some(value)),
            Err(refused) => refused,
        },
        ("var", name) => match variables::get(percent_decode(name)).await {
            Ok(value) => reply(200, value),
            Err(e @ (variables::Error::Undefined(_) | variables::Error::InvalidName(_))) => {
                reply(404, format!("{e:?}"))
            }
            Err(e) => reply(500, format!("{e:?}")),
        },
        ("outbound", _) => {
            let ms = |name: &str| param(name).parse::<u64>().ok();
            let timeouts = [
                ms("connect_ms"),
                ms("first_byte_ms"),
                ms("between_bytes_ms"),
            ];
            outbound(&param("url"), timeouts).await
        }
        ("trap", _) => panic!("probe asked to trap"),
        ("slow", _) => {
            let ms: u64 = param("ms").parse().unwrap_or(0);
            spin_sdk::time::sleep(Duration::from_millis(ms)).await;
            reply(200, format!("slept {ms}"))
        }
        ("busy", _) => busy(&param("ms")),
        ("alloc", _) => alloc(&param("mib")),
        ("print", _) => {
            println!("{}", param("out"));
            eprintln!("{}", param("err"));
            reply(200, "printed")
        }
        ("stream", _) => stream(param("first"), param("then") == "trap"),
        ("bytes", _) => bytes(param("n").parse().unwrap_or(0)),
        ("files", rel) => match std::fs::read_to_string(format!("/{}", percent_decode(rel))) {
            Ok(contents) => reply(200, contents),
            Err(e) => reply(404, e.to_string()),
        },
        ("files-write", rel) => match std::fs::write(format!("/{}", percent_decode(rel)), "x") {
            Ok(()) => reply(200, "written"),
            Err(e) => reply(403, e.to_string()),
        },
        ("instance", _) => reply(200, format!("served {served}")),
        ("env", name) => match std::env::var(name) {
            Ok(value) => reply(200, value),
            Err(e) => reply(404, e.to_string()),
        },
        _ => reply(200, "probe"),
    }
}

async fn echo(req: Request) -> Reply {
    let mut headers = BTreeMap::<String, String>::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| *v = format!("{v}, {value}"))
            .or_insert(value);
    }
    let doc = serde_json::json!({
        "method": req.method().as_str(),
        "path": req.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/"),
        "headers": headers,
        "body": String::from_utf8_lossy(&body(req).await),
    });
    json(doc)
}

async fn kv_get(label: &str, key: &str) -> Reply {
    let store = match key_value::Store::open(label).await {
        Ok(store) => store,
        Err(e) => return kv_error(e),
    };
    match store.get(key).await {
        Ok(Some(value)) => reply(200, value),
        Ok(None) => reply(404, "no-such-key"),
        Err(e) => kv_error(e),
    }
}

async fn kv_set(label: &str, key: &str, value: Bytes) -> Reply {
    let store = match key_value::Store::open(label).await {
        Ok(store) => store,
        Err(e) => return kv_error(e),
    };
    match store.set(key, value).await {
        Ok(()) => reply(204, ""),
        Err(e) => kv_error(e),
    }
}

async fn kv_keys(label: &str) -> Reply {
    let store = match key_value::Store::open(label).await {
        Ok(store) => store,
        Err(e) => return kv_error(e),
    };
    match store.get_keys().await.collect().await {
        Ok(mut keys) => {
            keys.sort();
            json(serde_json::json!(keys))
        }
        Err(e) => kv_error(e),
    }
}

/// `wasi:keyvalue/atomics.increment`.
fn kv_incr(label: &str, key: &str, delta: i64) -> Reply {
    let bucket = match wasi_kv::open(label) {
        Ok(bucket) => bucket,
        Err(e) => return wasi_kv_error(e),
    };
    match atomics::increment(&bucket, key, delta) {
        Ok(value) => reply(200, value.to_string()),
        Err(e) => wasi_kv_error(e),
    }
}

/// The benchmark workload: spin:key-value `get` and `set` of `key`, then
/// `wasi:keyvalue/atomics.increment` of it by 1; answers the counter.
async fn kv_bench(label: &str, key: &str) -> Reply {
    let store = match key_value::Store::open(label).await {
        Ok(store) => store,
        Err(e) => return kv_error(e),
    };
    let value = match store.get(key).await {
        Ok(value) => value,
        Err(e) => return kv_error(e),
    };
    if let Some(value) = value
        && let Err(e) = store.set(key, value).await
    {
        return kv_error(e);
    }
    kv_incr(label, key, 1)
}

/// Compare-and-swap with `wasi:keyvalue/atomics`. With `new_value == None` this is the
/// conflict demonstration: the key is changed to `changed` between `Cas::new` and `swap`
/// (which then tries to write `mine`), so a correct host answers 409.
fn kv_cas(label: &str, key: &str, new_value: Option<Bytes>) -> Reply {
    let bucket = match wasi_kv::open(label) {
        Ok(bucket) => bucket,
        Err(e) => return wasi_kv_error(e),
    };
    let cas = match atomics::Cas::new(&bucket, key) {
        Ok(cas) => cas,
        Err(e) => return wasi_kv_error(e),
    };
    let value = match new_value {
        Some(value) => value,
        None => {
            if let Err(e) = bucket.set(key, b"changed") {
                return wasi_kv_error(e);
            }
            Bytes::from_static(b"mine")
        }
    };
    match atomics::swap(cas, &value) {
        Ok(()) => reply(200, "swapped"),
        Err(atomics::CasError::CasFailed(_)) => reply(409, "cas-failed"),
        Err(atomics::CasError::StoreError(e)) => wasi_kv_error(e),
    }
}

/// A streamed answer: `first` is written at once, and the stream stays open for two
/// minutes before `late` ends it, so a client sees the first chunk only if the host
/// passes a stream on as it is written.
/// A body that starts with `first` and goes on only after 120 s, or that breaks off
/// with a trap (`then_trap`) once `first` has had time to reach the client.
fn stream(first: String, then_trap: bool) -> Reply {
    let (mut chunks, body) = spin_sdk::http::body::stream::<String>();
    spin_sdk::wasip3::spawn(async move {
        let _ = chunks.try_send(first);
        if then_trap {
            spin_sdk::time::sleep(Duration::from_millis(200)).await;
            panic!("probe asked to trap mid-stream");
        }
        spin_sdk::time::sleep(Duration::from_secs(120)).await;
        let _ = chunks.try_send("late".to_string());
    });
    Reply::new(box_body(body))
}

fn bytes(n: usize) -> Reply {
    let (mut chunks, body) = spin_sdk::http::body::stream::<Vec<u8>>();
    spin_sdk::wasip3::spawn(async move {
        let mut left = n;
        while left > 0 {
            let len = left.min(16 * 1024);
            if chunks.send(vec![b'x'; len]).await.is_err() {
                break;
            }
            left -= len;
        }
    });
    Reply::new(box_body(body))
}

/// A GET of `url` with these `request-options` timeouts in ms (connect, first byte,
/// between bytes), each the host's default when `None`.
async fn outbound(url: &str, [connect, first_byte, between_bytes]: [Option<u64>; 3]) -> Reply {
    use spin_sdk::wasip3::http::types::RequestOptions;
    use spin_sdk::wasip3::http_compat::RequestOptionsExtension;
    let options = RequestOptions::new();
    let ns = |ms: Option<u64>| ms.map(|ms| ms * 1_000_000);
    let set = [
        options.set_connect_timeout(ns(connect)),
        options.set_first_byte_timeout(ns(first_byte)),
        options.set_between_bytes_timeout(ns(between_bytes)),
    ];
    if set.iter().any(Result::is_err) {
        return reply(500, "request-options refused a timeout");
    }
    let request = Request::<()>::builder()
        .uri(url)
        .extension(RequestOptionsExtension(options))
        .body(FullBody::new(Bytes::new()));
    let Ok(request) = request else {
        return reply(400, "invalid url");
    };
    match spin_sdk::http::send(request).await {
        Ok(upstream) => {
            let status = upstream.status().as_u16();
            let body = match upstream.into_body().bytes().await {
                Ok(body) => body,
                Err(e) => return reply(502, format!("{e:?}")),
            };
            let mut resp = reply(200, body);
            resp.headers_mut()
                .insert("x-upstream-status", status.to_string().parse().unwrap());
            resp
        }
        Err(e) => reply(502, format!("{e:?}")),
    }
}

fn kv_error(e: key_value::Error) -> Reply {
    match e {
        key_value::Error::AccessDenied => reply(403, "access-denied"),
        key_value::Error::NoSuchStore => reply(404, "no-such-store"),
        e => reply(500, format!("{e:?}")),
    }
}

fn wasi_kv_error(e: wasi_kv::Error) -> Reply {
    match e {
        wasi_kv::Error::AccessDenied => reply(403, "access-denied"),
        wasi_kv::Error::NoSuchStore => reply(404, "no-such-store"),
        e => reply(500, format!("{e:?}")),
    }
}

/// The whole request body; a body that fails to arrive reads as empty (as a careless
/// component would take it).
async fn body(req: Request) -> Bytes {
    req.into_body().bytes().await.unwrap_or_default()
}

/// The whole request body, for a value to store; one that fails to arrive is refused
/// with 400 `unreadable-body` and nothing is written, as the app's components do.
async fn written_body(req: Request) -> Result<Bytes, Reply> {
    req.into_body()
        .bytes()
        .await
        .map_err(|_| reply(400, "unreadable-body"))
}

fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut resp = Reply::new(box_body(FullBody::new(body.into())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp
}

fn json(value: serde_json::Value) -> Reply {
    let mut resp = reply(200, value.to_string());
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            (decode(k), decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
