//! The skillreel HTTP API (axum).
//!
//! [`app`] builds the router with its middleware; [`serve`] runs it on a listener
//! until a shutdown signal, with a time limit on request heads (see `server`). Both are used by `main` and by the integration tests,
//! which bind port 0. [`metrics_app`] is the private listener's router (`/metrics`,
//! on `WEB_METRICS_ADDR`), kept off the public port so a load balancer cannot publish it.

pub mod body;
pub mod error;
pub mod extract;
pub mod limits;
pub mod routes;
mod server;
pub mod state;
pub mod sweeper;

use std::time::{Duration, Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tower::Layer;
use tower_http::{
    catch_panic::CatchPanicLayer,
    normalize_path::{NormalizePath, NormalizePathLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
};
use tracing::Instrument;

use crate::error::{ApiError, InternalCause};
pub use crate::state::{AppState, Services};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Requests slower than this are cut off (uploads excepted: they stream).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The router with every route and middleware, trailing slashes accepted.
pub fn app(state: AppState) -> NormalizePath<Router> {
    let router = routes::router(&state)
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({
                    "detail": "Method not allowed", "code": "method-not-allowed"
                })),
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_requests,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe_requests,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state);
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

/// The private listener: Prometheus `/metrics`, anything else `404`.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::health::metrics))
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .with_state(state)
}

/// Times, counts and logs every request once, with the internal cause of a 5xx
/// (never sent to clients).
async fn observe_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    state.metrics.in_flight.inc();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("")
        .to_owned();
    // Whatever a handler logs carries the request id of the response it becomes.
    let span = tracing::info_span!("request", request.id = %request_id);
    let is_upload = path.starts_with("/api/videos/upload");
    let request = if is_upload {
        // What uploads cost this instance in bandwidth (classic vs resumable).
        let (metrics, route) = (state.metrics.clone(), route.clone());
        body::count_bytes(request, move |n| metrics.upload_bytes(&route, n))
    } else {
        request
    };
    let handled = next.run(request).instrument(span);
    let response = if is_upload {
        handled.await
    } else {
        match tokio::time::timeout(REQUEST_TIMEOUT, handled).await {
            Ok(r) => r,
            Err(_) => ApiError::Unavailable("request timed out".into(), "handler timeout".into())
                .into_response(),
        }
    };
    state.metrics.in_flight.dec();
    let status = response.status().as_u16();
    let elapsed = start.elapsed().as_secs_f64();
    state
        .metrics
        .observe(method.as_str(), &route, status, elapsed);
    let duration_ms = elapsed * 1000.0;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(%method, %path, status, duration_ms, request.id = %request_id, error = %cause, "request failed");
    } else {
        tracing::debug!(%method, %path, status, duration_ms, request.id = %request_id, "request");
    }
    response
}

/// Serves `app` on `listener` until `shutdown` completes, then drains in-flight requests.
///
/// Connections that do not send a complete request head within
/// `HTTP_HEADER_READ_TIMEOUT_SECS` are closed; every request carries
/// [`axum::extract::ConnectInfo<std::net::SocketAddr>`] with its TCP peer.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_read_timeout = state.config.http.header_read_timeout;
    // Live status streams end at shutdown, or they would hold the drain of in-flight
    // requests for as long as they last; their clients reconnect elsewhere.
    let events = state.events.clone();
    let shutdown = async move {
        shutdown.await;
        events.close();
    };
    server::run(listener, app(state), header_read_timeout, shutdown).await
}
