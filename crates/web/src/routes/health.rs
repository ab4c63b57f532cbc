//! Liveness and readiness.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
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

/// Liveness: `200` while the process runs.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200)))]
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "alive"}))
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

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn within<F: Future<Output = bool>>(f: F) -> bool {
    tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or(false)
}

/// Readiness: `200` when PostgreSQL, Redis and storage answer, else `503` naming what is down.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Checks), (status = 503, body = crate::error::ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
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
        (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ready", "checks": checks})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "detail": format!("not ready: {} down", down.join(", ")),
                "code": "not-ready",
                "checks": checks,
            })),
        )
    }
}

/// Prometheus metrics: requests by route and status, latency histogram, in-flight
/// requests. Mounted on the private listener only ([`crate::metrics_app`]).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
