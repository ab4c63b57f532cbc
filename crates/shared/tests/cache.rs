//! The public-read cache against a real Redis (`REDIS_URL`, default 127.0.0.1:6379).

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use skillreel_shared::{
    cache::{Namespace, PublicCache},
    config::CacheConfig,
};

/// A cache under a fresh key prefix (no entry of an earlier run can answer), and the
/// cleanup that deletes its keys at the end.
async fn cache() -> (PublicCache, Cleanup) {
    cache_with(Duration::from_secs(1), Duration::from_secs(30)).await
}

/// [`cache`] with the given local and Redis lifetimes.
async fn cache_with(local_ttl: Duration, redis_ttl: Duration) -> (PublicCache, Cleanup) {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url).expect("REDIS_URL");
    let conn = redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis must be reachable for this test");
    let prefix = format!("cachetest-{}", uuid::Uuid::new_v4());
    let cache = PublicCache::new(
        conn.clone(),
        &prefix,
        CacheConfig {
            local_ttl,
            redis_ttl,
            stale_ttl: Duration::from_secs(60),
            stale_after: Duration::from_millis(300),
        },
    );
    (cache, Cleanup { conn, prefix })
}

struct Cleanup {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl Cleanup {
    async fn run(mut self) {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut self.conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut self.conn)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn concurrent_misses_of_one_key_load_once() {
    let (cache, cleanup) = cache().await;
    let loads = Arc::new(AtomicUsize::new(0));
    let requests = (0..32).map(|_| {
        let (cache, loads) = (cache.clone(), Arc::clone(&loads));
        tokio::spawn(async move {
            cache
                .get_or_load(Namespace::Rankings, "page=1", || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, Infallible>(Bytes::from_static(b"ranking"))
                })
                .await
        })
    });
    for r in futures::future::join_all(requests).await {
        assert_eq!(r.unwrap().unwrap().value, Bytes::from_static(b"ranking"));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    cleanup.run().await;
}

#[tokio::test]
async fn different_keys_and_invalidation_load_again() {
    let (cache, cleanup) = cache().await;
    let loads = Arc::new(AtomicUsize::new(0));
    let get = |key: &'static str| {
        let (cache, loads) = (cache.clone(), Arc::clone(&loads));
        async move {
            cache
                .get_or_load(Namespace::Rankings, key, || async move {
                    let n = loads.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(Bytes::from(format!("{key}#{n}")))
                })
                .await
                .unwrap()
                .value
        }
    };
    assert_eq!(get("a").await, "a#0");
    assert_eq!(get("b").await, "b#1");
    assert_eq!(get("a").await, "a#0", "a hit");
    cache.invalidate(Namespace::Rankings).await;
    assert_eq!(
        get("a").await,
        "a#2",
        "a vote makes the next read load again"
    );
    // Another namespace is untouched by that invalidation.
    let other = cache
        .get_or_load(Namespace::PublicVideos, "a", || async {
            Ok::<_, Infallible>(Bytes::from_static(b"videos"))
        })
        .await
        .unwrap()
        .value;
    assert_eq!(other, "videos");
    cleanup.run().await;
}

#[tokio::test]
async fn a_failing_or_slow_load_serves_the_last_good_answer() {
    // Entries expire at once in both levels, so every read goes to `load`.
    let (cache, cleanup) = cache_with(Duration::from_millis(100), Duration::from_secs(1)).await;
    let load = |outcome: Result<&'static str, &'static str>, delay: Duration| {
        let cache = cache.clone();
        async move {
            cache
                .get_or_load(Namespace::Rankings, "page=1", || async move {
                    tokio::time::sleep(delay).await;
                    outcome.map(|v: &'static str| Bytes::from_static(v.as_bytes()))
                })
                .await
        }
    };
    let instant = Duration::ZERO;
    // A cold key has nothing to fall back on: the error is the caller's.
    assert_eq!(
        load(Err("database down"), instant).await,
        Err("database down")
    );

    let good = load(Ok("good"), instant).await.unwrap();
    assert_eq!(
        (good.value.as_ref(), good.stale),
        (b"good".as_slice(), false)
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let failed = load(Err("database down"), instant).await.unwrap();
    assert_eq!(
        (failed.value.as_ref(), failed.stale),
        (b"good".as_slice(), true)
    );

    // Slower than `stale_after`: the last good answer, without waiting for the load.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = std::time::Instant::now();
    let slow = load(Ok("late"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (slow.value.as_ref(), slow.stale),
        (b"good".as_slice(), true)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Once loads succeed again, answers are fresh and become the new last good one.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let back = load(Ok("newer"), instant).await.unwrap();
    assert_eq!(
        (back.value.as_ref(), back.stale),
        (b"newer".as_slice(), false)
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let failed = load(Err("database down"), instant).await.unwrap();
    assert_eq!(
        (failed.value.as_ref(), failed.stale),
        (b"newer".as_slice(), true)
    );
    cleanup.run().await;
}

#[tokio::test]
async fn a_database_slower_than_stale_after_still_refreshes_the_answer() {
    // Every load of this test takes longer than `stale_after` (300 ms).
    let (cache, cleanup) = cache_with(Duration::from_millis(100), Duration::from_secs(30)).await;
    let loads = Arc::new(AtomicUsize::new(0));
    let get = |value: &'static str, delay: Duration| {
        let (cache, loads) = (cache.clone(), Arc::clone(&loads));
        async move {
            cache
                .get_or_load(Namespace::Rankings, "page=1", || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    Ok::<_, Infallible>(Bytes::from_static(value.as_bytes()))
                })
                .await
                .unwrap()
        }
    };
    let first = get("before the vote", Duration::ZERO).await;
    assert!(!first.stale);
    // A vote: the answer must change, and the database now takes 600 ms a query.
    cache.invalidate(Namespace::Rankings).await;
    let slow = Duration::from_millis(600);
    let during = get("after the vote", slow).await;
    assert_eq!(
        (during.value.as_ref(), during.stale),
        (b"before the vote".as_slice(), true),
        "the load is too slow: the last good answer meanwhile"
    );
    // The slow load went on in the background; once it is done (and the local entry
    // has expired) the new answer is served, though every load is still slow.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let after = get("never loaded: a Redis hit answers", slow).await;
    assert_eq!(
        (after.value.as_ref(), after.stale),
        (b"after the vote".as_slice(), false),
        "a slow database must not keep the old answer for ever"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 2, "the Redis hit ran no load");
    cleanup.run().await;
}
