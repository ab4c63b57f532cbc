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
    error::{ApiError, ApiResult, ErrorBody},
    extract::{CurrentPlayer, Json},
    state::AppState,
};

/// Sign-up request. Text fields refuse control characters; names, city and country
/// must not be blank.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"first_name": "Ana", "last_name": "Pérez", "email": "ana@example.com",
    "city": "Bogotá", "country": "Colombia", "password1": "s3cret-pass", "password2": "s3cret-pass"}))]
pub struct SignupRequest {
    /// First name (1–100 characters, not blank).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub first_name: String,
    /// Last name (1–100 characters, not blank).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub last_name: String,
    /// E-mail, unique regardless of case.
    #[schema(format = Email, min_length = 3, max_length = 254)]
    pub email: String,
    /// City (1–100 characters, not blank).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub city: String,
    /// Country (1–100 characters, not blank).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub country: String,
    /// Password: at least 8 characters, at most 72 bytes (UTF-8), no control characters.
    #[schema(format = Password, min_length = 8, max_length = 72, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub password1: String,
    /// The same password again.
    #[schema(format = Password, min_length = 8, max_length = 72, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
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
    responses((status = 201, description = "the new player", body = PlayerResponse),
              (status = 400, description = "passwords differ, email taken, or the body is not valid JSON", body = ErrorBody),
              (status = 408, description = "the body was not sent in time", body = ErrorBody),
              (status = 413, description = "the body is over 2 MB", body = ErrorBody),
              (status = 415, description = "the body is not `application/json`", body = ErrorBody),
              (status = 422, description = "invalid fields (missing, malformed, over-long, control characters)", body = ErrorBody),
              (status = 503, description = "too many sign-ins at once, or the database is down", body = ErrorBody)))]
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
#[schema(example = json!({"email": "ana@example.com", "password": "s3cret-pass"}))]
pub struct LoginRequest {
    /// E-mail (any case).
    #[schema(max_length = 254, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub email: String,
    /// Password (at most 72 bytes, UTF-8).
    #[schema(format = Password, max_length = 72, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub password: String,
}

/// An access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT (HS256).
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Exchanges e-mail and password for an access token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "a bearer token", body = TokenResponse),
              (status = 400, description = "the body is not valid JSON", body = ErrorBody),
              (status = 401, description = "unknown email or wrong password (the same answer for both)", body = ErrorBody),
              (status = 403, description = "right password, but the account is suspended (`account-suspended`)", body = ErrorBody),
              (status = 408, description = "the body was not sent in time", body = ErrorBody),
              (status = 413, description = "the body is over 2 MB", body = ErrorBody),
              (status = 415, description = "the body is not `application/json`", body = ErrorBody),
              (status = 422, description = "missing or over-long fields, or control characters in them", body = ErrorBody),
              (status = 503, description = "too many sign-ins at once, or the database is down", body = ErrorBody)))]
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
    let (id, hash, suspended) = match account {
        Some(c) => (Some(c.id), Some(c.password_hash), c.suspended),
        None => (None, None, false),
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
    // Told only to whoever knows the password: a suspension is nobody else's business.
    if suspended {
        return Err(crate::extract::suspended());
    }
    state.limiter.login_succeeded(&req.email).await;
    let access_token = state.tokens.issue(id).map_err(ApiError::internal)?;
    Ok(JsonResponse(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.tokens.ttl_secs(),
    }))
}

/// The signed-in account, with its role.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
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
    /// `organizer` when the e-mail is in `ADMIN_EMAILS`, else `player`.
    #[schema(example = "player")]
    pub role: Role,
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Uploads, publishes and votes.
    Player,
    /// Also moderates, sets the rounds' dates and reads the results (`/api/admin/*`).
    Organizer,
}

/// The account the token belongs to, with its role.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "the account and its role", body = MeResponse),
              (status = 401, description = "no valid token, or the account no longer exists", body = ErrorBody),
              (status = 403, description = "the account is suspended (`account-suspended`)", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    CurrentPlayer(id): CurrentPlayer,
) -> ApiResult<JsonResponse<MeResponse>> {
    let player = db::players::get(&state.db, id)
        .await?
        .ok_or_else(crate::extract::unknown_player)?;
    let role = if state.config.organizers.is_organizer(&player.email) {
        Role::Organizer
    } else {
        Role::Player
    };
    Ok(JsonResponse(MeResponse {
        id: player.id,
        first_name: player.first_name,
        last_name: player.last_name,
        email: player.email,
        city: player.city,
        country: player.country,
        role,
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
