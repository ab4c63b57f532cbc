//! Job-fault benchmarks (plain main, `harness = false`); results go to
//! docs/PERFORMANCE.md, never into test assertions.
//!
//! ```text
//! cargo bench -p skillreel-worker --bench faults -- pickup [uploads=20]
//! cargo bench -p skillreel-worker --bench faults -- recovery [runs=3] [backlog=0]
//! cargo bench -p skillreel-worker --bench faults -- footprint [jobs=500]
//! ```
//! * `pickup`: an idle worker; a job is enqueued as the upload route does right before
//!   its `201`; the time until the worker's claim (`updated_at` of the claim) — p50/p95.
//! * `recovery`: a worker process (`WORKER_BIN`, the release binary) is SIGKILLed mid-job
//!   while another worker runs here; the time from the kill to the job's next claim.
//!   With a backlog, the surviving worker is busy with it meanwhile.
//! * `footprint`: Redis keys and memory of the queue after `jobs` processed jobs.
//!
//! Configuration comes from the environment like `skillreel-worker`'s;
//! `scripts/bench/faults.sh` sets it up.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use chrono::{DateTime, Utc};
use skillreel_shared::{
    config::{self, Config},
    db,
    media::testclip::{self, ClipSpec},
    queue::ProcessVideo,
};
use skillreel_worker::JobContext;
use tokio_util::sync::CancellationToken;

async fn clip(config: &Config, dir: &Path, width: u32, height: u32, secs: f64) -> PathBuf {
    let spec = ClipSpec {
        width,
        height,
        secs,
        audio: width >= 1920,
    };
    testclip::generate(&config.media.ffmpeg_path, &spec, dir)
        .await
        .expect("generating a clip")
}

/// A short clip: the job is quick, so what is measured is the waiting around it.
async fn small_clip(config: &Config, dir: &Path) -> PathBuf {
    clip(config, dir, 640, 360, 3.0).await
}

async fn owner(ctx: &JobContext) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         VALUES ('Bench', 'Faults', 'bench-faults@example.com', 'Bench', 'Bench', 'x')
         ON CONFLICT ((lower(email))) DO UPDATE SET city = EXCLUDED.city RETURNING id",
    )
    .fetch_one(&ctx.db)
    .await
    .expect("bench player")
}

/// Stores the clip and records the video (the upload route's steps before enqueueing).
async fn record(ctx: &JobContext, owner: i64, clip: &Path) -> ProcessVideo {
    let task_id = uuid::Uuid::now_v7();
    let key = format!("uploaded/bench-{task_id}.mp4");
    ctx.storage
        .put_file(&key, clip, "video/mp4")
        .await
        .expect("storing the clip");
    let video = db::videos::insert(
        &ctx.db,
        &db::videos::NewVideo {
            owner_id: owner,
            title: "bench".into(),
            task_id,
            original_key: key,
            size_bytes: 1,
            duration_secs: 3.0,
            width: 1920,
            height: 1080,
        },
    )
    .await
    .expect("recording the video");
    ProcessVideo {
        video_id: video.id,
        task_id,
    }
}

async fn row(ctx: &JobContext, id: i64) -> (String, DateTime<Utc>, Option<String>) {
    sqlx::query_as("SELECT status, updated_at, claimed_by FROM videos WHERE id = $1")
        .bind(id)
        .fetch_one(&ctx.db)
        .await
        .expect("reading the video")
}

async fn wait_until(ctx: &JobContext, id: i64, ok: impl Fn(&str, Option<&str>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (status, _, by) = row(ctx, id).await;
        if ok(&status, by.as_deref()) {
            return;
        }
        assert!(Instant::now() < deadline, "video {id} stuck in {status}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn secs_between(from: SystemTime, to: DateTime<Utc>) -> f64 {
    let to = SystemTime::from(to);
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Worker {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_worker(config: &Config, name: &str) -> (Arc<JobContext>, Worker) {
    let mut config = config.clone();
    config.worker.name = name.to_owned();
    let pool = db::connect(&config.database).await.expect("PostgreSQL");
    let ctx = JobContext::connect(config, pool).await.expect("worker");
    let stop = CancellationToken::new();
    let task = tokio::spawn(skillreel_worker::run(ctx.clone(), stop.clone()));
    (ctx, Worker { stop, task })
}

impl Worker {
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("worker task").expect("worker");
    }
}

async fn pickup(config: &Config, dir: &Path, n: usize) {
    let clip = small_clip(config, dir).await;
    let (ctx, worker) = start_worker(config, &format!("bench-pickup-{}", std::process::id())).await;
    let owner = owner(&ctx).await;
    let mut samples = Vec::new();
    for _ in 0..n {
        // Idle for longer than the fallback poll, so a wake-up is what starts the job.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let job = record(&ctx, owner, &clip).await;
        ctx.queue.enqueue(job.clone()).await.expect("enqueue");
        let enqueued = SystemTime::now();
        wait_until(&ctx, job.video_id, |s, _| s != "uploaded").await;
        let (_, claimed_at, _) = row(&ctx, job.video_id).await;
        samples.push(secs_between(enqueued, claimed_at) * 1000.0);
        wait_until(&ctx, job.video_id, |s, _| s == "processed").await;
    }
    worker.stop().await;
    println!(
        "RESULT pickup: {n} uploads to an idle worker, enqueue -> claim p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (loadavg {})",
        percentile(samples.clone(), 50.0),
        percentile(samples.clone(), 95.0),
        percentile(samples, 100.0),
        load()
    );
}

async fn recovery(config: &Config, dir: &Path, runs: usize, backlog: usize) {
    let bin = std::env::var("WORKER_BIN").expect("WORKER_BIN: the skillreel-worker binary");
    let long = clip(config, dir, 1920, 1080, 45.0).await;
    let small = small_clip(config, dir).await;
    let mut samples = Vec::new();
    for run in 0..runs {
        let (ctx, survivor) = {
            // The survivor starts only once the victim holds the job.
            let pool = db::connect(&config.database).await.expect("PostgreSQL");
            let probe = JobContext::connect(config.clone(), pool)
                .await
                .expect("ctx");
            let owner = owner(&probe).await;
            let job = record(&probe, owner, &long).await;
            probe.queue.enqueue(job.clone()).await.expect("enqueue");
            let victim_name = format!("bench-victim-{}-{run}", std::process::id());
            let mut victim = tokio::process::Command::new(&bin)
                .env("WORKER_NAME", &victim_name)
                .env("WORKER_METRICS_ADDR", "off")
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting the victim worker");
            wait_until(&probe, job.video_id, |s, by| {
                s == "processing" && by == Some(victim_name.as_str())
            })
            .await;
            let (ctx, survivor) = start_worker(
                config,
                &format!("bench-survivor-{}-{run}", std::process::id()),
            )
            .await;
            for _ in 0..backlog {
                let j = record(&ctx, owner, &small).await;
                ctx.queue.enqueue(j).await.expect("enqueue");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            victim.start_kill().expect("SIGKILL");
            let killed = SystemTime::now();
            victim.wait().await.expect("reaping the victim");
            wait_until(&ctx, job.video_id, |s, by| {
                s == "processing" && by != Some(victim_name.as_str())
            })
            .await;
            let (_, claimed_at, _) = row(&ctx, job.video_id).await;
            samples.push(secs_between(killed, claimed_at));
            wait_until(&ctx, job.video_id, |s, _| s == "processed").await;
            (ctx, survivor)
        };
        // Let the backlog drain before the next run.
        while ctx.queue.depth().await.expect("depth") > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        survivor.stop().await;
    }
    println!(
        "RESULT recovery: backlog {backlog}, SIGKILL -> job running again, runs {:?} s, median {:.1} s (lease {} s, sweep every {} s; loadavg {})",
        samples
            .iter()
            .map(|s| (s * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        percentile(samples.clone(), 50.0),
        config.worker.lease.as_secs(),
        config.worker.reconcile_interval.as_secs(),
        load()
    );
}

async fn footprint(config: &Config, dir: &Path, jobs: usize) {
    let clip = small_clip(config, dir).await;
    let mut c = config.clone();
    c.worker.concurrency = 2;
    let (ctx, worker) = start_worker(&c, &format!("bench-footprint-{}", std::process::id())).await;
    let owner = owner(&ctx).await;
    let mut ids = Vec::new();
    for _ in 0..jobs {
        let job = record(&ctx, owner, &clip).await;
        ctx.queue.enqueue(job.clone()).await.expect("enqueue");
        ids.push(job.video_id);
    }
    let started = Instant::now();
    for id in &ids {
        wait_until(&ctx, *id, |s, _| s == "processed" || s == "failed").await;
    }
    let wall = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut conn = queue_conn(config).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", config.redis.prefix))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    let mut bytes = 0u64;
    for k in &keys {
        let b: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(k)
            .query_async(&mut conn)
            .await
            .expect("MEMORY USAGE");
        bytes += b.unwrap_or(0);
    }
    let data: u64 = redis::cmd("HLEN")
        .arg(format!("{}:data", config.redis.queue_name()))
        .query_async(&mut conn)
        .await
        .expect("HLEN");
    worker.stop().await;
    println!(
        "RESULT footprint: {jobs} jobs in {wall:.0} s; afterwards {} keys under the prefix ({keys:?}), {data} task records, {bytes} bytes (loadavg {})",
        keys.len(),
        load()
    );
}

async fn queue_conn(config: &Config) -> redis::aio::ConnectionManager {
    skillreel_shared::queue::connect(&config.redis)
        .await
        .expect("Redis")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    config::load_dotenv();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let config = config::aws::load_from_environment().await?;
    let dir = tempfile::tempdir()?;
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let pool = db::connect(&config.database).await?;
    db::migrate(&pool).await?;
    match args.first().map(String::as_str) {
        Some("pickup") => pickup(&config, dir.path(), arg(1, 20)).await,
        Some("recovery") => recovery(&config, dir.path(), arg(1, 3), arg(2, 0)).await,
        Some("footprint") => footprint(&config, dir.path(), arg(1, 500)).await,
        _ => {
            anyhow::bail!("usage: faults pickup [n] | recovery [runs] [backlog] | footprint [jobs]")
        }
    }
    Ok(())
}
