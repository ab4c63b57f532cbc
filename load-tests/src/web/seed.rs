//! Optional preparation before a web run: make sure some public videos exist, so
//! the vote action has targets on a fresh system.
//!
//! Uses the same API routes as the users (sign-up, login, upload, list own videos,
//! publish) and waits for the worker to process the uploads. Its requests are
//! bounded (a fixed number of uploads, one poll every 2 s, a timeout) and are not
//! part of the run's statistics.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, RequestBuilder, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::user::id_of;
use crate::target::endpoint_url;

const POLL: Duration = Duration::from_secs(2);
const PASSWORD: &str = "load-test-Passw0rd";

/// What seeding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedReport {
    /// Public videos found before seeding (capped at the number wanted).
    pub existing: u32,
    /// Clips uploaded.
    pub uploaded: u32,
    /// Of those, published before the timeout.
    pub published: u32,
}

struct Api {
    client: Client,
    base: Url,
    token: Option<String>,
}

impl Api {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, endpoint_url(&self.base, path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends and demands a 2xx answer; returns the JSON body (`null` if not JSON).
    async fn call(&self, what: &str, request: RequestBuilder) -> Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("seeding: {what}"))?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            bail!(
                "seeding: {what} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// Ensures at least `want` public videos exist, uploading and publishing the
/// missing ones as a dedicated seed player; gives up waiting after `timeout`.
pub async fn ensure_public_videos(
    base: &Url,
    clip: &Bytes,
    want: u32,
    run_id: &str,
    timeout: Duration,
) -> Result<SeedReport> {
    let client = Client::builder().timeout(Duration::from_secs(60)).build()?;
    let mut api = Api {
        client,
        base: base.clone(),
        token: None,
    };
    let limit = want.clamp(1, 100).to_string();
    let listed = api
        .call(
            "listing public videos",
            api.request(Method::GET, "/api/public/videos")
                .query(&[("limit", &limit)]),
        )
        .await?;
    let existing = listed.as_array().map_or(0, |a| a.len() as u32).min(want);
    let mut report = SeedReport {
        existing,
        uploaded: 0,
        published: 0,
    };
    if existing >= want {
        return Ok(report);
    }

    let email = format!("load.seed.{run_id}@example.com");
    let signup = json!({
        "first_name": "Load", "last_name": "Seed", "email": email, "city": "Bogota",
        "country": "Colombia", "password1": PASSWORD, "password2": PASSWORD,
    });
    api.call(
        "sign-up",
        api.request(Method::POST, "/api/auth/signup").json(&signup),
    )
    .await?;
    let login = json!({ "email": email, "password": PASSWORD });
    let token = api
        .call(
            "login",
            api.request(Method::POST, "/api/auth/login").json(&login),
        )
        .await?;
    api.token = Some(
        token["access_token"]
            .as_str()
            .context("seeding: login answer has no access_token")?
            .to_owned(),
    );

    for n in 1..=(want - existing) {
        let part = Part::stream_with_length(clip.clone(), clip.len() as u64)
            .file_name("seed.mp4")
            .mime_str("video/mp4")?;
        let form = Form::new()
            .text("title", format!("seed skill {n}"))
            .part("video_file", part);
        api.call(
            "upload",
            api.request(Method::POST, "/api/videos/upload")
                .multipart(form),
        )
        .await?;
        report.uploaded += 1;
    }

    let deadline = Instant::now() + timeout;
    while report.published < report.uploaded && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        let videos = api
            .call(
                "listing own videos",
                api.request(Method::GET, "/api/videos"),
            )
            .await?;
        let mut pending = 0;
        for video in videos.as_array().into_iter().flatten() {
            match video["status"].as_str() {
                Some("processed") => {
                    let id = id_of(&video["video_id"]).context("seeding: video without id")?;
                    let path = format!("/api/videos/{id}/publish");
                    api.call("publish", api.request(Method::POST, &path))
                        .await?;
                    report.published += 1;
                }
                Some("uploaded" | "processing") => pending += 1,
                _ => {}
            }
        }
        if pending == 0 && report.published < report.uploaded {
            // Everything left failed processing; waiting longer will not help.
            break;
        }
    }
    Ok(report)
}
