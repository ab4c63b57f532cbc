//! Worker benchmarks (plain main, `harness = false`); results go to docs/PERFORMANCE.md,
//! never into test assertions.
//!
//! Configuration is read from the environment exactly like `skillreel-worker` does
//! (DATABASE_URL, REDIS_URL/REDIS_PREFIX, STORAGE_*, FFMPEG_PRESET, ...).
//!
//! Every clip is a phone-like one (`testclip::PhoneClip`: 1080p30 landscape, ~14 Mbit/s,
//! sensor-like noise), cached in `BENCH_CLIP_DIR`. "Bare" is the reference one-pass
//! render of the same spec (`media::reference::build_args`) run as a plain ffmpeg
//! process: the ceiling the job is measured against.
//!
//! ```text
//! cargo bench -p skillreel-worker --bench pipeline -- overhead [runs]      # bare reference vs end-to-end job, 45 s clip
//! cargo bench -p skillreel-worker --bench pipeline -- throughput <conc> <jobs>  # 45 s jobs <conc> at once, then bare the same way
//! cargo bench -p skillreel-worker --bench pipeline -- cut [runs]            # 30 s vs 60 s clip, end-to-end
//! cargo bench -p skillreel-worker --bench pipeline -- args                 # prints the bare (reference) command
//! ```
//! `scripts/bench/worker.sh` sets the environment and runs all of them.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use skillreel_shared::{
    config, db,
    media::{
        ffmpeg, pipeline, reference,
        renditions::RenditionPaths,
        testclip::{self, PhoneClip},
    },
    queue::ProcessVideo,
};
use skillreel_worker::{
    JobContext,
    jobs::process_video::{self, Outcome},
};

/// CPU seconds (user + system) of this process plus its reaped children (ffmpeg, ffprobe).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("reading /proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // fields 14..=17 of proc(5) (utime stime cutime cstime) are 11..=14 after the comm field
    let ticks: f64 = f[11..=14]
        .iter()
        .map(|s| s.parse::<f64>().expect("tick count"))
        .sum();
    ticks / 100.0 // USER_HZ is 100 on Linux x86_64
}

/// The phone-like landscape clip of `secs` seconds (slow to make the first time).
async fn clip(ctx: &JobContext, secs: u32, dir: &Path) -> PathBuf {
    let spec = PhoneClip::landscape(secs);
    testclip::generate_phone(&ctx.config.media.ffmpeg_path, &spec, dir)
        .await
        .expect("generating a test clip")
}

async fn bench_player(ctx: &JobContext) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         VALUES ('Bench', 'Worker', 'bench-worker@example.com', 'Bench', 'Bench', 'x')
         ON CONFLICT ((lower(email))) DO UPDATE SET city = EXCLUDED.city RETURNING id",
    )
    .fetch_one(&ctx.db)
    .await
    .expect("bench player")
}

/// Stores `clip` under `uploaded/` and inserts its row, as the upload route does.
async fn upload(ctx: &JobContext, owner: i64, clip: &Path, secs: f64) -> ProcessVideo {
    let task_id = uuid::Uuid::now_v7();
    let key = format!("uploaded/bench-{task_id}.mp4");
    ctx.storage
        .put_file(&key, clip, "video/mp4")
        .await
        .expect("storing the clip");
    let size = std::fs::metadata(clip).expect("clip size").len();
    let new = db::videos::NewVideo {
        owner_id: owner,
        title: "bench".into(),
        task_id,
        original_key: key,
        size_bytes: i64::try_from(size).expect("size"),
        duration_secs: secs,
        width: 1920,
        height: 1080,
    };
    let v = db::videos::insert(&ctx.db, &new)
        .await
        .expect("inserting the row");
    ProcessVideo {
        video_id: v.id,
        task_id,
    }
}

async fn cleanup(ctx: &JobContext, job: &ProcessVideo) {
    if let Ok(Some(v)) = db::videos::find(&ctx.db, job.video_id).await {
        for key in v.stored_keys() {
            let _ = ctx.storage.delete(key).await;
        }
    }
    let _ = sqlx::query("DELETE FROM videos WHERE id = $1")
        .bind(job.video_id)
        .execute(&ctx.db)
        .await;
}

/// The end-to-end job (claim, fetch, probe, ffmpeg, probe, store, mark processed).
async fn end_to_end(ctx: &Arc<JobContext>, owner: i64, clip: &Path, secs: f64) -> Duration {
    let job = upload(ctx, owner, clip, secs).await;
    let t = Instant::now();
    let outcome = process_video::run(ctx, &job).await;
    let elapsed = t.elapsed();
    assert_eq!(outcome, Outcome::Processed, "the bench job must succeed");
    cleanup(ctx, &job).await;
    elapsed
}

/// Where the bare runs write the poster and preview the job writes too.
fn rendition_paths(dir: &Path) -> RenditionPaths {
    RenditionPaths {
        poster: dir.join("bench-poster.jpg"),
        preview: dir.join("bench-preview.mp4"),
    }
}

/// The reference one-pass render of `clip` into `out`.
fn reference_args(ctx: &JobContext, clip: &Path, out: &Path) -> Vec<String> {
    reference::build_args(&ctx.config.media, &ctx.assets, &clip.into(), out)
}

/// The bare reference command on a local file, nothing else; `slot` keeps the outputs
/// of concurrent runs apart.
async fn bare(ctx: &JobContext, clip: &Path, dir: &Path, slot: usize) -> Duration {
    let out = dir.join(format!("bare-out-{slot}.mp4"));
    let args = reference_args(ctx, clip, &out);
    let t = Instant::now();
    let status = tokio::process::Command::new(&ctx.config.media.ffmpeg_path)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .expect("spawning ffmpeg");
    let elapsed = t.elapsed();
    assert!(status.success(), "bare ffmpeg failed");
    let _ = std::fs::remove_file(&out);
    elapsed
}

/// The same reference argv through `media::ffmpeg::run` (ffmpeg-sidecar, log parsing,
/// progress): what the wrapper adds.
async fn sidecar(ctx: &JobContext, clip: &Path, dir: &Path) -> Duration {
    let out = dir.join("sidecar-out.mp4");
    let args = reference_args(ctx, clip, &out);
    let t = Instant::now();
    ffmpeg::run(
        &ctx.config.media.ffmpeg_path,
        &args,
        ctx.config.media.job_timeout,
        |_| {},
    )
    .await
    .expect("ffmpeg through the sidecar");
    let elapsed = t.elapsed();
    let _ = std::fs::remove_file(&out);
    elapsed
}

/// `pipeline::process`: input probe, the sidecar run, output probe.
async fn process(ctx: &JobContext, clip: &Path, dir: &Path) -> Duration {
    let out = dir.join("process-out.mp4");
    let t = Instant::now();
    let renditions = rendition_paths(dir);
    pipeline::process(
        &ctx.config.media,
        &ctx.assets,
        clip,
        &out,
        Some(&renditions),
        |_| {},
    )
    .await
    .expect("pipeline::process");
    let elapsed = t.elapsed();
    let _ = std::fs::remove_file(&out);
    elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = argv.first().map(String::as_str).unwrap_or("overhead");
    let num = |i: usize, d: usize| argv.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);

    let cfg = config::aws::load_from_environment().await?;
    let pool = db::connect(&cfg.database).await?;
    db::migrate(&pool).await?;
    let ctx = JobContext::connect(cfg, pool).await?;
    let clips = std::env::var("BENCH_CLIP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("skillreel-bench-clips"));
    std::fs::create_dir_all(&clips)?;
    let owner = bench_player(&ctx).await;
    println!(
        "# preset={} crf={} threads={} max_output_secs={} nproc={} loadavg: {}",
        ctx.config.media.preset,
        ctx.config.media.crf,
        ctx.config
            .media
            .threads
            .map_or_else(|| "ffmpeg's choice".to_owned(), |n| n.to_string()),
        ctx.config.media.max_output_secs,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        load()
    );

    match mode {
        "args" => {
            let c45 = clip(&ctx, 45, &clips).await;
            let args = reference_args(&ctx, &c45, Path::new("out.mp4"));
            println!(
                "{} {}",
                ctx.config.media.ffmpeg_path.display(),
                args.iter()
                    .map(|a| format!("'{a}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        "overhead" => {
            let runs = num(1, 3);
            let c45 = clip(&ctx, 45, &clips).await;
            let mut all: [Vec<f64>; 4] = Default::default();
            for i in 0..runs {
                // Alternate within each run so drifting machine load hits every variant
                // alike: the bare reference render, the same argv through the sidecar
                // wrapper, the job's media step (probes, poster and preview included),
                // the whole job (storage and DB included).
                let tb = bare(&ctx, &c45, &clips, 0).await.as_secs_f64();
                let ts = sidecar(&ctx, &c45, &clips).await.as_secs_f64();
                let tp = process(&ctx, &c45, &clips).await.as_secs_f64();
                let te = end_to_end(&ctx, owner, &c45, 45.0).await.as_secs_f64();
                println!(
                    "run {i}: bare {tb:.2} s, sidecar {ts:.2} s, process {tp:.2} s, job {te:.2} s, job/bare {:.3}  (loadavg {})",
                    te / tb,
                    load()
                );
                for (v, t) in all.iter_mut().zip([tb, ts, tp, te]) {
                    v.push(t);
                }
            }
            let [mb, ms, mp, me] = all.map(median);
            println!(
                "RESULT overhead: medians bare {mb:.2} s, sidecar {ms:.2} s ({:.3}), process {mp:.2} s ({:.3}), end-to-end {me:.2} s; ratio job/bare {:.3}",
                ms / mb,
                mp / mb,
                me / mb
            );
        }
        "throughput" => {
            let conc = num(1, 1);
            let jobs = num(2, 4);
            let c45 = clip(&ctx, 45, &clips).await;
            let mut queued = Vec::new();
            for _ in 0..jobs {
                queued.push(upload(&ctx, owner, &c45, 45.0).await);
            }
            let cpu0 = cpu_secs();
            let t = Instant::now();
            let outcomes: Vec<_> = futures::stream::iter(queued.iter())
                .map(|j| {
                    let ctx = ctx.clone();
                    async move { process_video::run(&ctx, j).await }
                })
                .buffer_unordered(conc)
                .collect()
                .await;
            let wall = t.elapsed().as_secs_f64();
            let cpu = cpu_secs() - cpu0;
            let ok = outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Processed))
                .count();
            for j in &queued {
                cleanup(&ctx, j).await;
            }
            // The ceiling: the bare reference command, the same number of runs, the
            // same number at a time, on the same clip.
            let cpu0 = cpu_secs();
            let t = Instant::now();
            futures::stream::iter(0..jobs)
                .map(|slot| bare(&ctx, &c45, &clips, slot))
                .buffer_unordered(conc)
                .collect::<Vec<_>>()
                .await;
            let bare_wall = t.elapsed().as_secs_f64();
            let bare_cpu = cpu_secs() - cpu0;
            let (per_min, bare_per_min) = (ok as f64 * 60.0 / wall, jobs as f64 * 60.0 / bare_wall);
            println!(
                "RESULT throughput: concurrency {conc}, {ok}/{jobs} processed in {wall:.1} s = {per_min:.2} videos/min, {:.1} CPU-s/video; \
                 bare reference {jobs} in {bare_wall:.1} s = {bare_per_min:.2} videos/min, {:.1} CPU-s/video; jobs/bare {:.3} (loadavg {})",
                cpu / ok.max(1) as f64,
                bare_cpu / jobs.max(1) as f64,
                per_min / bare_per_min,
                load()
            );
        }
        "cut" => {
            let runs = num(1, 2);
            let c30 = clip(&ctx, 30, &clips).await;
            let c60 = clip(&ctx, 60, &clips).await;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for i in 0..runs {
                let t30 = end_to_end(&ctx, owner, &c30, 30.0).await.as_secs_f64();
                let t60 = end_to_end(&ctx, owner, &c60, 60.0).await.as_secs_f64();
                println!(
                    "run {i}: 30 s clip {t30:.2} s, 60 s clip {t60:.2} s  (loadavg {})",
                    load()
                );
                a.push(t30);
                b.push(t60);
            }
            let (m30, m60) = (median(a), median(b));
            println!(
                "RESULT cut: median 30 s clip {m30:.2} s, 60 s clip {m60:.2} s, ratio {:.3}",
                m60 / m30
            );
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    Ok(())
}
