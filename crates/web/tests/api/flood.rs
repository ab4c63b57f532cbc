//! Vote floods for the tests of `vote_night`: many players inserted at once with SQL
//! (signing up through the API would spend seconds in bcrypt) holding tokens minted the
//! way the server checks them, ballots sent many at a time with each answer classified,
//! and the checks every flood ends with: the counters equal a recount of the rows, and
//! the rankings show it.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use skillreel_shared::{auth::Tokens, config::Config};
use sqlx::PgPool;
use uuid::Uuid;

/// A player of a flood.
#[derive(Clone)]
pub struct Player {
    pub id: i64,
    /// "first last", as the rankings show it.
    pub name: String,
    pub token: Arc<str>,
}

/// One player's vote for one video.
#[derive(Clone)]
pub struct Ballot {
    pub video: i64,
    pub voter: i64,
    pub token: Arc<str>,
}

// Without the token: failures print ballots.
impl std::fmt::Debug for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "player {} → video {}", self.voter, self.video)
    }
}

impl Ballot {
    /// `player` votes for `video`.
    pub fn new(player: &Player, video: i64) -> Self {
        Self {
            video,
            voter: player.id,
            token: Arc::clone(&player.token),
        }
    }

    /// The primary key of its row: `(video_id, player_id)`.
    pub fn key(&self) -> (i64, i64) {
        (self.video, self.voter)
    }
}

/// What the client learnt from one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `200 {"message": ...}`: the vote is stored.
    Stored,
    /// Any other status, with the `code` of the JSON error body (`None` without one).
    Refused(StatusCode, Option<String>),
    /// No status line: the connection was refused, cut, or timed out.
    Lost,
}

impl Answer {
    /// A refusal with `code`.
    pub fn refused(status: u16, code: &str) -> Self {
        Self::Refused(StatusCode::from_u16(status).unwrap(), Some(code.to_owned()))
    }
}

/// A token signer with the key the test servers verify with (`testing::test_secret`).
pub fn signer() -> Tokens {
    let config = Config::from_source(&skillreel_shared::testing::env_with_test_secret)
        .expect("test configuration");
    Tokens::new(&config.auth.jwt_secret, config.auth.token_ttl)
}

/// Inserts one player per name (last name `Night`, city Cali, a password hash no
/// password matches) and mints each a token with `tokens`.
pub async fn insert_players(db: &PgPool, tokens: &Tokens, first_names: &[String]) -> Vec<Player> {
    let batch = Uuid::new_v4().simple().to_string();
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         SELECT f, 'Night', lower(f) || '-' || $2 || '@example.com', 'Cali', 'Colombia', '!'
           FROM unnest($1::text[]) AS f
         RETURNING id, first_name, last_name",
    )
    .bind(first_names)
    .bind(&batch)
    .fetch_all(db)
    .await
    .unwrap();
    let mut players: Vec<Player> = rows
        .into_iter()
        .map(|(id, first, last)| Player {
            id,
            name: format!("{first} {last}"),
            token: tokens.issue(id).unwrap().into(),
        })
        .collect();
    players.sort_by_key(|p| p.id);
    players
}

/// `n` players named `{prefix}{i}`.
pub async fn insert_crowd(db: &PgPool, tokens: &Tokens, prefix: &str, n: usize) -> Vec<Player> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    insert_players(db, tokens, &names).await
}

/// `items` in a random order.
pub fn shuffled<T>(mut items: Vec<T>) -> Vec<T> {
    let mut keyed: Vec<(Uuid, T)> = items.drain(..).map(|i| (Uuid::new_v4(), i)).collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// A client for floods: no request waits forever (the server cuts its own at 30 s).
pub fn flood_client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .unwrap()
}

/// Sends `ballot` to the server at `base` (`http://host:port`) and classifies the answer.
pub async fn vote(client: &Client, base: &str, ballot: &Ballot) -> Answer {
    let sent = client
        .post(format!("{base}/api/public/videos/{}/vote", ballot.video))
        .bearer_auth(&*ballot.token)
        .send()
        .await;
    let Ok(r) = sent else {
        return Answer::Lost;
    };
    let status = r.status();
    // A body cut off after the status line still leaves the status the client saw.
    let body: Option<Value> = r.json().await.ok();
    if status == StatusCode::OK {
        if let Some(body) = &body {
            assert!(
                body["message"].is_string(),
                "a 200 without its message: {body}"
            );
        }
        return Answer::Stored;
    }
    let code = body.and_then(|b| b["code"].as_str().map(str::to_owned));
    Answer::Refused(status, code)
}

/// Sends every ballot, `in_flight` at a time; each with its answer, in completion order.
pub async fn send_all(
    client: &Client,
    base: &str,
    ballots: Vec<Ballot>,
    in_flight: usize,
) -> Vec<(Ballot, Answer)> {
    futures::stream::iter(ballots)
        .map(|b| async move {
            let answer = vote(client, base, &b).await;
            (b, answer)
        })
        .buffer_unordered(in_flight)
        .collect()
        .await
}

/// Every `(video_id, player_id)` in `votes`.
pub async fn stored(db: &PgPool) -> BTreeSet<(i64, i64)> {
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT video_id, player_id FROM votes")
        .fetch_all(db)
        .await
        .unwrap();
    rows.into_iter().collect()
}

/// After an outage: sends every ballot once more. Those with a row answer
/// `400 already-voted`, the others `200`; then every ballot has its row, and no other
/// row exists.
pub async fn resend_all(client: &Client, base: &str, db: &PgPool, ballots: &[Ballot]) {
    let before = stored(db).await;
    let answers = send_all(client, base, ballots.to_vec(), 48).await;
    for (ballot, answer) in &answers {
        let expected = if before.contains(&ballot.key()) {
            Answer::refused(400, "already-voted")
        } else {
            Answer::Stored
        };
        assert_eq!(answer, &expected, "resending {ballot:?}");
    }
    let all: BTreeSet<_> = ballots.iter().map(Ballot::key).collect();
    assert_eq!(stored(db).await, all);
}

/// Asserts that every counter equals a recount from the rows: `videos.votes_count` the
/// video's counted `votes` rows (a suspended voter's are not), `players.public_votes`
/// those of the player's public videos, `players.public_videos` those videos.
pub async fn recount_matches(db: &PgPool) {
    let videos: Vec<(i64, i32, i64)> = sqlx::query_as(
        "SELECT v.id, v.votes_count, count(t.video_id)
           FROM videos v LEFT JOIN votes t ON t.video_id = v.id AND t.counted
          GROUP BY v.id
         HAVING v.votes_count <> count(t.video_id)",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert!(
        videos.is_empty(),
        "(video, votes_count, rows) that disagree: {videos:?}"
    );
    let players: Vec<(i64, i64, i32, i64, i64)> = sqlx::query_as(
        "WITH counted AS (
             SELECT v.owner_id, count(*) AS videos,
                    sum((SELECT count(*) FROM votes t WHERE t.video_id = v.id AND t.counted)) AS votes
               FROM videos v WHERE v.status = 'public' GROUP BY v.owner_id)
         SELECT p.id, p.public_votes, p.public_videos,
                COALESCE(c.votes, 0)::BIGINT, COALESCE(c.videos, 0)
           FROM players p LEFT JOIN counted c ON c.owner_id = p.id
          WHERE p.public_votes <> COALESCE(c.votes, 0) OR p.public_videos <> COALESCE(c.videos, 0)",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert!(
        players.is_empty(),
        "(player, public_votes, public_videos, recounted votes, recounted videos) that disagree: {players:?}"
    );
}

/// The ranking recounted from the rows: players with a public video, most counted
/// votes first, ties to the earlier sign-up; `(username, votes)`.
async fn ranking_from_rows(db: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT p.first_name || ' ' || p.last_name, count(t.video_id)
           FROM players p
           JOIN videos v ON v.owner_id = p.id AND v.status = 'public'
           LEFT JOIN votes t ON t.video_id = v.id AND t.counted
          GROUP BY p.id
          ORDER BY count(t.video_id) DESC, p.id
          LIMIT 100",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

/// `GET /api/public/rankings?limit=100` as `(username, votes)`.
pub async fn rankings(client: &Client, base: &str) -> Vec<(String, i64)> {
    let r = client
        .get(format!("{base}/api/public/rankings?limit=100"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["username"].as_str().unwrap().to_owned(),
                e["votes"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Polls the rankings (cached: they may lag) until they show the ranking recounted
/// from the rows; fails after 5 s. Read them once before the votes, so that a
/// cached answer has to be replaced.
pub async fn rankings_catch_up(client: &Client, base: &str, db: &PgPool) {
    let want = ranking_from_rows(db).await;
    assert!(!want.is_empty(), "nobody to rank");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let shown = rankings(client, base).await;
        if shown == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rankings show {shown:?}, the rows say {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Answers grouped by ballot key, for per-pair assertions.
pub fn by_pair(answers: &[(Ballot, Answer)]) -> BTreeMap<(i64, i64), Vec<Answer>> {
    let mut map: BTreeMap<(i64, i64), Vec<Answer>> = BTreeMap::new();
    for (ballot, answer) in answers {
        map.entry(ballot.key()).or_default().push(answer.clone());
    }
    map
}
