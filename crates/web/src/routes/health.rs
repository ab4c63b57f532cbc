//! Liveness and readiness.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Body of `GET /`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Healthcheck {
    /// Always `"Healthcheck OK"`.
    pub message: &'static str,
    /// Service version.
    pub version: &'static str,
}

/// Service banner; `200` while the process serves requests.
#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, body = Healthcheck)))]
pub async fn root() -> Json<Healthcheck> {
    Json(Healthcheck {
        message: "Healthcheck OK",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Body of `GET /health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `"alive"`.
    #[schema(example = "alive")]
    pub status: &'static str,
}

/// Liveness: `200` while the process runs.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "the process runs", body = Liveness)))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "alive" })
}

/// Result of one dependency check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    /// PostgreSQL answers.
    pub postgres: bool,
    /// Redis answers.
    pub redis: bool,
    /// Object storage answers.
    pub storage: bool,
}

/// Body of a ready `GET /health/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// Always `"ready"`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Every dependency (all `true`).
    pub checks: Checks,
}

/// Body of a `GET /health/ready` that is not ready: the usual error body plus the checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotReady {
    /// Names what is down.
    pub detail: String,
    /// Always `not-ready`.
    #[schema(example = "not-ready")]
    pub code: &'static str,
    /// Which dependencies answered (`false`: down).
    pub checks: Checks,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn within<F: Future<Output = bool>>(f: F) -> bool {
    tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or(false)
}

/// Readiness: `200` when PostgreSQL, Redis and storage answer, else `503` naming what is down.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "PostgreSQL, Redis and storage answer", body = Readiness),
              (status = 503, description = "a dependency is down (Retry-After)", body = NotReady)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let mut redis = state.redis.clone();
    let (postgres, redis, storage) = tokio::join!(
        within(async { sqlx::query("SELECT 1").execute(&state.db).await.is_ok() }),
        within(async {
            redis::cmd("PING")
                .query_async::<String>(&mut redis)
                .await
                .is_ok()
        }),
        within(async { state.storage.health().await.is_ok() }),
    );
    let checks = Checks {
        postgres,
        redis,
        storage,
    };
    let down: Vec<&str> = [
        ("postgres", postgres),
        ("redis", redis),
        ("storage", storage),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if down.is_empty() {
        Json(Readiness {
            status: "ready",
            checks,
        })
        .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            // Like every 503 of the API: temporary, try again.
            [(header::RETRY_AFTER, "5")],
            Json(NotReady {
                detail: format!("not ready: {} down", down.join(", ")),
                code: "not-ready",
                checks,
            }),
        )
            .into_response()
    }
}

/// Prometheus metrics: requests by route and status, latency histogram, in-flight
/// requests. Mounted on the private listener only ([`crate::metrics_app`]).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let streams = i64::try_from(state.event_streams.open()).unwrap_or(i64::MAX);
    state.metrics.event_streams.set(streams);
    let subscribed = i64::from(state.events.link().live);
    state.metrics.events_subscribed.set(subscribed);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
