//! The organizers' routes, `/api/admin/*`.
//!
//! Every handler takes an [`Organizer`](crate::extract::Organizer): `401` without a
//! valid token, `403` (`organizers-only`) for a player. Every action that changes
//! something writes its audit entry in the same transaction as the change.

pub mod audit;
pub mod competition;
pub mod players;
pub mod results;
pub mod stats;
pub mod videos;

use axum::{
    Router,
    routing::{get, post},
};

use crate::state::AppState;

/// The `/api/admin/*` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/audit", get(audit::list))
        .route("/api/admin/videos", get(videos::list))
        .route("/api/admin/videos/{id}/hide", post(videos::hide))
        .route("/api/admin/videos/{id}/restore", post(videos::restore))
        .route("/api/admin/players/{id}/suspend", post(players::suspend))
        .route(
            "/api/admin/players/{id}/unsuspend",
            post(players::unsuspend),
        )
        .route(
            "/api/admin/competition",
            get(competition::get).put(competition::set),
        )
        .route("/api/admin/rankings.csv", get(results::rankings_csv))
        .route("/api/admin/stats", get(stats::stats))
}
