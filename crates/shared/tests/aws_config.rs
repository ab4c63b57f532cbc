//! `CONFIG_SOURCE=aws` against a real AWS emulator (moto) speaking the Secrets Manager
//! and SSM protocols.
//!
//! Needs `AWS_ENDPOINT_URL` (e.g. `http://127.0.0.1:5055` from `scripts/moto.sh`),
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` in the environment, and
//! PostgreSQL on 127.0.0.1:5432 for the happy path. Every test works under its own secret
//! names and SSM prefix and hands its settings to the loader through a `Source` closure,
//! so the tests run in parallel without touching the process environment.

use std::{
    collections::HashMap,
    io::Write,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use aws_config::BehaviorVersion;
use aws_sdk_ssm::types::ParameterType;
use secrecy::ExposeSecret;
use skillreel_shared::{
    config::{Config, ConfigError, StorageBackend, aws},
    testing::{servers::PrivatePostgres, tls::TestCa},
};
use sqlx::Connection;

/// Secret names, SSM prefix and SDK clients owned by one test.
struct Fixture {
    id: String,
    secrets: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
}

impl Fixture {
    async fn new() -> Self {
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(
                std::env::var(var).is_ok_and(|v| !v.is_empty()),
                "{var} is not set: these tests need an AWS emulator. Start one with \
                 scripts/moto.sh and export AWS_ENDPOINT_URL=http://127.0.0.1:5055 \
                 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
            );
        }
        // aws-config reads the endpoint and the credentials from the environment.
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
        }
    }

    fn db_secret_id(&self) -> String {
        format!("skillreel-test-{}/database", self.id)
    }

    fn jwt_secret_id(&self) -> String {
        format!("skillreel-test-{}/jwt", self.id)
    }

    fn prefix(&self) -> String {
        format!("/skillreel-test-{}/", self.id)
    }

    async fn put_secret(&self, id: &str, value: &str) {
        self.secrets
            .create_secret()
            .name(id)
            .secret_string(value)
            .send()
            .await
            .expect("create secret");
    }

    async fn put_parameter(&self, suffix: &str, value: &str, kind: ParameterType) {
        self.ssm
            .put_parameter()
            .name(format!("{}{suffix}", self.prefix()))
            .value(value)
            .r#type(kind)
            .send()
            .await
            .expect("put parameter");
    }

    /// A working database secret, JWT secret and the two required parameters.
    async fn put_minimal(&self) {
        self.put_secret(
            &self.db_secret_id(),
            r#"{"username":"postgres","password":"pw","host":"127.0.0.1","port":5432,"dbname":"postgres"}"#,
        )
        .await;
        self.put_secret(&self.jwt_secret_id(), &"j".repeat(40))
            .await;
        self.put_parameter(
            "redis_url",
            "rediss://127.0.0.1:6379",
            ParameterType::String,
        )
        .await;
        self.put_parameter("s3_bucket", "bucket", ParameterType::String)
            .await;
    }

    /// This test's loader settings plus `extra`, over the process environment.
    fn source(&self, extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let mut values: HashMap<String, String> = HashMap::from([
            ("AWS_DB_SECRET_ID".to_owned(), self.db_secret_id()),
            ("AWS_JWT_SECRET_ID".to_owned(), self.jwt_secret_id()),
            ("AWS_SSM_PREFIX".to_owned(), self.prefix()),
        ]);
        values.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        move |name: &str| {
            values
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok().filter(|v| !v.is_empty()))
        }
    }
}

/// One process-wide capture. A thread-local subscriber (`set_default`) races with the
/// other tests of this binary over tracing's cached callsite interest and can miss
/// events; a global one sees every event, and each test looks for its own unique ids.
fn global_logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        logs
    })
    .clone()
}

/// Collects formatted log output so a test can check what reached the logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn loads_secrets_and_parameters_over_the_environment() {
    let fx = Fixture::new().await;
    // A database that speaks only TLS, as RDS does with rds.force_ssl=1.
    let ca = TestCa::new("rds");
    let pg = PrivatePostgres::start_tls(&ca);
    let password = format!("pw {}@/:%?", fx.id);
    let jwt = format!("jwt-{}-{}", fx.id, fx.id);
    let redis_url = format!("rediss://:token{}@127.0.0.1:6379/0", fx.id);
    let db = serde_json::json!({
        "username": "postgres", "password": password, "host": "127.0.0.1",
        "port": pg.port(), "dbname": "postgres", "engine": "postgres",
    });
    fx.put_secret(&fx.db_secret_id(), &db.to_string()).await;
    fx.put_secret(
        &fx.jwt_secret_id(),
        &serde_json::json!({ "jwt_secret": jwt }).to_string(),
    )
    .await;
    fx.put_parameter("redis_url", &redis_url, ParameterType::SecureString)
        .await;
    // More than one page of GetParametersByPath (moto and AWS return at most 10), nested
    // paths, a hyphenated name: all of them must arrive.
    let parameters = [
        ("s3_bucket", format!("bucket-{}", fx.id)),
        ("limits/upload_max_bytes", "5242880".to_owned()),
        ("limits/upload_min_duration_secs", "15".to_owned()),
        ("limits/upload_max_duration_secs", "45".to_owned()),
        ("limits/upload_min_short_side", "720".to_owned()),
        ("presign-expiry-secs", "120".to_owned()),
        ("worker/worker_concurrency", "3".to_owned()),
        ("worker/worker_max_attempts", "5".to_owned()),
        ("worker/worker_backoff_secs", "2".to_owned()),
        ("redis_prefix", format!("sr-{}", fx.id)),
        ("jwt_ttl_secs", "900".to_owned()),
        ("media_max_secs", "25".to_owned()),
    ];
    for (name, value) in &parameters {
        fx.put_parameter(name, value, ParameterType::String).await;
    }

    let logs = global_logs();
    // S3_BUCKET set in the environment too: the SSM value must win; PORT comes from env only.
    // The CA bundle's path is the instance's business: the environment sets it.
    let root_cert = ca.cert.display().to_string();
    let source = fx.source(&[
        ("S3_BUCKET", "env-bucket"),
        ("PORT", "9123"),
        ("DATABASE_SSLROOTCERT", &root_cert),
    ]);
    let config: Config = aws::load(&source).await.expect("load from AWS");

    // verify-full unless told otherwise.
    let expected_url = format!(
        "postgres://postgres:pw%20{}%40%2F%3A%25%3F@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        fx.id,
        pg.port(),
        root_cert.replace('/', "%2F")
    );
    assert_eq!(config.database.url.expose_secret(), expected_url);
    assert_eq!(config.auth.jwt_secret.expose_secret(), jwt);
    assert_eq!(
        config.redis.url.expose_secret(),
        redis_url,
        "SecureString decrypted"
    );
    assert_eq!(config.storage.bucket, format!("bucket-{}", fx.id));
    assert_eq!(config.storage.backend, StorageBackend::S3);
    assert_eq!(config.storage.region, "us-east-1");
    assert_eq!(config.storage.presign_expiry, Duration::from_secs(120));
    assert_eq!(config.http.port, 9123);
    assert_eq!(config.upload.max_bytes, 5_242_880);
    assert_eq!(config.upload.min_duration_secs, 15.0);
    assert_eq!(config.upload.max_duration_secs, 45.0);
    assert_eq!(config.upload.min_short_side, 720);
    assert_eq!(config.worker.concurrency, 3);
    assert_eq!(config.worker.max_attempts, 5);
    assert_eq!(config.worker.backoff, Duration::from_secs(2));
    assert_eq!(config.redis.prefix, format!("sr-{}", fx.id));
    assert_eq!(config.auth.token_ttl, Duration::from_secs(900));
    assert_eq!(config.media.max_output_secs, 25.0);

    let debug = format!("{config:?}");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains(&fx.db_secret_id()) && logged.contains("S3_BUCKET"),
        "names are logged: {logged}"
    );
    for secret in [
        password.as_str(),
        jwt.as_str(),
        &format!("token{}", fx.id),
        &expected_url,
    ] {
        assert!(
            !debug.contains(secret),
            "Debug output leaks a secret: {debug}"
        );
        assert!(!logged.contains(secret), "logs leak a secret: {logged}");
    }

    // The URL built from the secret really reaches PostgreSQL, verified (trust auth).
    skillreel_shared::tls::install_crypto_provider();
    let mut conn = sqlx::PgConnection::connect(config.database.url.expose_secret())
        .await
        .expect("connect");
    let (user, ssl): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((user.as_str(), ssl), ("postgres", true));
}

#[tokio::test]
async fn plaintext_backends_are_refused_unless_allowed() {
    let fx = Fixture::new().await;
    fx.put_minimal().await;
    for mode in ["disable", "allow", "prefer"] {
        let err = aws::load(&fx.source(&[("DATABASE_SSLMODE", mode)]))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DATABASE_SSLMODE") && err.contains("ALLOW_PLAINTEXT_BACKENDS"),
            "{err}"
        );
    }
    let config = aws::load(&fx.source(&[("DATABASE_SSLMODE", "require")]))
        .await
        .expect("require encrypts");
    assert!(
        config
            .database
            .url
            .expose_secret()
            .ends_with("?sslmode=require")
    );

    fx.ssm
        .put_parameter()
        .name(format!("{}redis_url", fx.prefix()))
        .value("redis://127.0.0.1:6379")
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let err = aws::load(&fx.source(&[])).await.unwrap_err().to_string();
    assert!(
        err.contains("REDIS_URL") && err.contains("rediss://"),
        "{err}"
    );
    let config = aws::load(&fx.source(&[
        ("ALLOW_PLAINTEXT_BACKENDS", "true"),
        ("DATABASE_SSLMODE", "disable"),
    ]))
    .await
    .expect("the explicit opt-out");
    assert_eq!(config.redis.url.expose_secret(), "redis://127.0.0.1:6379");
}

#[tokio::test]
async fn explicit_storage_backend_is_kept() {
    let fx = Fixture::new().await;
    fx.put_minimal().await;
    fx.put_parameter("storage_backend", "local", ParameterType::String)
        .await;
    let config = aws::load(&fx.source(&[])).await.expect("load");
    assert_eq!(config.storage.backend, StorageBackend::Local);
}

#[tokio::test]
async fn missing_secret_is_named() {
    let fx = Fixture::new().await;
    fx.put_secret(&fx.jwt_secret_id(), &"j".repeat(40)).await;
    fx.put_parameter("redis_url", "redis://127.0.0.1:6379", ParameterType::String)
        .await;
    fx.put_parameter("s3_bucket", "bucket", ParameterType::String)
        .await;
    match aws::load(&fx.source(&[])).await.unwrap_err() {
        ConfigError::Secret { name, reason } => {
            assert_eq!(name, fx.db_secret_id());
            assert!(reason.contains("not found"), "{reason}");
        }
        other => panic!("expected a secret error, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_secret_names_the_secret_and_the_field() {
    let fx = Fixture::new().await;
    fx.put_secret(
        &fx.db_secret_id(),
        r#"{"username":"postgres","host":"127.0.0.1","dbname":"postgres"}"#,
    )
    .await;
    fx.put_secret(
        &fx.jwt_secret_id(),
        r#"{"key":"not the expected field name at all"}"#,
    )
    .await;
    fx.put_parameter("redis_url", "redis://127.0.0.1:6379", ParameterType::String)
        .await;
    fx.put_parameter("s3_bucket", "bucket", ParameterType::String)
        .await;
    let err = aws::load(&fx.source(&[])).await.unwrap_err();
    let message = err.to_string();
    match err {
        ConfigError::Secret { name, reason } => {
            assert_eq!(name, fx.db_secret_id());
            assert!(reason.contains("`password` is missing"), "{reason}");
        }
        other => panic!("expected a secret error, got {other:?}"),
    }
    assert!(
        message.contains(&fx.db_secret_id()) && message.contains("password"),
        "{message}"
    );

    // With the database secret fixed, the JWT secret's missing field is reported.
    fx.secrets
        .put_secret_value()
        .secret_id(fx.db_secret_id())
        .secret_string(r#"{"username":"u","password":"p","host":"h","dbname":"d"}"#)
        .send()
        .await
        .unwrap();
    let message = aws::load(&fx.source(&[])).await.unwrap_err().to_string();
    assert!(
        message.contains(&fx.jwt_secret_id()) && message.contains("`jwt_secret` is missing"),
        "{message}"
    );
}

#[tokio::test]
async fn missing_required_parameter_is_named() {
    let fx = Fixture::new().await;
    fx.put_secret(
        &fx.db_secret_id(),
        r#"{"username":"u","password":"p","host":"h","port":"5432","dbname":"d"}"#,
    )
    .await;
    fx.put_secret(&fx.jwt_secret_id(), &"j".repeat(40)).await;
    fx.put_parameter("redis_url", "redis://127.0.0.1:6379", ParameterType::String)
        .await;
    match aws::load(&fx.source(&[])).await.unwrap_err() {
        ConfigError::Parameter { name, reason } => {
            assert_eq!(name, format!("{}s3_bucket", fx.prefix()));
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected a parameter error, got {other:?}"),
    }
}

#[tokio::test]
async fn two_parameters_for_one_variable_are_rejected() {
    let fx = Fixture::new().await;
    fx.put_minimal().await;
    fx.put_parameter("web/port", "8000", ParameterType::String)
        .await;
    fx.put_parameter("worker/port", "8001", ParameterType::String)
        .await;
    match aws::load(&fx.source(&[])).await.unwrap_err() {
        ConfigError::Parameter { name, reason } => {
            assert!(name.ends_with("/port"), "{name}");
            assert!(reason.contains("PORT"), "{reason}");
        }
        other => panic!("expected a parameter error, got {other:?}"),
    }
}

#[tokio::test]
async fn closed_port_fails_fast_and_loudly() {
    // Bind then drop: the port is free and nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fx = Fixture::new().await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let err = aws::load(&fx.source(&[("AWS_ENDPOINT_URL", &endpoint)]))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    let message = err.to_string();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(
        message.contains(&format!("cannot reach {endpoint}")) && message.contains("3 attempts"),
        "{message}"
    );
    assert!(
        matches!(
            err,
            ConfigError::Secret { .. } | ConfigError::Parameter { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn hanging_endpoint_is_retried_within_the_budget() {
    // Accepts connections and never answers, like a security group that lets SYN through
    // to a dead proxy. Every accepted connection is kept open and counted.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let fx = Fixture::new().await;
    let started = Instant::now();
    let err = aws::load(&fx.source(&[("AWS_ENDPOINT_URL", &endpoint)]))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    server.abort();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(
        err.to_string()
            .contains(&format!("cannot reach {endpoint}")),
        "{err}"
    );
    // Three calls run concurrently; more connections than calls means attempts were retried.
    let connections = accepted.load(Ordering::SeqCst);
    assert!(
        connections > 3,
        "only {connections} connections: no retry happened"
    );
}
