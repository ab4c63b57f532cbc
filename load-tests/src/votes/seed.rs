//! The run's own players and public videos, written straight into PostgreSQL (the
//! flood measures votes, not sign-ups and uploads), counted back after the flood and
//! deleted at the end.
//!
//! Everything carries the run id in its e-mail address or object key, so runs never
//! collide and nothing another run (or a real player) owns is touched. Seeded players
//! cannot log in: their password hash is well-formed bcrypt of no known password.
//! They do not need to: the harness signs their access tokens with the same key and
//! the same code the web service verifies them with.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hyper::header::HeaderValue;
use serde::{Deserialize, Serialize};
use skillreel_shared::auth::Tokens;
use sqlx::{PgPool, Postgres, Transaction};

/// A bcrypt hash nobody knows the password of (same as `scripts/bench/seed.sql`).
const NO_LOGIN_HASH: &str = "$2b$12$benchbenchbenchbenchbeOaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// How long the counters may take to agree with the rows after the flood (a design
/// that aggregates votes in batches may publish its counters a little later).
const SETTLE: Duration = Duration::from_secs(5);

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedSpec {
    /// Players who vote in the flood.
    pub voters: u32,
    /// Public videos they vote for.
    pub videos: u32,
    /// Players owning the videos (1: one favourite owns all; else one per video).
    pub owners: u32,
    /// Players whose votes the visibility probe casts, one vote each.
    pub probe_voters: u32,
}

/// Ids of everything a run seeded.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Flood voters.
    pub voters: Vec<i64>,
    /// Owners of the flood's videos.
    pub owners: Vec<i64>,
    /// The flood's videos.
    pub videos: Vec<i64>,
    /// City of voters and owners.
    pub city: String,
    /// The probe's owner, alone in its city, with one public video.
    pub probe_owner: i64,
    /// Its `first last` as the rankings show it.
    pub probe_owner_name: String,
    /// Its city.
    pub probe_city: String,
    /// Its video.
    pub probe_video: i64,
    /// The probe's voters.
    pub probe_voters: Vec<i64>,
}

impl Seeded {
    /// Every seeded player.
    fn players(&self) -> Vec<i64> {
        let mut all = self.voters.clone();
        all.extend(&self.owners);
        all.push(self.probe_owner);
        all.extend(&self.probe_voters);
        all
    }
}

/// Inserts the run's players and videos in one transaction (all or nothing).
pub async fn seed(db: &PgPool, run_id: &str, spec: SeedSpec) -> Result<Seeded> {
    let mut tx = db
        .begin()
        .await
        .context("starting the seeding transaction")?;
    let city = format!("Votes {run_id}");
    let probe_city = format!("Probe {run_id}");
    let email = |role: &str| format!("load.votes.{run_id}.{role}");
    let voters = insert_players(&mut tx, "Voter", &email("v"), &city, spec.voters).await?;
    let owners = insert_players(&mut tx, "Owner", &email("o"), &city, spec.owners).await?;
    let probe_owner = insert_players(&mut tx, "Probe", &email("po"), &probe_city, 1).await?[0];
    let probe_voters = insert_players(
        &mut tx,
        "Voter",
        &email("pv"),
        &probe_city,
        spec.probe_voters,
    )
    .await?;
    let videos = insert_videos(&mut tx, run_id, "v", &owners, spec.videos).await?;
    let probe_video = insert_videos(&mut tx, run_id, "p", &[probe_owner], 1).await?[0];
    tx.commit().await.context("committing the seed")?;
    Ok(Seeded {
        voters,
        owners,
        videos,
        city,
        probe_owner,
        // Named like every seeded player: `Votes <role><n>`, and it is number 1 of 1.
        probe_owner_name: "Votes Probe1".to_string(),
        probe_city,
        probe_video,
        probe_voters,
    })
}

/// Inserts `count` players named `Votes <role><n>`; returns their ids in order.
async fn insert_players(
    tx: &mut Transaction<'_, Postgres>,
    role: &str,
    email_prefix: &str,
    city: &str,
    count: u32,
) -> Result<Vec<i64>> {
    sqlx::query_scalar(
        "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         SELECT 'Votes', $1 || g, $2 || g || '@example.com', $3, 'Colombia', $4
           FROM generate_series(1, $5::int) g
          ORDER BY g
         RETURNING id",
    )
    .bind(role)
    .bind(email_prefix)
    .bind(city)
    .bind(NO_LOGIN_HASH)
    .bind(count as i32)
    .fetch_all(&mut **tx)
    .await
    .with_context(|| format!("seeding {count} players ({role})"))
}

/// Inserts `count` public videos, video `n` owned by `owners[n % owners.len()]`, with
/// the columns a published video must have (as `seed_public_video` in the web tests).
async fn insert_videos(
    tx: &mut Transaction<'_, Postgres>,
    run_id: &str,
    tag: &str,
    owners: &[i64],
    count: u32,
) -> Result<Vec<i64>> {
    sqlx::query_scalar(
        "INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key,
                             size_bytes, source_duration_secs, source_width, source_height,
                             processed_at, published_at)
         SELECT ($1::bigint[])[(g - 1) % cardinality($1::bigint[]) + 1], 'Vote night ' || g,
                'public', gen_random_uuid(), $2 || g || '.mp4', $3 || g || '.mp4',
                1, 30, 1920, 1080, now(), now()
           FROM generate_series(1, $4::int) g
          ORDER BY g
         RETURNING id",
    )
    .bind(owners)
    .bind(format!("uploaded/load-votes-{run_id}-{tag}"))
    .bind(format!("processed/load-votes-{run_id}-{tag}"))
    .bind(count as i32)
    .fetch_all(&mut **tx)
    .await
    .with_context(|| format!("seeding {count} public videos"))
}

/// `Authorization` header values for `players`, signed as the web signs a login's
/// token, valid for `ttl`.
pub fn bearer_tokens(tokens: &Tokens, players: &[i64]) -> Result<Vec<HeaderValue>> {
    players
        .iter()
        .map(|id| {
            let token = tokens.issue(*id).context("signing an access token")?;
            HeaderValue::from_str(&format!("Bearer {token}")).context("a token header value")
        })
        .collect()
}

/// The database's own account of the flood, read after it: rows against counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recount {
    /// Vote rows for the flood's videos.
    pub vote_rows: i64,
    /// Σ `videos.votes_count` of those videos.
    pub videos_votes_count: i64,
    /// Σ `players.public_votes` of their owners.
    pub owners_public_votes: i64,
    /// Vote rows for the probe's video.
    pub probe_rows: i64,
    /// Whether both counters equal the rows (within [`SETTLE`] after the flood).
    pub consistent: bool,
}

/// Counts the vote rows and reads the counters, re-reading for up to [`SETTLE`] until
/// they agree.
pub async fn recount(db: &PgPool, seeded: &Seeded) -> Result<Recount> {
    let started = Instant::now();
    loop {
        let (vote_rows, videos_votes_count, owners_public_votes, probe_rows): (i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM votes WHERE video_id = ANY($1)),
                    (SELECT coalesce(sum(votes_count), 0)::bigint FROM videos WHERE id = ANY($1)),
                    (SELECT coalesce(sum(public_votes), 0)::bigint FROM players WHERE id = ANY($2)),
                    (SELECT count(*) FROM votes WHERE video_id = $3)",
            )
            .bind(&seeded.videos)
            .bind(&seeded.owners)
            .bind(seeded.probe_video)
            .fetch_one(db)
            .await
            .context("counting the votes")?;
        let consistent = vote_rows == videos_votes_count && vote_rows == owners_public_votes;
        if consistent || started.elapsed() >= SETTLE {
            return Ok(Recount {
                vote_rows,
                videos_votes_count,
                owners_public_votes,
                probe_rows,
                consistent,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What [`clean_up`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Players (their votes went with them).
    pub players: u64,
    /// Videos (their votes went with them).
    pub videos: u64,
}

/// Deletes the seeded videos, then the players; votes go with them (foreign keys
/// cascade).
pub async fn clean_up(db: &PgPool, seeded: &Seeded) -> Result<Removed> {
    let mut owners = seeded.owners.clone();
    owners.push(seeded.probe_owner);
    let mut tx = db.begin().await?;
    let videos = sqlx::query("DELETE FROM videos WHERE owner_id = ANY($1)")
        .bind(&owners)
        .execute(&mut *tx)
        .await
        .context("deleting the seeded videos")?
        .rows_affected();
    let players = sqlx::query("DELETE FROM players WHERE id = ANY($1)")
        .bind(seeded.players())
        .execute(&mut *tx)
        .await
        .context("deleting the seeded players")?
        .rows_affected();
    tx.commit().await.context("committing the clean-up")?;
    Ok(Removed { players, videos })
}
