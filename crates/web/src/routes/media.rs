//! `GET /media/{key}`: serves objects of the local store through signed, expiring
//! URLs, with HTTP Range support so browsers can seek. Only mounted with the local
//! backend; with S3 the URLs are presigned and point at the bucket.

use axum::{
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::{
    error::ApiError,
    extract::{Path, Query},
    state::AppState,
};

/// Signature of a local media URL.
#[derive(Debug, Deserialize)]
pub struct Signature {
    expires: u64,
    sig: String,
}

/// Content type of a stored object, from its key: every object is an MP4 video but
/// posters (`.jpg`).
fn media_type(key: &str) -> &'static str {
    if key.ends_with(".jpg") {
        "image/jpeg"
    } else {
        "video/mp4"
    }
}

/// Serves one stored object if the URL's signature is valid and unexpired.
pub async fn serve(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(signature): Query<Signature>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let store = state
        .local_media
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("Not found".into()))?;
    if !store.verify(&key, signature.expires, &signature.sig) {
        return Err(ApiError::Forbidden(
            "forbidden",
            "This media link is invalid or has expired".into(),
        ));
    }
    let path = store
        .path_of(&key)
        .map_err(|_| ApiError::NotFound("Not found".into()))?;
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(ApiError::NotFound("Media not found".into()));
    }
    let response = ServeFile::new_with_mime(path, &media_type(&key).parse().expect("static mime"))
        .oneshot(request)
        .await
        .map_err(ApiError::internal)?;
    Ok(response.map(Body::new).into_response())
}

#[cfg(test)]
mod tests {
    use super::media_type;

    #[test]
    fn posters_are_served_as_jpeg_and_the_rest_as_mp4() {
        assert_eq!(media_type("processed/thumbnails/a.jpg"), "image/jpeg");
        assert_eq!(media_type("processed/previews/a.mp4"), "video/mp4");
        assert_eq!(media_type("uploaded/a.mp4"), "video/mp4");
    }
}
