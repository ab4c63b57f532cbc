//! Suspending a player and lifting it: `POST /api/admin/players/{id}/suspend`,
//! `POST /api/admin/players/{id}/unsuspend`.

use axum::{Json as JsonResponse, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use skillreel_shared::{
    db::{
        self,
        suspension::{Change, Suspending},
    },
    domain,
};
use utoipa::ToSchema;

use super::videos::{ReasonRequest, actor, refresh_public};
use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Json, Organizer, PlayerId},
    state::AppState,
};

/// A player after a suspension or its end, with what it changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlayerModeration {
    /// Player id.
    pub id: i64,
    /// "first last".
    pub username: String,
    /// E-mail.
    pub email: String,
    /// City.
    pub city: String,
    /// Whether the player is suspended now.
    pub suspended: bool,
    /// Since when (null when not suspended).
    pub suspended_at: Option<DateTime<Utc>>,
    /// Why (null when not suspended).
    pub suspended_reason: Option<String>,
    /// Public videos hidden (suspension) or restored (its end).
    #[schema(minimum = 0)]
    pub videos_affected: i64,
    /// The player's votes no longer counted (suspension) or counted again (its end).
    #[schema(minimum = 0)]
    pub votes_affected: i64,
}

impl From<Change> for PlayerModeration {
    fn from(c: Change) -> Self {
        let p = c.player;
        Self {
            id: p.id,
            username: domain::username(&p.first_name, &p.last_name),
            email: p.email,
            city: p.city,
            suspended: p.suspended_at.is_some(),
            suspended_at: p.suspended_at,
            suspended_reason: p.suspended_reason,
            videos_affected: c.videos,
            votes_affected: c.votes,
        }
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("Player not found".into())
}

/// Suspends a player: they can no longer log in nor use their tokens, their public
/// videos are hidden and the votes they cast stop counting.
#[utoipa::path(post, path = "/api/admin/players/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "player id")),
    request_body = ReasonRequest,
    responses((status = 200, description = "the player, now suspended", body = PlayerModeration),
              (status = 400, description = "the body is not valid JSON", body = ErrorBody),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 404, description = "no such player", body = ErrorBody),
              (status = 408, description = "the body was not sent in time", body = ErrorBody),
              (status = 409, description = "suspended already (`already-suspended`), or an organizer (`cannot-suspend-organizer`)", body = ErrorBody),
              (status = 413, description = "the body is over 2 MB", body = ErrorBody),
              (status = 415, description = "the body is not `application/json`", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer, or the reason is missing, blank, too long or has control characters", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn suspend(
    State(state): State<AppState>,
    organizer: Organizer,
    PlayerId(id): PlayerId,
    Json(req): Json<ReasonRequest>,
) -> ApiResult<JsonResponse<PlayerModeration>> {
    let reason = req.parse()?;
    let target = db::players::access(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    if state.config.organizers.is_organizer(&target.email) {
        return Err(ApiError::Conflict(
            "cannot-suspend-organizer",
            "Organizers cannot be suspended; remove them from ADMIN_EMAILS first".into(),
        ));
    }
    let change = match db::suspension::suspend(&state.db, actor(&organizer), id, &reason).await? {
        Suspending::Done(change) => *change,
        Suspending::NotFound => return Err(not_found()),
        Suspending::AlreadyInThatState => {
            return Err(ApiError::Conflict(
                "already-suspended",
                "The player is suspended already".into(),
            ));
        }
    };
    refresh_public(&state).await;
    Ok(JsonResponse(change.into()))
}

/// Lifts a suspension: the player may log in again, the videos the suspension hid are
/// public again and their votes count again.
#[utoipa::path(post, path = "/api/admin/players/{id}/unsuspend", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "player id")),
    responses((status = 200, description = "the player, no longer suspended", body = PlayerModeration),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 404, description = "no such player", body = ErrorBody),
              (status = 409, description = "not suspended (`not-suspended`)", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn unsuspend(
    State(state): State<AppState>,
    organizer: Organizer,
    PlayerId(id): PlayerId,
) -> ApiResult<JsonResponse<PlayerModeration>> {
    let change = match db::suspension::unsuspend(&state.db, actor(&organizer), id).await? {
        Suspending::Done(change) => *change,
        Suspending::NotFound => return Err(not_found()),
        Suspending::AlreadyInThatState => {
            return Err(ApiError::Conflict(
                "not-suspended",
                "The player is not suspended".into(),
            ));
        }
    };
    refresh_public(&state).await;
    Ok(JsonResponse(change.into()))
}
