//! `GET /api/admin/audit`: the organizers' actions, newest first.

use axum::{Json as JsonResponse, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skillreel_shared::{db, domain::Page};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Organizer, Query},
    state::AppState,
};

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1-based page [1].
    #[param(minimum = 1, maximum = 10000)]
    pub page: Option<i64>,
    /// Entries per page [50].
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// One organizer action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Id (increasing).
    pub id: i64,
    /// When (RFC 3339).
    pub at: DateTime<Utc>,
    /// The organizer's player id (`null` once that account is deleted).
    pub actor_id: Option<i64>,
    /// The organizer's e-mail.
    pub actor_email: String,
    /// What: `hide-video`, `restore-video`, `suspend-player`, `unsuspend-player`,
    /// `set-competition`.
    pub action: String,
    /// `video`, `player` or `competition`.
    pub target_type: Option<String>,
    /// The video's or player's id.
    pub target_id: Option<i64>,
    /// The organizer's reason, when the action takes one.
    pub reason: Option<String>,
    /// What the action changed.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// Every organizer action: who, what, when and why, newest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, description = "a page of the audit log", body = [AuditEntry]),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 422, description = "page or limit out of range", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _organizer: Organizer,
    Query(q): Query<AuditQuery>,
) -> ApiResult<JsonResponse<Vec<AuditEntry>>> {
    let page = Page::new(q.page, q.limit, 50).map_err(ApiError::Validation)?;
    let entries = db::audit::list(&state.db, page).await?;
    Ok(JsonResponse(
        entries
            .into_iter()
            .map(|e| AuditEntry {
                id: e.id,
                at: e.at,
                actor_id: e.actor_id,
                actor_email: e.actor_email,
                action: e.action,
                target_type: e.target_type,
                target_id: e.target_id,
                reason: e.reason,
                details: e.details,
            })
            .collect(),
    ))
}
