//! One virtual user: signs up, logs in, then loops over the weighted action mix
//! with think time between actions until the run stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use super::client::Shared;
use super::mix::Action;
use crate::stats::Endpoint;

/// Cities users sign up with; the city filters pick from the same list so they
/// match real rows.
const CITIES: [&str; 5] = ["Bogota", "Medellin", "Cali", "Barranquilla", "Cartagena"];
/// Words upload titles are made of; `q` searches pick from the same list.
const TITLE_WORDS: [&str; 6] = [
    "dribble",
    "freestyle",
    "header",
    "juggling",
    "volley",
    "skill",
];
const PASSWORD: &str = "load-test-Passw0rd";

struct VirtualUser {
    index: u32,
    rng: SmallRng,
    city: &'static str,
    /// Bumped on every failed sign-up so the retry uses a fresh address.
    signup_attempt: u32,
    registered: bool,
    token: Option<String>,
    /// Ids of public videos seen in the last listing: the vote targets.
    public_ids: Vec<String>,
    uploads: u32,
}

/// Runs user `index` from `start_at` until the run is cancelled.
pub(super) async fn run(shared: Arc<Shared>, index: u32, start_at: Instant) {
    tokio::select! {
        _ = shared.cancel.cancelled() => return,
        _ = tokio::time::sleep_until(start_at.into()) => {}
    }
    let _active = shared.user_started();
    // Distinct but reproducible streams per user.
    let mut rng =
        SmallRng::seed_from_u64(shared.seed ^ u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let city = *CITIES.choose(&mut rng).expect("CITIES is not empty");
    let mut user = VirtualUser {
        index,
        rng,
        city,
        signup_attempt: 0,
        registered: false,
        token: None,
        public_ids: Vec::new(),
        uploads: 0,
    };

    while !shared.cancel.is_cancelled() {
        match user.token.clone() {
            None => user.sign_in(&shared).await,
            Some(token) => {
                let action = shared.mix.pick(&mut user.rng);
                user.act(&shared, action, &token).await;
            }
        }
        let think = user.think_time(&shared);
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            _ = tokio::time::sleep(think) => {}
        }
    }
}

impl VirtualUser {
    fn think_time(&mut self, shared: &Shared) -> Duration {
        if shared.think_max <= shared.think_min {
            return shared.think_min;
        }
        self.rng.random_range(shared.think_min..=shared.think_max)
    }

    fn email(&self, run_id: &str) -> String {
        format!(
            "load.{run_id}.u{}.a{}@example.com",
            self.index, self.signup_attempt
        )
    }

    /// Signs up (once) and logs in; a failed step is retried on the next turn.
    async fn sign_in(&mut self, shared: &Shared) {
        let email = self.email(&shared.run_id);
        if !self.registered {
            let body = json!({
                "first_name": "Load",
                "last_name": format!("User{}", self.index),
                "email": email,
                "city": self.city,
                "country": "Colombia",
                "password1": PASSWORD,
                "password2": PASSWORD,
            });
            let request = shared.request(Method::POST, "/api/auth/signup").json(&body);
            match shared.send(Endpoint::Signup, request).await {
                Some(answer) if answer.status.is_success() => self.registered = true,
                _ => {
                    self.signup_attempt += 1;
                    return;
                }
            }
        }
        let body = json!({ "email": email, "password": PASSWORD });
        let request = shared.request(Method::POST, "/api/auth/login").json(&body);
        if let Some(answer) = shared.send(Endpoint::Login, request).await
            && answer.status.is_success()
        {
            self.token = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|v| v["access_token"].as_str().map(str::to_owned));
        }
    }

    async fn act(&mut self, shared: &Shared, action: Action, token: &str) {
        let status = match action {
            Action::MyVideos => self.my_videos(shared, token).await,
            Action::PublicVideos => self.public_videos(shared).await,
            Action::Rankings => self.rankings(shared).await,
            Action::Vote => self.vote(shared, token).await,
            Action::Upload => self.upload(shared, token).await,
        };
        if status == Some(401) {
            // Token expired or rejected: log in again on the next turn.
            self.token = None;
        }
    }

    /// Lists own videos and publishes the first processed one, as a player would.
    async fn my_videos(&mut self, shared: &Shared, token: &str) -> Option<u16> {
        let request = shared
            .request(Method::GET, "/api/videos")
            .bearer_auth(token);
        let answer = shared.send(Endpoint::MyVideos, request).await?;
        if !answer.status.is_success() {
            return Some(answer.status.as_u16());
        }
        let videos: Vec<Value> = serde_json::from_slice(&answer.body).unwrap_or_default();
        let ready = videos
            .iter()
            .find(|v| v["status"] == "processed")
            .and_then(|v| id_of(&v["video_id"]));
        let Some(id) = ready else {
            return Some(answer.status.as_u16());
        };
        let request = shared
            .request(Method::POST, &format!("/api/videos/{id}/publish"))
            .bearer_auth(token);
        Some(
            shared
                .send(Endpoint::Publish, request)
                .await?
                .status
                .as_u16(),
        )
    }

    async fn public_videos(&mut self, shared: &Shared) -> Option<u16> {
        let mut query = vec![
            ("page", self.page().to_string()),
            (
                "limit",
                if self.rng.random_bool(0.5) {
                    "10"
                } else {
                    "20"
                }
                .to_string(),
            ),
        ];
        if self.rng.random_bool(0.5) {
            query.push(("city", self.any_city().to_string()));
        }
        if self.rng.random_bool(0.3) {
            query.push(("q", self.word().to_string()));
        }
        let request = shared
            .request(Method::GET, "/api/public/videos")
            .query(&query);
        let answer = shared.send(Endpoint::PublicVideos, request).await?;
        if answer.status.is_success() {
            let videos: Vec<Value> = serde_json::from_slice(&answer.body).unwrap_or_default();
            let ids: Vec<String> = videos
                .iter()
                .filter_map(|v| id_of(&v["video_id"]).or_else(|| id_of(&v["id"])))
                .collect();
            // A filtered or late page is often empty; keep the last useful targets.
            if !ids.is_empty() {
                self.public_ids = ids;
            }
        }
        Some(answer.status.as_u16())
    }

    async fn rankings(&mut self, shared: &Shared) -> Option<u16> {
        let mut query = vec![("page", self.page().to_string()), ("limit", "10".into())];
        if self.rng.random_bool(0.5) {
            query.push(("city", self.any_city().to_string()));
        }
        let request = shared
            .request(Method::GET, "/api/public/rankings")
            .query(&query);
        Some(
            shared
                .send(Endpoint::Rankings, request)
                .await?
                .status
                .as_u16(),
        )
    }

    async fn vote(&mut self, shared: &Shared, token: &str) -> Option<u16> {
        let Some(id) = self.public_ids.choose(&mut self.rng).cloned() else {
            shared.skip_vote();
            return None;
        };
        let request = shared
            .request(Method::POST, &format!("/api/public/videos/{id}/vote"))
            .bearer_auth(token);
        Some(shared.send(Endpoint::Vote, request).await?.status.as_u16())
    }

    async fn upload(&mut self, shared: &Shared, token: &str) -> Option<u16> {
        let Some(clip) = shared.clip.clone() else {
            shared.skip_upload();
            return None;
        };
        self.uploads += 1;
        let title = format!(
            "{} {} u{} #{}",
            self.word(),
            self.word(),
            self.index,
            self.uploads
        );
        let length = clip.len() as u64;
        let part = Part::stream_with_length(clip, length)
            .file_name("clip.mp4")
            .mime_str("video/mp4")
            .expect("video/mp4 is a valid MIME type");
        let form = Form::new().text("title", title).part("video_file", part);
        let request = shared
            .request(Method::POST, "/api/videos/upload")
            .bearer_auth(token)
            .multipart(form);
        Some(
            shared
                .send(Endpoint::Upload, request)
                .await?
                .status
                .as_u16(),
        )
    }

    /// Mostly the first page, as real browsing is.
    fn page(&mut self) -> u32 {
        match self.rng.random_range(0..10) {
            0..=6 => 1,
            7..=8 => 2,
            _ => 3,
        }
    }

    fn any_city(&mut self) -> &'static str {
        CITIES.choose(&mut self.rng).copied().unwrap_or(self.city)
    }

    fn word(&mut self) -> &'static str {
        TITLE_WORDS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("skill")
    }
}

/// Renders a JSON id (UUID string or integer) for use in a path.
pub(super) fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_render_from_strings_and_numbers_only() {
        assert_eq!(id_of(&json!("a-b")).as_deref(), Some("a-b"));
        assert_eq!(id_of(&json!(42)).as_deref(), Some("42"));
        assert_eq!(id_of(&json!("")), None);
        assert_eq!(id_of(&Value::Null), None);
    }
}
