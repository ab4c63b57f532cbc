//! A whole system per test: web + worker over one per-test database and one
//! per-test Redis namespace.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use reqwest::{Client, multipart};
use serde_json::{Value, json};
use skillreel_shared::config::{Config, StorageBackend};
use skillreel_web::AppState;
use skillreel_worker::JobContext;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use skillreel_shared::testing::{
    pixels::{near, region_rgb},
    test_secret,
};

/// Directory where generated test clips are cached between runs.
pub fn clip_cache() -> PathBuf {
    skillreel_shared::media::testclip::cache_dir().expect("creating the clip cache")
}

pub async fn clip(width: u32, height: u32, secs: f64) -> PathBuf {
    skillreel_shared::media::testclip::cached(width, height, secs)
        .await
        .expect("generating a test clip")
}

/// Test configuration: fast bcrypt, fast x264, short recovery timings, isolated keys.
pub fn config(dir: &Path, backend: StorageBackend) -> Config {
    let mut c = Config::from_source(&skillreel_shared::testing::env_with_test_secret)
        .expect("test configuration");
    c.redis.prefix = format!("skillreel-test-{}", Uuid::new_v4().simple());
    c.auth.bcrypt_cost = 4;
    c.storage.backend = backend;
    c.storage.local_dir = dir.join("store");
    c.storage.bucket = format!("skillreel-test-{}", Uuid::new_v4().simple());
    c.media.temp_dir = dir.join("tmp");
    std::fs::create_dir_all(&c.media.temp_dir).unwrap();
    // Shared between tests so the default assets are generated once.
    c.media.assets_dir = clip_cache().join("assets");
    c.media.preset = "ultrafast".into();
    c.worker.backoff = Duration::from_millis(500);
    c.worker.reconcile_interval = Duration::from_secs(1);
    c.worker.lost_after = Duration::from_secs(4);
    c.worker.lease = Duration::from_secs(4);
    c.worker.shutdown_grace = Duration::from_secs(5);
    c
}

/// Creates the test's bucket in the S3 emulator.
pub async fn create_bucket(c: &Config) {
    let endpoint = c
        .storage
        .endpoint_url
        .clone()
        .expect("AWS_ENDPOINT_URL must point at the S3 emulator");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(c.storage.region.clone()))
        .endpoint_url(endpoint)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(&c.storage.bucket)
        .send()
        .await
        .expect("create bucket");
}

pub struct System {
    pub base: String,
    pub client: Client,
    pub web: AppState,
    pub db: PgPool,
    pub config: Config,
    pub worker_stop: Option<CancellationToken>,
    pub dir: tempfile::TempDir,
}

impl System {
    pub async fn start(db: PgPool, backend: StorageBackend) -> Self {
        Self::start_with(db, backend, |_| {}).await
    }

    pub async fn start_with(
        db: PgPool,
        backend: StorageBackend,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), backend.clone());
        adjust(&mut config);
        if backend == StorageBackend::S3 {
            create_bucket(&config).await;
        }
        let web = AppState::with_pool(config.clone(), db.clone())
            .await
            .expect("web state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(skillreel_web::serve(
            listener,
            web.clone(),
            std::future::pending(),
        ));
        Self {
            base,
            client: Client::new(),
            web,
            db,
            config,
            worker_stop: None,
            dir,
        }
    }

    /// Starts an in-process worker.
    pub async fn start_worker(&mut self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let mut config = self.config.clone();
        config.worker.name = format!("test-worker-{}", Uuid::new_v4().simple());
        let ctx: Arc<JobContext> = JobContext::connect(config, self.db.clone())
            .await
            .expect("worker");
        let stop = CancellationToken::new();
        self.worker_stop = Some(stop.clone());
        tokio::spawn(skillreel_worker::run(ctx, stop))
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn player(&self, name: &str) -> String {
        let email = format!("{name}-{}@example.com", Uuid::new_v4().simple());
        let r = self
            .client
            .post(self.url("/api/auth/signup"))
            .json(
                &json!({"first_name": name, "last_name": "E2E", "email": email, "city": "Cali",
                          "country": "CO", "password1": "password1", "password2": "password1"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": email, "password": "password1"}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn upload(&self, token: &str, file: &Path, title: &str) -> i64 {
        let bytes = tokio::fs::read(file).await.unwrap();
        let form = multipart::Form::new().text("title", title.to_owned()).part(
            "video_file",
            multipart::Part::bytes(bytes).file_name("clip.mp4"),
        );
        let r = self
            .client
            .post(self.url("/api/videos/upload"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json::<Value>().await.unwrap()["video_id"]
            .as_i64()
            .unwrap()
    }

    pub async fn detail(&self, token: &str, id: i64) -> Value {
        self.client
            .get(self.url(&format!("/api/videos/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls until the video reaches one of `statuses`; returns its detail.
    pub async fn wait_status(
        &self,
        token: &str,
        id: i64,
        statuses: &[&str],
        max: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let d = self.detail(token, id).await;
            if statuses.iter().any(|s| d["status"] == *s) {
                return d;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "video {id} stuck: {d}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn download(&self, url: &str) -> PathBuf {
        let bytes = self
            .client
            .get(self.url(url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let path = self.dir.path().join(format!("{}.mp4", Uuid::new_v4()));
        tokio::fs::write(&path, &bytes).await.unwrap();
        path
    }

    pub async fn objects(&self, prefix: &str) -> Vec<String> {
        self.web.storage.list(prefix).await.unwrap()
    }
}

/// ffprobe facts about a processed file.
#[derive(Debug)]
pub struct Facts {
    pub width: u64,
    pub height: u64,
    pub codec: String,
    pub duration: f64,
    pub audio_streams: usize,
}

pub async fn facts(path: &Path) -> Facts {
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    Facts {
        width: video["width"].as_u64().unwrap(),
        height: video["height"].as_u64().unwrap(),
        codec: video["codec_name"].as_str().unwrap().to_owned(),
        duration: v["format"]["duration"].as_str().unwrap().parse().unwrap(),
        audio_streams: streams
            .iter()
            .filter(|s| s["codec_type"] == "audio")
            .count(),
    }
}

/// Top-level box types in file order.
pub fn top_level_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut pos = 0usize;
    let mut out = Vec::new();
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&data[pos + 4..pos + 8]).into_owned());
        let size = if size == 1 {
            u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap()) as usize
        } else if size == 0 {
            data.len() - pos
        } else {
            size
        };
        pos += size.max(8);
    }
    out
}

/// Environment that makes a `skillreel-worker` process see the same system as `sys`.
pub fn worker_env(sys: &System, db_name: &str) -> Vec<(String, String)> {
    let c: &Config = &sys.config;
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').unwrap();
    vec![
        ("CONFIG_SOURCE".into(), "env".into()),
        ("JWT_SECRET".into(), test_secret().to_owned()),
        ("DATABASE_URL".into(), format!("{server}/{db_name}")),
        ("REDIS_PREFIX".into(), c.redis.prefix.clone()),
        ("STORAGE_BACKEND".into(), "local".into()),
        (
            "STORAGE_DIR".into(),
            c.storage.local_dir.display().to_string(),
        ),
        ("TEMP_DIR".into(), c.media.temp_dir.display().to_string()),
        (
            "MEDIA_ASSETS_DIR".into(),
            c.media.assets_dir.display().to_string(),
        ),
        ("FFMPEG_PRESET".into(), "ultrafast".into()),
        ("RECONCILE_INTERVAL_SECS".into(), "1".into()),
        ("RECONCILE_STALE_SECS".into(), "4".into()),
        ("WORKER_LEASE_SECS".into(), "4".into()),
        ("SHUTDOWN_GRACE_SECS".into(), "30".into()),
        ("RUST_LOG".into(), "info".into()),
        ("LOG_FORMAT".into(), "json".into()),
        // Several worker processes run at once in these tests.
        ("WORKER_METRICS_ADDR".into(), "off".into()),
    ]
}

/// Starts a `skillreel-worker` process; its output is discarded.
pub fn spawn_worker(env: &[(String, String)]) -> tokio::process::Child {
    spawn_worker_logged(env, None)
}

/// Starts a `skillreel-worker` process, appending its JSON log to `log` when given.
pub fn spawn_worker_logged(env: &[(String, String)], log: Option<&Path>) -> tokio::process::Child {
    let out = match log {
        Some(path) => std::process::Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("opening the worker log"),
        ),
        None => std::process::Stdio::null(),
    };
    tokio::process::Command::new(env!("CARGO_BIN_EXE_skillreel-worker"))
        .envs(env.iter().cloned())
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting skillreel-worker")
}

/// Name of the test's database.
pub async fn db_name(db: &PgPool) -> String {
    sqlx::query_scalar("SELECT current_database()")
        .fetch_one(db)
        .await
        .unwrap()
}

/// Sends `signal` (e.g. "-TERM", "-KILL") to a process.
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}
