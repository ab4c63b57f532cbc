//! Talking to the system's own back ends, through `skillreel_shared`, the way the web
//! service does: store an original, insert its row, enqueue its job. Only the HTTP
//! layer is skipped, so the worker sees exactly the jobs a real upload makes.

use std::path::Path;

use anyhow::{Context, Result, bail};
use reqwest::Url;
use secrecy::ExposeSecret;
use skillreel_shared::config::{Config, StorageBackend};
use skillreel_shared::db::{self, players, videos};
use skillreel_shared::domain::{NewPlayer, VideoStatus};
use skillreel_shared::media::ffprobe;
use skillreel_shared::queue::{self, JobQueue, ProcessVideo};
use skillreel_shared::storage::{self, Storage, UPLOADED_PREFIX};
use sqlx::PgPool;
use uuid::Uuid;

use super::observe::JobState;
use crate::target::{check_backend_url, check_host};

/// Connections to PostgreSQL, Redis and the object store.
pub struct Backends {
    pub db: PgPool,
    pub queue: JobQueue,
    pub storage: Storage,
}

/// Refuses back ends off this machine unless `allow_remote`: injecting gigabytes
/// into a shared environment must be a deliberate act.
pub fn check_local(config: &Config, allow_remote: bool) -> Result<()> {
    for (what, url) in [
        ("DATABASE_URL", config.database.url.expose_secret()),
        ("REDIS_URL", config.redis.url.expose_secret()),
    ] {
        check_backend_url(what, url, allow_remote)?;
    }
    if config.storage.backend == StorageBackend::S3 {
        match &config.storage.endpoint_url {
            Some(endpoint) => {
                let url = Url::parse(endpoint).context("the S3 endpoint is not a URL")?;
                check_host(
                    url.host_str().unwrap_or_default(),
                    "the S3 endpoint",
                    allow_remote,
                )?;
            }
            None if !allow_remote => {
                bail!(
                    "STORAGE_BACKEND=s3 without an endpoint means AWS; pass --allow-remote to use it"
                )
            }
            None => {}
        }
    }
    Ok(())
}

impl Backends {
    /// Connects with the environment's configuration (same variables as web/worker).
    pub async fn connect(config: &Config) -> Result<Self> {
        let db = db::connect(&config.database)
            .await
            .context("connecting to PostgreSQL")?;
        let conn = queue::connect(&config.redis)
            .await
            .context("connecting to Redis")?;
        let queue = JobQueue::new(conn, &config.redis);
        let storage = storage::from_config(&config.storage)
            .await
            .context("opening the object store")?;
        Ok(Self { db, queue, storage })
    }

    /// Creates the player owning the injected videos. Its password hash is not a
    /// bcrypt hash, so nobody can log in as it.
    pub async fn create_owner(&self, run_id: &str) -> Result<i64> {
        let player = NewPlayer {
            first_name: "Load".into(),
            last_name: "Worker".into(),
            email: format!("load.worker.{run_id}@example.com"),
            city: "Bogota".into(),
            country: "Colombia".into(),
        };
        let row = players::insert(&self.db, &player, "!")
            .await
            .context("creating the load-test player")?;
        Ok(row.id)
    }

    /// Stores a copy of `clip` and records it as an upload of `owner`; returns the
    /// job to enqueue. The row is `uploaded`, exactly as after a web upload.
    pub async fn stage(&self, owner: i64, clip: &Clip, n: u32) -> Result<ProcessVideo> {
        let task_id = Uuid::new_v4();
        let key = format!("{UPLOADED_PREFIX}load-{task_id}.mp4");
        self.storage
            .put_file(&key, &clip.path, "video/mp4")
            .await
            .with_context(|| format!("storing {key}"))?;
        let new = videos::NewVideo {
            owner_id: owner,
            title: format!("load worker clip {n}"),
            task_id,
            original_key: key.clone(),
            size_bytes: clip.bytes as i64,
            duration_secs: clip.duration_secs,
            width: clip.width as i32,
            height: clip.height as i32,
        };
        match videos::insert(&self.db, &new).await {
            Ok(row) => Ok(ProcessVideo {
                video_id: row.id,
                task_id,
            }),
            Err(e) => {
                // Leave nothing behind, like a rejected upload.
                let _ = self.storage.delete(&key).await;
                Err(e).context("inserting the video row")
            }
        }
    }

    /// Current state of each of `owner`'s videos: (id, state, processed_at).
    pub async fn states(
        &self,
        owner: i64,
    ) -> Result<Vec<(i64, JobState, Option<chrono::DateTime<chrono::Utc>>)>> {
        let rows = videos::list_by_owner(&self.db, owner)
            .await
            .context("polling video states")?;
        Ok(rows
            .iter()
            .map(|v| {
                let state = match v.status() {
                    VideoStatus::Uploaded => JobState::Waiting,
                    VideoStatus::Processing => JobState::Processing,
                    VideoStatus::Processed | VideoStatus::Public | VideoStatus::Hidden => {
                        JobState::Processed
                    }
                    VideoStatus::Failed => JobState::Failed,
                };
                (v.id, state, v.processed_at)
            })
            .collect())
    }

    /// Deletes the videos of `owner` (objects, then rows) so runs do not fill the
    /// disk; returns how many rows were removed.
    pub async fn clean_up(&self, owner: i64) -> Result<u64> {
        let mut removed = 0;
        for video in videos::list_by_owner(&self.db, owner).await? {
            for key in video.stored_keys() {
                if let Err(e) = self.storage.delete(key).await {
                    tracing::warn!(key, error = %e, "could not delete a load-test object");
                }
            }
            if videos::delete_unpublished(&self.db, video.id)
                .await?
                .is_some()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The MP4 every injected job processes.
#[derive(Debug, Clone)]
pub struct Clip {
    pub path: std::path::PathBuf,
    pub bytes: u64,
    pub duration_secs: f64,
    pub width: u32,
    pub height: u32,
}

impl Clip {
    /// Probes `path` with the system's own ffprobe wrapper.
    pub async fn probe(config: &Config, path: &Path) -> Result<Self> {
        let info = ffprobe::probe(&config.media, path)
            .await
            .with_context(|| format!("probing {}", path.display()))?;
        let video = info
            .video
            .with_context(|| format!("{} has no video stream", path.display()))?;
        let (width, height) = video.display_size();
        Ok(Self {
            path: path.to_owned(),
            bytes: std::fs::metadata(path)?.len(),
            duration_secs: info.duration_secs,
            width,
            height,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        // The harness signs nothing; the development mode spares it a JWT_SECRET.
        let vars: Vec<(String, String)> = vars
            .iter()
            .chain(&[("SKILLREEL_ENV", "development")])
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let source = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Config::from_source(&source).unwrap()
    }

    #[test]
    fn default_backends_are_local() {
        assert!(check_local(&config(&[]), false).is_ok());
        let socket = config(&[("DATABASE_URL", "postgres:///skillreel?host=/run/postgresql")]);
        assert!(check_local(&socket, false).is_ok());
    }

    #[test]
    fn remote_backends_need_allow_remote() {
        let db = config(&[("DATABASE_URL", "postgres://u@db.example.com/skillreel")]);
        assert!(
            check_local(&db, false)
                .unwrap_err()
                .to_string()
                .contains("DATABASE_URL")
        );
        assert!(check_local(&db, true).is_ok());
        let redis = config(&[("REDIS_URL", "redis://10.0.0.5:6379")]);
        assert!(check_local(&redis, false).is_err());
        let aws = config(&[("STORAGE_BACKEND", "s3")]);
        assert!(check_local(&aws, false).is_err());
        assert!(check_local(&aws, true).is_ok());
        let emulator = config(&[
            ("STORAGE_BACKEND", "s3"),
            ("S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ]);
        assert!(check_local(&emulator, false).is_ok());
    }
}
