//! Route table.

pub mod admin;
pub mod auth;
pub mod competition;
pub mod docs;
pub mod events;
pub mod health;
pub mod media;
pub mod public;
pub mod ui;
pub mod upload;
pub mod uploads;
pub mod videos;
pub mod views;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{delete, get, post},
};

use crate::state::AppState;

/// Every route of the public listener. `/metrics` is not one of them: it is served on
/// its own listener ([`crate::metrics_app`]).
pub fn router(state: &AppState) -> Router<AppState> {
    // Multipart framing adds a little to the file itself; the handler enforces the
    // exact file limit while streaming, this only bounds the whole body.
    let upload_body_limit = usize::try_from(state.config.upload.max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1024 * 1024);
    Router::new()
        .route("/", get(health::root))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/api/auth/signup", post(auth::signup))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/me", get(auth::me))
        .route(
            "/api/videos/upload",
            post(upload::upload).layer(DefaultBodyLimit::max(upload_body_limit)),
        )
        .route("/api/videos/uploads", post(uploads::start))
        .route(
            "/api/videos/uploads/{upload_id}/parts/{part_number}",
            get(uploads::sign_part).put(uploads::put_part),
        )
        .route(
            "/api/videos/uploads/{upload_id}/parts",
            get(uploads::list_parts),
        )
        .route(
            "/api/videos/uploads/{upload_id}/complete",
            post(uploads::complete),
        )
        .route("/api/videos/uploads/{upload_id}", delete(uploads::abort))
        .route("/api/videos", get(videos::list))
        .route("/api/videos/{id}", get(videos::get).delete(videos::delete))
        .route("/api/videos/{id}/publish", post(videos::publish))
        .route("/api/videos/{id}/events", get(events::events))
        .route("/api/public/videos", get(public::videos))
        .route("/api/public/videos/{id}/vote", post(public::vote))
        .route("/api/public/videos/{id}/view", post(views::view))
        .route("/api/public/rankings", get(public::rankings))
        .route("/api/public/trending", get(views::trending))
        .route("/api/public/competition", get(competition::public))
        .route("/media/{*key}", get(media::serve))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::docs_page))
        .merge(admin::router())
        .merge(ui::router())
}
