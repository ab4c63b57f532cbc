//! `TestApp`: the real web service on port 0 over a per-test PostgreSQL database
//! (from `#[sqlx::test]`), the real Redis under a per-test key prefix, and a
//! temporary local storage directory.

use std::{path::PathBuf, process::Stdio, time::Duration};

use reqwest::{Client, Response, StatusCode, multipart};
use serde_json::{Value, json};
use skillreel_shared::config::{Config, StorageBackend};
use skillreel_web::AppState;
use sqlx::PgPool;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Child,
};
use uuid::Uuid;

pub use skillreel_shared::testing::test_secret;

/// Base configuration for tests: every setting from the environment, then
/// per-test isolation.
pub fn test_config(storage_dir: &std::path::Path) -> Config {
    let mut config = Config::from_source(&skillreel_shared::testing::env_with_test_secret)
        .expect("test configuration");
    config.redis.prefix = format!("skillreel-test-{}", Uuid::new_v4().simple());
    config.auth.bcrypt_cost = 4;
    // Suites create many players from one address; `limits.rs` tests the limits.
    let plenty = skillreel_shared::config::limits::Rate::new(100_000, Duration::from_secs(60));
    config.limits.signup = plenty;
    config.limits.login = plenty;
    config.limits.global = plenty;
    config.limits.hashes_per_client = 1_000;
    config.storage.backend = StorageBackend::Local;
    config.storage.local_dir = storage_dir.join("store");
    config.media.temp_dir = storage_dir.join("tmp");
    std::fs::create_dir_all(&config.media.temp_dir).unwrap();
    config.media.assets_dir = storage_dir.join("assets");
    config.organizers = skillreel_shared::config::OrganizersConfig::new([ORGANIZER_EMAIL]);
    config
}

/// The e-mail `test_config` names in `ADMIN_EMAILS` (in another case, on purpose).
pub const ORGANIZER_EMAIL: &str = "Organizer@Example.com";

/// Directory where generated test clips are cached between runs.
pub fn clip_cache() -> PathBuf {
    skillreel_shared::media::testclip::cache_dir().expect("creating the clip cache")
}

/// A running web service.
pub struct TestApp {
    pub base: String,
    /// Origin of the private metrics listener.
    pub metrics_base: String,
    pub client: Client,
    pub state: AppState,
    pub _dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the service with the default test configuration.
    pub async fn spawn(db: PgPool) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// Starts the service after `adjust` has changed the configuration.
    pub async fn spawn_with(db: PgPool, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let state = AppState::with_pool(config, db).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let served = state.clone();
        tokio::spawn(async move {
            skillreel_web::serve(listener, served, std::future::pending())
                .await
                .unwrap();
        });
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_base = format!("http://{}", metrics.local_addr().unwrap());
        let metrics_app = skillreel_web::metrics_app(state.clone());
        tokio::spawn(async move { axum::serve(metrics, metrics_app).await.unwrap() });
        Self {
            base,
            metrics_base,
            client: Client::new(),
            state,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: &str) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Signs a player up; returns its id.
    pub async fn signup(&self, first: &str, last: &str, email: &str, city: &str) -> i64 {
        let r = self
            .post_json(
                "/api/auth/signup",
                &json!({"first_name": first, "last_name": last, "email": email, "city": city,
                        "country": "Colombia", "password1": "s3cret-pass", "password2": "s3cret-pass"}),
                None,
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// Logs in; returns the token.
    pub async fn login(&self, email: &str) -> String {
        let r = self
            .post_json(
                "/api/auth/login",
                &json!({"email": email, "password": "s3cret-pass"}),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs up and logs in a player; returns (id, token).
    pub async fn player(&self, first: &str, city: &str) -> (i64, String) {
        let email = format!(
            "{}-{}@example.com",
            first.to_lowercase(),
            Uuid::new_v4().simple()
        );
        let id = self.signup(first, "Tester", &email, city).await;
        (id, self.login(&email).await)
    }

    /// Signs up and logs in the organizer of `test_config` (as `organizer@example.com`:
    /// the role ignores case); returns (id, token).
    pub async fn organizer(&self) -> (i64, String) {
        let email = ORGANIZER_EMAIL.to_lowercase();
        let id = self.signup("Olga", "Organizer", &email, "Bogotá").await;
        (id, self.login(&email).await)
    }

    /// Uploads `bytes` as `video_file` with `title`.
    pub async fn upload_bytes(&self, token: &str, bytes: Vec<u8>, title: Option<&str>) -> Response {
        let mut form = multipart::Form::new().part(
            "video_file",
            multipart::Part::bytes(bytes)
                .file_name("clip.mp4")
                .mime_str("video/mp4")
                .unwrap(),
        );
        if let Some(t) = title {
            form = form.text("title", t.to_owned());
        }
        self.client
            .post(self.url("/api/videos/upload"))
            .bearer_auth(token)
            .multipart(form)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap()
    }

    /// Rows in `videos`.
    pub async fn video_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM videos")
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }

    /// Objects in storage under `prefix`.
    pub async fn objects(&self, prefix: &str) -> usize {
        self.state.storage.list(prefix).await.unwrap().len()
    }

    /// Jobs waiting in the queue.
    pub async fn queued(&self) -> u64 {
        self.state.queue.depth().await.unwrap()
    }
}

/// Reads the child's JSON log until each of `messages` appeared; returns their `addr`s.
pub async fn logged_addrs<const N: usize>(child: &mut Child, messages: [&str; N]) -> [String; N] {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while found.iter().any(Option::is_none) {
            let Some(line) = lines.next_line().await.unwrap() else {
                return;
            };
            if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(i) = messages.iter().position(|m| record["message"] == *m)
            {
                found[i] = record["addr"].as_str().map(str::to_owned);
            }
            seen.push(line);
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "timed out; the web printed:\n{}",
        seen.join("\n")
    );
    // Keep reading, so the child never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    found.map(|addr| addr.unwrap_or_else(|| panic!("the web printed:\n{}", seen.join("\n"))))
}

/// The `skillreel-web` binary of this build.
pub const WEB: &str = env!("CARGO_BIN_EXE_skillreel-web");

/// The real web binary in its own process (so its memory can be measured), on the
/// per-test database, the real Redis under a per-test prefix and a temporary directory.
/// Killed on drop.
pub struct WebProcess {
    pub child: Child,
    /// `host:port` of its public listener.
    pub addr: String,
    /// `host:port` of its metrics listener, when `extra` turned it on.
    pub metrics_addr: Option<String>,
    _dir: tempfile::TempDir,
}

impl WebProcess {
    /// Starts it with `extra` variables over the test defaults; waits until it listens.
    pub async fn spawn(db: &PgPool, extra: &[(&str, &str)]) -> Self {
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(db)
            .await
            .unwrap();
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let (server, _) = base.rsplit_once('/').unwrap();
        let database_url = format!("{server}/{name}");
        let redis_url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("skillreel-test-{}", Uuid::new_v4().simple());
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("store").display().to_string();
        let temp = dir.path().join("tmp");
        std::fs::create_dir_all(&temp).unwrap();
        let temp = temp.display().to_string();
        let mut vars = vec![
            ("JWT_SECRET", test_secret()),
            ("DATABASE_URL", &database_url),
            ("REDIS_URL", &redis_url),
            ("REDIS_PREFIX", &prefix),
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("WEB_METRICS_ADDR", "off"),
            ("STORAGE_DIR", &storage),
            ("TEMP_DIR", &temp),
            ("BCRYPT_COST", "4"),
            ("LOG_FORMAT", "json"),
        ];
        vars.extend_from_slice(extra);
        let metrics_on = vars
            .iter()
            .rev()
            .find(|(name, _)| *name == "WEB_METRICS_ADDR")
            .is_some_and(|(_, value)| *value != "off");
        let mut child = skillreel_shared::testing::bare_command(WEB, dir.path(), &vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (addr, metrics_addr) = if metrics_on {
            let [metrics, addr] =
                logged_addrs(&mut child, ["serving /metrics", "skillreel-web listening"]).await;
            (addr, Some(metrics))
        } else {
            let [addr] = logged_addrs(&mut child, ["skillreel-web listening"]).await;
            (addr, None)
        };
        Self {
            child,
            addr,
            metrics_addr,
            _dir: dir,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the web process is running")
    }

    /// Signs a new player up and logs them in; returns the token.
    pub async fn player_token(&self) -> String {
        let client = Client::new();
        let email = format!("p-{}@example.com", Uuid::new_v4().simple());
        let url = |path: &str| format!("http://{}{path}", self.addr);
        let r = client
            .post(url("/api/auth/signup"))
            .json(
                &json!({"first_name": "Pat", "last_name": "Tester", "email": email,
                          "city": "Cali", "country": "Colombia",
                          "password1": "s3cret-pass", "password2": "s3cret-pass"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = client
            .post(url("/api/auth/login"))
            .json(&json!({"email": email, "password": "s3cret-pass"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        body(r).await["access_token"].as_str().unwrap().to_owned()
    }
}

/// Reads a JSON body.
pub async fn body(r: Response) -> Value {
    r.json().await.unwrap()
}

/// Inserts a public video for `owner` directly (no processing), returns its id.
pub async fn seed_public_video(db: &PgPool, owner: i64, title: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key, size_bytes,
                             source_duration_secs, source_width, source_height, processed_at, published_at)
         VALUES ($1, $2, 'public', $3, $4, $5, 1, 30, 1920, 1080, now(), now()) RETURNING id",
    )
    .bind(owner)
    .bind(title)
    .bind(Uuid::new_v4())
    .bind(format!("uploaded/{}.mp4", Uuid::new_v4()))
    .bind(format!("processed/{}.mp4", Uuid::new_v4()))
    .fetch_one(db)
    .await
    .unwrap()
}

/// Inserts a video in `status` for `owner` directly, returns its id.
pub async fn seed_video(db: &PgPool, owner: i64, status: &str) -> i64 {
    let processed = matches!(status, "processed" | "public");
    sqlx::query_scalar(
        "INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key, size_bytes,
                             source_duration_secs, source_width, source_height, processed_at, published_at, error)
         VALUES ($1, 'seeded', $2, $3, $4, $5, 1, 30, 1920, 1080,
                 CASE WHEN $6 THEN now() END, CASE WHEN $2 = 'public' THEN now() END,
                 CASE WHEN $2 = 'failed' THEN 'boom' END) RETURNING id",
    )
    .bind(owner)
    .bind(status)
    .bind(Uuid::new_v4())
    .bind(format!("uploaded/{}.mp4", Uuid::new_v4()))
    .bind(processed.then(|| format!("processed/{}.mp4", Uuid::new_v4())))
    .bind(processed)
    .fetch_one(db)
    .await
    .unwrap()
}
