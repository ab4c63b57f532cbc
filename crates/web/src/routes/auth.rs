//! Sign-up and login.

use axum::{Json as JsonResponse, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use skillreel_shared::{
    auth::AuthError,
    db::{self, players::EMAIL_UNIQUE},
    domain::{self, FieldError, NewPlayer},
};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult},
    extract::Json,
    state::AppState,
};

/// Sign-up request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    /// First name (1–100 characters).
    pub first_name: String,
    /// Last name (1–100 characters).
    pub last_name: String,
    /// E-mail, unique regardless of case.
    pub email: String,
    /// City (1–100 characters).
    pub city: String,
    /// Country (1–100 characters).
    pub country: String,
    /// Password, 8–72 bytes.
    pub password1: String,
    /// The same password again.
    pub password2: String,
}

/// A player as returned by sign-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlayerResponse {
    /// Id.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
}

const EMAIL_TAKEN: &str = "A player with this email already exists";

/// Creates a player account.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = PlayerResponse),
              (status = 400, description = "passwords differ or email taken", body = crate::error::ErrorBody),
              (status = 422, description = "invalid fields (missing, malformed, over-long, control characters)", body = crate::error::ErrorBody),
              (status = 503, description = "too many sign-ins at once (Retry-After)", body = crate::error::ErrorBody)))]
pub async fn signup(
    State(state): State<AppState>,
    Json(req): Json<SignupRequest>,
) -> ApiResult<(StatusCode, JsonResponse<PlayerResponse>)> {
    let new = NewPlayer {
        first_name: req.first_name,
        last_name: req.last_name,
        email: req.email,
        city: req.city,
        country: req.country,
    };
    let mut errors: Vec<FieldError> = new.validate();
    domain::check_password("password1", &req.password1, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if req.password1 != req.password2 {
        return Err(ApiError::BadRequest(
            "password-mismatch",
            "Passwords do not match".into(),
        ));
    }
    // Cheap pre-check so a taken e-mail does not cost a bcrypt hash; the unique index
    // below is what actually guarantees uniqueness under concurrent sign-ups.
    if db::players::email_taken(&state.db, &new.email).await? {
        return Err(ApiError::BadRequest("email-taken", EMAIL_TAKEN.into()));
    }
    let hash = state
        .hasher
        .hash(req.password1)
        .await
        .map_err(hashing_error)?;
    let player = db::players::insert(&state.db, &new, &hash)
        .await
        .map_err(|e| {
            if db::is_unique_violation(&e, EMAIL_UNIQUE) {
                ApiError::BadRequest("email-taken", EMAIL_TAKEN.into())
            } else {
                e.into()
            }
        })?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(PlayerResponse {
            id: player.id,
            first_name: player.first_name,
            last_name: player.last_name,
            email: player.email,
            city: player.city,
            country: player.country,
        }),
    ))
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// E-mail (any case).
    pub email: String,
    /// Password.
    pub password: String,
}

/// An access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT (HS256).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Exchanges e-mail and password for an access token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse),
              (status = 401, description = "unknown email or wrong password", body = crate::error::ErrorBody),
              (status = 422, description = "missing fields, or control characters in them", body = crate::error::ErrorBody),
              (status = 503, description = "too many sign-ins at once (Retry-After)", body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<JsonResponse<TokenResponse>> {
    let errors = domain::check_login(&req.email, &req.password);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Counted before the hash is checked, so parallel guesses cannot pass the limit.
    state
        .limiter
        .login_attempt(&req.email)
        .await
        .map_err(crate::limits::limited)?;
    let account = db::players::credentials(&state.db, &req.email).await?;
    let (id, hash) = match account {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    // Unknown e-mails are verified against a dummy hash: same time, same message.
    let ok = state
        .hasher
        .verify(req.password, hash)
        .await
        .map_err(hashing_error)?;
    let id = id
        .filter(|_| ok)
        .ok_or_else(|| ApiError::Unauthorized("Invalid email or password".into()))?;
    state.limiter.login_succeeded(&req.email).await;
    let access_token = state.tokens.issue(id).map_err(ApiError::internal)?;
    Ok(JsonResponse(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.tokens.ttl_secs(),
    }))
}

/// A full hashing queue is a `503` the client can retry; anything else is a `500`.
fn hashing_error(err: AuthError) -> ApiError {
    match err {
        AuthError::Busy => ApiError::Unavailable(
            "too many sign-ins at once, try again in a few seconds".into(),
            "bcrypt queue full".into(),
        ),
        other => ApiError::internal(other),
    }
}
