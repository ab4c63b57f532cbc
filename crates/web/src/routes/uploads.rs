//! Resumable direct uploads (`/api/videos/uploads...`), shaped like what Uppy's AWS S3
//! multipart plugin calls: start, sign a part, list parts, complete, abort.
//!
//! The process lives in [`skillreel_shared::ingest::resumable`]; these handlers parse
//! and shape. With S3 the part URLs are presigned and the bytes never reach a web
//! instance; with the local store they point at [`put_part`], a signed route of this
//! service that streams the part to disk under the classic upload's limits.

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use skillreel_shared::{
    ingest::resumable::{self, ClaimedPart, NewUpload, ResumableError},
    storage::{PlayableUrl, StoredPart},
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::upload::{UploadResponse, ingest, log_refusal};
use crate::{
    body,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{CurrentPlayer, Json as JsonBody, Path, Query, UploadsOpen},
    state::AppState,
};

/// A resumable upload as the client declares it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StartUpload {
    /// Title of the video, 1–255 characters (not blank), no control characters.
    #[schema(min_length = 1, max_length = 255)]
    pub title: String,
    /// The file's name, 1–255 characters.
    #[schema(min_length = 1, max_length = 255)]
    pub filename: String,
    /// Size in bytes, at most the upload limit (100 MB by default).
    #[schema(minimum = 1)]
    pub size: u64,
    /// The file's type as the client knows it (`video/mp4`, `video/quicktime`, or empty);
    /// the bytes decide in the end.
    #[serde(default)]
    #[schema(max_length = 255)]
    pub content_type: String,
}

/// A started upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedUpload {
    /// The id of every later call.
    pub upload_id: Uuid,
    /// Bytes of every part but the last (5 MiB).
    pub part_size: u64,
    /// Number of parts, `ceil(size / part_size)`.
    pub parts_count: u32,
    /// Until when the upload can be completed.
    pub expires_at: DateTime<Utc>,
}

/// Where to send one part's bytes.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrl {
    /// The URL (presigned S3, or a signed URL of this service), valid for a limited time.
    pub url: String,
    /// Always `PUT`; the response carries the part's `ETag` header.
    pub method: &'static str,
    /// Headers to send with the bytes.
    pub headers: std::collections::BTreeMap<String, String>,
}

/// One stored part.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartInfo {
    /// 1-based part number.
    pub part_number: u32,
    /// Bytes stored.
    pub size: u64,
    /// The part's ETag.
    pub etag: String,
}

impl From<StoredPart> for PartInfo {
    fn from(part: StoredPart) -> Self {
        Self {
            part_number: part.part_number,
            size: part.size,
            etag: part.etag,
        }
    }
}

/// The parts to assemble, as their PUTs answered.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteUpload {
    /// Every part, each once.
    #[schema(max_items = 10000)]
    pub parts: Vec<CompletedPartBody>,
}

/// One part of a completion.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletedPartBody {
    /// 1-based part number.
    #[schema(minimum = 1, maximum = 10000)]
    pub part_number: u32,
    /// The `ETag` its PUT answered with (quoted or not).
    #[schema(max_length = 200)]
    pub etag: String,
}

/// Path of one upload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UploadPath {
    /// The upload's id.
    #[param(max_length = 36)]
    pub upload_id: String,
}

/// Path of one part.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PartPath {
    /// The upload's id.
    #[param(max_length = 36)]
    pub upload_id: String,
    /// 1-based part number.
    #[param(value_type = i64, minimum = 1, format = Int64)]
    pub part_number: String,
}

/// Signature of a local part URL.
#[derive(Debug, Deserialize)]
pub struct PartSignature {
    expires: u64,
    sig: String,
}

fn upload_id(raw: &str) -> ApiResult<Uuid> {
    // An id that cannot be one is an upload that does not exist.
    Uuid::parse_str(raw).map_err(|_| ResumableError::NotFound.into())
}

fn part_number(raw: &str) -> ApiResult<u32> {
    raw.parse::<u32>().map_err(|_| {
        ApiError::BadRequest(
            "part-out-of-range",
            format!("part number must be a positive integer, got {raw:?}"),
        )
    })
}

impl From<ResumableError> for ApiError {
    fn from(err: ResumableError) -> Self {
        let code = err.code();
        match err {
            ResumableError::Invalid(fields) => Self::Validation(fields),
            ResumableError::Rejected(rejection) => rejection.into(),
            ResumableError::TooManyPending { .. } => Self::TooManyRequests {
                code,
                detail: err.to_string(),
                retry_after: 60,
            },
            ResumableError::Busy(refused) => refused.into(),
            ResumableError::NotFound => Self::NotFound(err.to_string()),
            ResumableError::Expired(_) => Self::Gone(code, err.to_string()),
            ResumableError::PartOutOfRange { .. }
            | ResumableError::PartTooLarge { .. }
            | ResumableError::PartBody(_)
            | ResumableError::PartsMissing(_)
            | ResumableError::PartsMismatch(_)
            | ResumableError::SizeMismatch { .. } => Self::BadRequest(code, err.to_string()),
            ResumableError::Accept(e) => e.into(),
            ResumableError::Storage(e) => Self::Unavailable(
                "storage unavailable, try again shortly".into(),
                e.to_string(),
            ),
            ResumableError::Database(e) => e.into(),
        }
    }
}

fn absolute(state: &AppState, url: PlayableUrl) -> String {
    match url {
        PlayableUrl::Absolute(url) => url,
        PlayableUrl::ServicePath(path) => match &state.config.http.public_base_url {
            Some(base) => format!("{base}{path}"),
            None => path,
        },
    }
}

/// Starts a resumable upload.
#[utoipa::path(post, path = "/api/videos/uploads", tag = "videos", security(("bearer" = [])),
    request_body = StartUpload,
    responses((status = 201, description = "started; send the parts, then complete", body = StartedUpload),
              (status = 400, description = "empty, over the size limit, or a type that cannot be an MP4; or a malformed JSON body", body = ErrorBody),
              (status = 403, description = "uploads have closed (`uploads-closed`: nothing is started), or the account is suspended (`account-suspended`)", body = ErrorBody),
              (status = 408, description = "the body stopped arriving", body = ErrorBody),
              (status = 415, description = "not a JSON body", body = ErrorBody),
              (status = 422, description = "missing or invalid title, filename or size", body = ErrorBody),
              (status = 503, description = "storage or database unavailable", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    _open: UploadsOpen,
    JsonBody(body): JsonBody<StartUpload>,
) -> ApiResult<(StatusCode, Json<StartedUpload>)> {
    let new = NewUpload {
        title: body.title,
        filename: body.filename,
        size: body.size,
        content_type: body.content_type,
    };
    let started = resumable::start(ingest(&state), player, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(StartedUpload {
            upload_id: started.upload_id,
            part_size: started.part_size,
            parts_count: started.parts_count,
            expires_at: started.expires_at,
        }),
    ))
}

/// Where to PUT one part's bytes: a presigned S3 `UploadPart` URL, or with local storage
/// a signed URL of this service (`PUT /api/videos/uploads/{upload_id}/parts/{part_number}?expires=..&sig=..`,
/// no bearer token, answered with the part's `ETag` header).
#[utoipa::path(get, path = "/api/videos/uploads/{upload_id}/parts/{part_number}", tag = "videos",
    security(("bearer" = [])), params(PartPath),
    responses((status = 200, description = "where to send the part", body = PartUrl),
              (status = 400, description = "part number outside 1..parts_count", body = ErrorBody),
              (status = 404, description = "no such upload for this player", body = ErrorBody),
              (status = 410, description = "the upload expired", body = ErrorBody),
              (status = 503, description = "storage or database unavailable", body = ErrorBody)))]
pub async fn sign_part(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    Path(path): Path<PartPath>,
) -> ApiResult<Json<PartUrl>> {
    let id = upload_id(&path.upload_id)?;
    let n = part_number(&path.part_number)?;
    let ttl = state.config.storage.presign_expiry;
    let target = resumable::part_target(ingest(&state), player, id, n, ttl).await?;
    Ok(Json(PartUrl {
        url: absolute(&state, target.url),
        method: target.method,
        headers: target.headers.into_iter().collect(),
    }))
}

/// The parts stored so far (to resume after losing everything but the upload id).
#[utoipa::path(get, path = "/api/videos/uploads/{upload_id}/parts", tag = "videos",
    security(("bearer" = [])), params(UploadPath),
    responses((status = 200, description = "stored parts by part number", body = [PartInfo]),
              (status = 404, description = "no such upload for this player", body = ErrorBody),
              (status = 410, description = "the upload expired", body = ErrorBody),
              (status = 503, description = "storage or database unavailable", body = ErrorBody)))]
pub async fn list_parts(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    Path(path): Path<UploadPath>,
) -> ApiResult<Json<Vec<PartInfo>>> {
    let id = upload_id(&path.upload_id)?;
    let parts = resumable::parts(ingest(&state), player, id).await?;
    Ok(Json(parts.into_iter().map(PartInfo::from).collect()))
}

/// Assembles the parts and accepts the video like `POST /api/videos/upload`: the same
/// inspection, the same `400`s, the same `201`. Once uploads have closed it is refused
/// (`403 uploads-closed`) even for an upload started before: the upload is kept until it
/// expires, so reopening lets the player complete it.
#[utoipa::path(post, path = "/api/videos/uploads/{upload_id}/complete", tag = "videos",
    security(("bearer" = [])), params(UploadPath), request_body = CompleteUpload,
    responses((status = 201, description = "stored and queued for processing", body = UploadResponse),
              (status = 400, description = "parts missing or not the stored ones (`parts-missing`, `parts-mismatch`, `size-mismatch`), a part number out of range, or the file refused as by the classic upload (the upload is then removed)", body = ErrorBody),
              (status = 403, description = "uploads have closed (`uploads-closed`: the upload is kept, nothing is accepted), or the account is suspended (`account-suspended`)", body = ErrorBody),
              (status = 404, description = "no such upload for this player", body = ErrorBody),
              (status = 408, description = "the body stopped arriving", body = ErrorBody),
              (status = 410, description = "the upload expired", body = ErrorBody),
              (status = 415, description = "not a JSON body", body = ErrorBody),
              (status = 422, description = "a malformed parts list", body = ErrorBody),
              (status = 503, description = "uploads busy on this instance, or storage, database or queue unavailable", body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    Path(path): Path<UploadPath>,
    _open: UploadsOpen,
    JsonBody(body): JsonBody<CompleteUpload>,
) -> ApiResult<(StatusCode, Json<UploadResponse>)> {
    let id = upload_id(&path.upload_id)?;
    // Inspection runs ffprobe: it takes an upload slot like a classic upload.
    let _slot = state.uploads.try_acquire(player)?;
    let claimed: Vec<ClaimedPart> = body
        .parts
        .into_iter()
        .map(|p| ClaimedPart {
            part_number: p.part_number,
            etag: p.etag,
        })
        .collect();
    let created = resumable::complete(ingest(&state), player, id, &claimed)
        .await
        .inspect_err(|e| {
            if let ResumableError::Accept(e) = e {
                log_refusal(player, e);
            }
        })?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Aborts an upload: its parts are removed.
#[utoipa::path(delete, path = "/api/videos/uploads/{upload_id}", tag = "videos",
    security(("bearer" = [])), params(UploadPath),
    responses((status = 204, description = "aborted; the parts are removed"),
              (status = 404, description = "no such upload for this player", body = ErrorBody),
              (status = 503, description = "storage or database unavailable", body = ErrorBody)))]
pub async fn abort(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    Path(path): Path<UploadPath>,
) -> ApiResult<StatusCode> {
    let id = upload_id(&path.upload_id)?;
    resumable::abort(ingest(&state), player, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT` of one part with the local store, through a URL [`sign_part`] handed out: the
/// signature is the authorisation. Streams to disk under the classic upload's time
/// limits, cut off past the part's size; answers with the part's `ETag`, as S3 does.
pub async fn put_part(
    State(state): State<AppState>,
    Path(path): Path<PartPath>,
    Query(signature): Query<PartSignature>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let store = state
        .local_media
        .clone()
        .ok_or_else(|| ApiError::NotFound("Not found".into()))?;
    let n = part_number(&path.part_number)?;
    if !store.verify_part(&path.upload_id, n, signature.expires, &signature.sig) {
        return Err(ApiError::Forbidden(
            "forbidden",
            "This upload link is invalid or has expired".into(),
        ));
    }
    let id = upload_id(&path.upload_id)?;
    let limits = &state.config.upload;
    let (request, timer) = body::time_limits(request, limits.idle_timeout, limits.max_receive_time);
    let stream = request.into_body().into_data_stream();
    let part = resumable::receive_part(ingest(&state), &store, &state.uploads, id, n, stream)
        .await
        .map_err(|e| match (timer.fired(), e) {
            (Some(timeout), _) => timeout.into(),
            (None, e) => ApiError::from(e),
        })?;
    let etag = HeaderValue::from_str(&part.etag).map_err(ApiError::internal)?;
    let mut response = Json(PartInfo::from(part)).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    // A browser may read the header only if it is exposed (same as the bucket's CORS).
    response.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    Ok(response)
}
