//! The one error type of the HTTP layer.
//!
//! Every rejection becomes `{"detail": "...", "code": "kebab-case"}` (validation
//! errors add `errors: [{field, message}]`). 5xx bodies say nothing internal: the
//! cause is kept in a response extension and logged once by the logging middleware.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use skillreel_shared::domain::FieldError;
use utoipa::ToSchema;

/// Body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Human-readable message.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Per-field problems of a validation error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorBody>>,
}

/// One field problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// Field name.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Internal cause of a 5xx, attached to the response for the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

/// An API failure.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a specific code.
    BadRequest(&'static str, String),
    /// 401.
    Unauthorized(String),
    /// 403 with a specific code (`forbidden` when nothing more specific applies).
    Forbidden(&'static str, String),
    /// 404.
    NotFound(String),
    /// 408: the client was too slow sending its request.
    RequestTimeout(String),
    /// 409.
    Conflict(&'static str, String),
    /// 410 with a specific code: the resource existed and is no longer usable.
    Gone(&'static str, String),
    /// 413.
    PayloadTooLarge(String),
    /// 415.
    UnsupportedMediaType(String),
    /// 422 with per-field errors.
    Validation(Vec<FieldError>),
    /// 422 with a single message (unparseable values).
    Unprocessable(String),
    /// 429 with `Retry-After: <retry_after>`: a limit on this client or player.
    TooManyRequests {
        /// Stable code naming the limit.
        code: &'static str,
        /// What the client may do.
        detail: String,
        /// Seconds until trying again may succeed.
        retry_after: u64,
    },
    /// 503 with its own code and `Retry-After`: this instance is at capacity (nothing
    /// is down, so there is no internal cause to log).
    Busy {
        /// Stable code naming the capacity.
        code: &'static str,
        /// What the client may do.
        detail: String,
        /// Seconds until trying again may succeed.
        retry_after: u64,
    },
    /// 503: a dependency is down; the message names it.
    Unavailable(String, String),
    /// 500; the string is logged, never sent.
    Internal(String),
}

impl ApiError {
    /// A 500 from any error, keeping its text for the log.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }

    /// An axum extractor's rejection (its status and text) in the API's shape: what
    /// the client sent is a 4xx with the usual body, never axum's text/plain; a
    /// rejection that is the server's fault stays a 500 whose text is only logged.
    pub fn rejection(status: StatusCode, detail: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(detail),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(detail),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(detail),
            s if s.is_client_error() => Self::BadRequest("bad-request", detail),
            _ => Self::Internal(detail),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(..) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(..) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::Gone(..) => StatusCode::GONE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(..) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A write of the group commit (votes, views): the database's answer for the batch.
impl From<skillreel_shared::batch::WriteError> for ApiError {
    fn from(err: skillreel_shared::batch::WriteError) -> Self {
        use skillreel_shared::batch::WriteError;
        match err {
            WriteError::Unavailable(cause) => {
                Self::Unavailable("database unavailable, try again shortly".into(), cause)
            }
            WriteError::Failed(cause) => Self::Internal(cause),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if skillreel_shared::db::is_unavailable(&err) {
            Self::Unavailable(
                "database unavailable, try again shortly".into(),
                err.to_string(),
            )
        } else {
            Self::Internal(err.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Self::TooManyRequests { retry_after, .. } | Self::Busy { retry_after, .. } => {
                Some(*retry_after)
            }
            // Every other 503 is temporary: a dependency restarting, or a full hashing queue.
            Self::Unavailable(..) => Some(5),
            _ => None,
        };
        let (detail, code, errors, cause) = match self {
            Self::BadRequest(code, m) => (m, code, None, None),
            Self::Unauthorized(m) => (m, "unauthorized", None, None),
            Self::Forbidden(code, m) => (m, code, None, None),
            Self::NotFound(m) => (m, "not-found", None, None),
            Self::RequestTimeout(m) => (m, "request-timeout", None, None),
            Self::Conflict(code, m) | Self::Gone(code, m) => (m, code, None, None),
            Self::PayloadTooLarge(m) => (m, "payload-too-large", None, None),
            Self::UnsupportedMediaType(m) => (m, "unsupported-media-type", None, None),
            Self::Unprocessable(m) => (m, "validation-error", None, None),
            Self::Validation(fields) => {
                let detail = fields
                    .iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let list = fields
                    .into_iter()
                    .map(|f| FieldErrorBody {
                        field: f.field.to_owned(),
                        message: f.message,
                    })
                    .collect();
                (detail, "validation-error", Some(list), None)
            }
            Self::TooManyRequests { code, detail, .. } | Self::Busy { code, detail, .. } => {
                (detail, code, None, None)
            }
            Self::Unavailable(m, cause) => (m, "service-unavailable", None, Some(cause)),
            Self::Internal(cause) => (
                "internal server error".to_owned(),
                "internal",
                None,
                Some(cause),
            ),
        };
        let mut response = (
            status,
            Json(ErrorBody {
                detail,
                code,
                errors,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
