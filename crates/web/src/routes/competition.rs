//! `GET /api/public/competition`: when uploads and voting close, for everyone.
//!
//! The organizers set the dates with `PUT /api/admin/competition`
//! ([`super::admin::competition`]); the upload routes refuse with `403 uploads-closed`
//! ([`crate::extract::UploadsOpen`]) and votes with `403 voting-closed` once they pass.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use skillreel_shared::db;
use utoipa::ToSchema;

use crate::{
    error::{ApiResult, ErrorBody},
    state::AppState,
};

/// The competition's dates and whether each phase is open now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Competition {
    /// When uploads close (RFC 3339); `null`: no date set, uploads are open.
    pub uploads_close_at: Option<DateTime<Utc>>,
    /// When voting closes (RFC 3339); `null`: no date set, voting is open. Once it has
    /// passed, the rankings are final.
    pub voting_close_at: Option<DateTime<Utc>>,
    /// Whether uploads are accepted now.
    pub uploads_open: bool,
    /// Whether votes are accepted now.
    pub voting_open: bool,
}

impl From<db::competition::Competition> for Competition {
    fn from(c: db::competition::Competition) -> Self {
        Self {
            uploads_close_at: c.uploads_close_at,
            voting_close_at: c.voting_close_at,
            uploads_open: c.uploads_open,
            voting_open: c.voting_open,
        }
    }
}

/// When uploads and voting close, and whether they are open now.
#[utoipa::path(get, path = "/api/public/competition", tag = "public",
    responses((status = 200, description = "the competition's dates", body = Competition),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn public(State(state): State<AppState>) -> ApiResult<Json<Competition>> {
    Ok(Json(db::competition::get(&state.db).await?.into()))
}
