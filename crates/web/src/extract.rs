//! Extractors whose rejections use the API's error body.
//!
//! Handlers take these instead of axum's own (`Json`, `Query`, `Path`, `Multipart`),
//! whose rejections are text/plain: every malformed request gets the JSON error body.

use axum::{
    extract::{FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;
use skillreel_shared::db::{self, players};

use crate::{
    body::{self, BodyTimer},
    error::ApiError,
    state::AppState,
};

/// JSON body; a syntax error is `400`, a wrong shape `422`, a wrong content type `415`,
/// a body not received within `HTTP_BODY_TIMEOUT_SECS` `408`.
///
/// The time limit is here rather than on the router because only bodies read whole need
/// it: an upload streams for minutes under its own limits ([`Multipart`]), and the
/// handler timeout of the other routes would answer a stalled body with a misleading 503.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.http.body_timeout;
        let (req, timer) = body::time_limits(req, limit, limit);
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(match (timer.fired(), rejection) {
                (Some(timeout), _) => timeout.into(),
                (None, JsonRejection::JsonDataError(e)) => ApiError::Unprocessable(format!(
                    "invalid request body: {}",
                    e.body_text().trim_start_matches(
                        "Failed to deserialize the JSON body into the target type: "
                    )
                )),
                (None, JsonRejection::JsonSyntaxError(_)) => {
                    ApiError::BadRequest("malformed-json", "request body is not valid JSON".into())
                }
                (None, JsonRejection::MissingJsonContentType(_)) => ApiError::UnsupportedMediaType(
                    "expected a JSON body with Content-Type: application/json".into(),
                ),
                (None, other) => ApiError::rejection(other.status(), other.body_text()),
            }),
        }
    }
}

/// A video id from the path; anything but a positive integer is `422`.
#[derive(Debug, Clone, Copy)]
pub struct VideoId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for VideoId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        positive_id(parts, state, "video").await.map(Self)
    }
}

/// A player id from the path; anything but a positive integer is `422`.
#[derive(Debug, Clone, Copy)]
pub struct PlayerId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PlayerId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        positive_id(parts, state, "player").await.map(Self)
    }
}

/// The one path parameter, as a positive integer naming a `what`.
async fn positive_id<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    what: &str,
) -> Result<i64, ApiError> {
    let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::Unprocessable(format!(
            "{what} id must be a positive integer, got {raw:?}"
        ))),
    }
}

/// Path parameters; a value that does not parse is `400` (or `422`, as axum rates it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e| ApiError::rejection(e.status(), e.body_text()))
    }
}

/// A `multipart/form-data` upload: another content type (or none) is `415`, a multipart
/// one without a usable `boundary` `400`. Errors inside the body surface later, from
/// [`axum::extract::Multipart::next_field`]; when the body went silent for
/// `UPLOAD_IDLE_SECS` or was still arriving after `UPLOAD_MAX_SECS`, the [`BodyTimer`]
/// says so.
#[derive(Debug)]
pub struct Multipart(pub axum::extract::Multipart, pub BodyTimer);

impl FromRequest<AppState> for Multipart {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let essence = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim);
        if !essence.is_some_and(|e| e.eq_ignore_ascii_case("multipart/form-data")) {
            return Err(ApiError::UnsupportedMediaType(
                "expected a multipart/form-data body with the fields video_file and title".into(),
            ));
        }
        let limits = &state.config.upload;
        let (req, timer) = body::time_limits(req, limits.idle_timeout, limits.max_receive_time);
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(|form| Self(form, timer))
            .map_err(|_| {
                ApiError::BadRequest(
                    "bad-multipart",
                    "the multipart/form-data Content-Type has no valid `boundary`".into(),
                )
            })
    }
}

/// Query string; unparseable values are `422` naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| {
                ApiError::Unprocessable(e.body_text().replace(
                    "Failed to deserialize query string: ",
                    "invalid query parameter: ",
                ))
            })
    }
}

/// The authenticated player (a valid, unexpired bearer token of an existing account).
#[derive(Debug, Clone, Copy)]
pub struct CurrentPlayer(pub i64);

impl FromRequestParts<AppState> for CurrentPlayer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let TokenPlayer(id) = TokenPlayer::from_request_parts(parts, state).await?;
        account(state, id).await?;
        Ok(Self(id))
    }
}

/// An authenticated organizer: a [`CurrentPlayer`] whose e-mail is in `ADMIN_EMAILS`.
/// Every `/api/admin/*` handler takes one: `401` without a valid token, `403` for a player.
#[derive(Debug, Clone)]
pub struct Organizer {
    /// The organizer's player id.
    pub id: i64,
    /// The organizer's e-mail (recorded in the audit log).
    pub email: String,
}

impl FromRequestParts<AppState> for Organizer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let TokenPlayer(id) = TokenPlayer::from_request_parts(parts, state).await?;
        let access = account(state, id).await?;
        if !state.config.organizers.is_organizer(&access.email) {
            return Err(ApiError::Forbidden(
                "organizers-only",
                "Only the competition's organizers can do this".into(),
            ));
        }
        Ok(Self {
            id,
            email: access.email,
        })
    }
}

/// The competition still takes uploads: `403 uploads-closed` once `uploads_close_at` has
/// passed. Upload handlers take it after the player and before the body, so a closed
/// competition reads and stores nothing.
#[derive(Debug, Clone, Copy)]
pub struct UploadsOpen;

impl FromRequestParts<AppState> for UploadsOpen {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if db::competition::uploads_open(&state.db).await? {
            Ok(Self)
        } else {
            Err(ApiError::Forbidden(
                "uploads-closed",
                "Uploads are closed for this competition".into(),
            ))
        }
    }
}

/// The account a valid token names: refused when it no longer exists or is suspended.
async fn account(state: &AppState, id: i64) -> Result<players::Access, ApiError> {
    match players::access(&state.db, id).await? {
        None => Err(unknown_player()),
        Some(access) if access.suspended => Err(suspended()),
        Some(access) => Ok(access),
    }
}

/// The player a valid, unexpired bearer token names, without asking the database
/// whether the account still exists: for a handler whose own query checks it (a vote
/// batch does, so a vote costs no extra round trip). Answer [`unknown_player`] when
/// that check fails.
#[derive(Debug, Clone, Copy)]
pub struct TokenPlayer(pub i64);

impl FromRequestParts<AppState> for TokenPlayer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("Not authenticated".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization header must be `Bearer <token>`".into())
            })?;
        let id = state
            .tokens
            .verify(token)
            .map_err(|_| ApiError::Unauthorized("Invalid or expired token".into()))?;
        Ok(Self(id))
    }
}

/// The answer to a suspended account, at login and to its tokens: `403 account-suspended`.
pub fn suspended() -> ApiError {
    ApiError::Forbidden(
        "account-suspended",
        "This account is suspended by the competition's organizers".into(),
    )
}

/// The answer to a valid token of an account that no longer exists: the same as to a bad
/// token.
pub fn unknown_player() -> ApiError {
    ApiError::Unauthorized("Invalid or expired token".into())
}
