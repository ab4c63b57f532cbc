//! TLS to real PostgreSQL and Redis servers of the test's own, with certificates from a
//! CA the test makes: the services' own connect functions talk TLS and verify the
//! server, and refuse a server whose certificate another CA issued, a plaintext
//! connection, and every way of skipping verification.

use std::path::Path;

use skillreel_shared::{
    config::{DatabaseConfig, RedisConfig},
    db, queue,
    testing::{
        servers::{PrivatePostgres, PrivateRedis},
        tls::TestCa,
    },
};

fn database(url: String) -> DatabaseConfig {
    DatabaseConfig {
        url: url.into(),
        max_connections: 2,
    }
}

#[tokio::test]
async fn postgres_over_verified_tls_and_never_to_a_stranger() {
    let ca = TestCa::new("ours");
    let rogue = TestCa::new("rogue");
    let pg = PrivatePostgres::start_tls(&ca);
    let url = |mode: &str, root: &Path| {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode={mode}&sslrootcert={}",
            pg.port(),
            root.display()
        )
    };

    let pool = db::connect(&database(url("verify-full", &ca.cert)))
        .await
        .expect("verify-full against our CA");
    let (ssl, version): (bool, String) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(ssl, "the connection is not encrypted");
    assert!(version.starts_with("TLSv1."), "{version}");
    db::migrate(&pool).await.expect("migrations over TLS");

    for mode in ["verify-full", "verify-ca"] {
        let err = db::connect(&database(url(mode, &rogue.cert)))
            .await
            .expect_err("a certificate from another CA must be refused");
        // rustls' verdict, surfaced by sqlx as an I/O error of the handshake.
        assert!(err.to_string().contains("UnknownIssuer"), "{mode}: {err}");
    }
    // The server takes no plaintext, as RDS with rds.force_ssl=1.
    let plain = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port()
    );
    let err = db::connect(&database(plain)).await.unwrap_err();
    assert!(err.to_string().contains("no encryption"), "{err}");
}

fn redis(url: String, ca_file: Option<&Path>) -> RedisConfig {
    RedisConfig {
        url: url.into(),
        ca_file: ca_file.map(Into::into),
        prefix: "tls-test".to_owned(),
    }
}

#[tokio::test]
async fn redis_over_verified_tls_and_never_to_a_stranger() {
    let ca = TestCa::new("ours");
    let rogue = TestCa::new("rogue");
    let server = PrivateRedis::start_tls(&ca, "s3cret-auth-token");
    let url = server.url();
    assert!(url.starts_with("rediss://"), "{url}");

    let mut conn = queue::connect(&redis(url.clone(), Some(&ca.cert)))
        .await
        .expect("rediss:// against our CA");
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
    // The job queue works over it too.
    let queue = queue::JobQueue::new(conn, &redis(url.clone(), Some(&ca.cert)));
    queue.ping().await.expect("the queue over TLS");

    let refused = [
        ("another CA", url.clone(), Some(rogue.cert.as_path())),
        ("the system's roots", url.clone(), None),
        ("#insecure", format!("{url}/#insecure"), None),
        ("plaintext", url.replace("rediss://", "redis://"), None),
        (
            "a wrong password",
            url.replace("s3cret-auth-token", "guess"),
            Some(ca.cert.as_path()),
        ),
    ];
    for (what, url, ca_file) in refused {
        let connected = queue::connect(&redis(url, ca_file)).await;
        assert!(connected.is_err(), "{what}: connected anyway");
    }
}
