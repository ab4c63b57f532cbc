//! `GET` and `PUT /api/admin/competition`: the organizers set when uploads and voting
//! close (`null` opens, or reopens).

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use skillreel_shared::{
    db::{self, audit::Actor, competition::Dates},
    domain::FieldError,
};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Json as JsonBody, Organizer},
    routes::competition::Competition,
    state::AppState,
};

/// The dates to set. Both fields are required: `null` means no closing date (open).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetCompetition {
    /// When uploads close, RFC 3339 with an offset (`2026-12-20T23:59:59Z`), or `null`.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(value_type = Option<String>, format = DateTime, max_length = 64, required = true)]
    pub uploads_close_at: Option<String>,
    /// When voting closes, RFC 3339 with an offset, or `null`.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(value_type = Option<String>, format = DateTime, max_length = 64, required = true)]
    pub voting_close_at: Option<String>,
}

/// Longest date accepted: RFC 3339 with nanoseconds and an offset is 35 characters.
const MAX_DATE_LEN: usize = 64;

fn date(
    field: &'static str,
    value: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let value = value?;
    let parsed = (value.len() <= MAX_DATE_LEN)
        .then(|| DateTime::parse_from_rfc3339(value).ok())
        .flatten();
    if parsed.is_none() {
        errors.push(FieldError {
            field,
            message: format!(
                "{field} must be an RFC 3339 date with an offset (e.g. 2026-12-20T23:59:59Z) or null"
            ),
        });
    }
    parsed.map(|d| d.with_timezone(&Utc))
}

/// The competition's dates.
#[utoipa::path(get, path = "/api/admin/competition", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "the competition's dates", body = Competition),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    _organizer: Organizer,
) -> ApiResult<Json<Competition>> {
    Ok(Json(db::competition::get(&state.db).await?.into()))
}

/// Sets when uploads and voting close (a past date closes at once; `null` or a future
/// date reopens). Recorded in the audit log as `set-competition` with the dates before
/// and after.
#[utoipa::path(put, path = "/api/admin/competition", tag = "admin", security(("bearer" = [])),
    request_body = SetCompetition,
    responses((status = 200, description = "the dates now in force", body = Competition),
              (status = 400, description = "malformed JSON", body = ErrorBody),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 408, description = "the body stopped arriving", body = ErrorBody),
              (status = 415, description = "not a JSON body", body = ErrorBody),
              (status = 422, description = "a field missing, or not an RFC 3339 date or null", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn set(
    State(state): State<AppState>,
    organizer: Organizer,
    JsonBody(body): JsonBody<SetCompetition>,
) -> ApiResult<Json<Competition>> {
    let mut errors = Vec::new();
    let dates = Dates {
        uploads_close_at: date(
            "uploads_close_at",
            body.uploads_close_at.as_deref(),
            &mut errors,
        ),
        voting_close_at: date(
            "voting_close_at",
            body.voting_close_at.as_deref(),
            &mut errors,
        ),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let actor = Actor {
        id: organizer.id,
        email: &organizer.email,
    };
    let competition = db::competition::set(&state.db, actor, dates).await?;
    tracing::info!(
        organizer.id = organizer.id,
        uploads_close_at = ?competition.uploads_close_at,
        voting_close_at = ?competition.voting_close_at,
        "competition dates set"
    );
    Ok(Json(competition.into()))
}
