//! The Redis key-value backend: several `waypost` instances in one region sharing one
//! store through the runtime config, and what happens when Redis goes away and comes
//! back. Runs a real `redis-server` (Debian package, installed by `.ci/run`).

use waypost_tests::{Host, HostOptions, RedisServer, client, start_fixture};

fn start_on(redis: &RedisServer, dir: &std::path::Path) -> Host {
    let config = redis.runtime_config(dir);
    start_fixture(HostOptions {
        args: vec!["--runtime-config-file".into(), config.display().to_string()],
        ..Default::default()
    })
    .expect("the host starts")
}

async fn incr(host: &Host, key: &str) -> (u16, String) {
    let r = client()
        .get(host.url(&format!("/kv/incr?store=default&key={key}")))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_exact_counters_values_and_compare_and_swap() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (start_on(&redis, dir.path()), start_on(&redis, dir.path()));

    let mut calls = Vec::new();
    for i in 0..200 {
        let host = if i % 2 == 0 { &a } else { &b };
        calls.push(incr(host, "shared"));
    }
    let results = futures::future::join_all(calls).await;
    let mut seen: Vec<i64> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body.parse().unwrap()
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        (1..=200).collect::<Vec<_>>(),
        "every increment counted once"
    );

    // A value written by one instance is read by the other.
    let put = client()
        .post(a.url("/kv/set?store=default&key=greeting"))
        .body("hello from a")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let got = client()
        .get(b.url("/kv/get?store=default&key=greeting"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.text().await.unwrap(), "hello from a");

    // A compare-and-swap whose key changed after it was read fails, on either instance.
    for (host, key) in [(&a, "contended-a"), (&b, "contended-b")] {
        let r = client()
            .get(host.url(&format!("/kv/cas-conflict?store=default&key={key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
    }
    let r = client()
        .post(b.url("/kv/cas?store=default&key=contended-a"))
        .body("swapped by b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_is_a_clear_error_and_service_resumes_when_it_is_back() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let host = start_on(&redis, dir.path());
    assert_eq!(incr(&host, "k").await, (200, "1".into()));

    redis.stop();
    let (status, body) = incr(&host, "k").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("redis: unreachable"), "{body}");
    assert!(!body.contains("127.0.0.1"), "no connection details: {body}");
    let health = client().get(host.url("/")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "requests that need no store still work"
    );

    redis.restart();
    // A fresh server (no persistence): the counter starts over, without a host restart.
    assert_eq!(incr(&host, "k").await, (200, "1".into()));
}
