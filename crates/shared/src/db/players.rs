//! Players (accounts).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use crate::domain::NewPlayer;

/// A player as the API shows it.
#[derive(Debug, Clone, FromRow)]
pub struct Player {
    /// Id.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail as typed at sign-up.
    pub email: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

/// Name of the unique index on `lower(email)`.
pub const EMAIL_UNIQUE: &str = "players_email_lower_key";

/// Inserts a player; a taken e-mail (any case) is a unique violation of [`EMAIL_UNIQUE`].
pub async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewPlayer,
    password_hash: &str,
) -> Result<Player, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, first_name, last_name, email, city, country, created_at",
    )
    .bind(new.first_name.trim())
    .bind(new.last_name.trim())
    .bind(new.email.trim())
    .bind(new.city.trim())
    .bind(new.country.trim())
    .bind(password_hash)
    .fetch_one(db)
    .await
}

/// Whether an account uses this e-mail in any case (a cheap pre-check before hashing).
pub async fn email_taken(db: impl PgExecutor<'_>, email: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM players WHERE lower(email) = lower($1))")
        .bind(email.trim())
        .fetch_one(db)
        .await
}

/// What login needs of an account: its id, password hash and whether it is suspended.
#[derive(Debug, Clone, FromRow)]
pub struct Credentials {
    /// Id.
    pub id: i64,
    /// bcrypt hash.
    pub password_hash: String,
    /// Suspended by an organizer (login is refused after the password checked out).
    pub suspended: bool,
}

/// The credentials of the account with this e-mail (case-insensitive).
pub async fn credentials(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, password_hash, suspended_at IS NOT NULL AS suspended
           FROM players WHERE lower(email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_optional(db)
    .await
}

/// What a request with a valid token needs of its account.
#[derive(Debug, Clone, FromRow)]
pub struct Access {
    /// E-mail (decides the organizer role).
    pub email: String,
    /// Suspended by an organizer: the token is refused.
    pub suspended: bool,
}

/// The e-mail and suspension of a player, or `None` when the account no longer exists
/// (tokens of deleted accounts are refused). One primary-key read per request.
pub async fn access(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Access>, sqlx::Error> {
    sqlx::query_as("SELECT email, suspended_at IS NOT NULL AS suspended FROM players WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A player's own profile (`GET /api/auth/me`).
pub async fn get(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Player>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, first_name, last_name, email, city, country, created_at
           FROM players WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}
