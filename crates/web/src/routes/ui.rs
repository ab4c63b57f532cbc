//! The web front end, served under `/app/` from assets embedded in the binary.
//!
//! A small static table maps asset paths to embedded files. Every other `/app/*`
//! path answers the single page (`index.html`), which routes on the client. The
//! router trims trailing slashes before routing, so `/app` and `/app/` are the same
//! request here and both serve the page (its URLs are absolute, so either works).
//! Responses carry an `ETag` (hash of the embedded bytes) and `Cache-Control:
//! no-cache`, so browsers revalidate cheaply and never run stale code after a deploy.

use std::sync::OnceLock;

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use axum::extract::State;
use skillreel_shared::config::{StorageBackend, StorageConfig};

use crate::{extract::Path, state::AppState};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ct:expr) => {
        Asset {
            path: $path,
            content_type: $ct,
            body: include_bytes!(concat!("../../ui/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("assets/app.css", "text/css; charset=utf-8"),
    asset!("assets/favicon.svg", "image/svg+xml"),
    asset!("assets/js/main.js", JS),
    asset!("assets/js/api.js", JS),
    asset!("assets/js/dom.js", JS),
    asset!("assets/js/session.js", JS),
    asset!("assets/js/pages/gallery.js", JS),
    asset!("assets/js/pages/video.js", JS),
    asset!("assets/js/pages/rankings.js", JS),
    asset!("assets/js/pages/auth.js", JS),
    asset!("assets/js/pages/myvideos.js", JS),
    asset!("assets/js/upload.js", JS),
    asset!("assets/js/live.js", JS),
    asset!("assets/js/account.js", JS),
    asset!("assets/js/competition.js", JS),
    asset!("assets/js/charts.js", JS),
    asset!("assets/js/pages/trending.js", JS),
    asset!("assets/js/pages/admin/common.js", JS),
    asset!("assets/js/pages/admin/dashboard.js", JS),
    asset!("assets/js/pages/admin/moderation.js", JS),
    asset!("assets/js/pages/admin/competition.js", JS),
    // Uppy, bundled by scripts/vendor-uppy.sh (loaded by the upload form only).
    asset!("assets/vendor/uppy.min.js", JS),
    asset!(
        "assets/vendor/uppy.LICENSES.txt",
        "text/plain; charset=utf-8"
    ),
    // Chart.js, fetched by scripts/vendor-chartjs.sh (loaded by the organizer's dashboard).
    asset!("assets/vendor/chart.umd.js", JS),
    asset!(
        "assets/vendor/chart.LICENSES.txt",
        "text/plain; charset=utf-8"
    ),
];

/// What the page may load: only this origin, plus media and posters from anywhere
/// (presigned S3 or CDN URLs), and uploads to the bucket ([`upload_origin`]).
fn csp(storage: &StorageConfig) -> String {
    let connect = match upload_origin(&storage.backend, storage.endpoint_url.as_deref()) {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: https: http: blob:; media-src 'self' https: http: blob:; \
         connect-src {connect}; object-src 'none'; base-uri 'self'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Where the browser PUTs the parts of a resumable upload, beside this origin: the S3
/// endpoint of the presigned `UploadPart` URLs (an emulator's origin when
/// `S3_ENDPOINT_URL` is set, else any AWS S3 host). The local backend's part URLs are
/// this service's own.
fn upload_origin(backend: &StorageBackend, endpoint_url: Option<&str>) -> Option<String> {
    match backend {
        StorageBackend::Local => None,
        StorageBackend::S3 => Some(match endpoint_url {
            Some(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
                let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
                format!("{scheme}://{host}")
            }
            None => "https://*.amazonaws.com".to_owned(),
        }),
    }
}

/// FNV-1a, enough to tell versions of an embedded file apart.
fn etag_of(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| etag_of(a.body)).collect())
}

fn respond(index: usize, headers: &HeaderMap, csp: &str) -> Response {
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let mut out = HeaderMap::new();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, value);
    }
    if asset.content_type.starts_with("text/html") {
        if let Ok(value) = HeaderValue::from_str(csp) {
            out.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        out.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (out, asset.body).into_response()
}

fn index_of(path: &str) -> Option<usize> {
    ASSETS.iter().position(|a| a.path == path)
}

async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(
        index_of("index.html").unwrap_or(0),
        &headers,
        &csp(&state.config.storage),
    )
}

async fn file(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(i) = index_of(&path).filter(|_| path != "index.html") {
        return respond(i, &headers, &csp(&state.config.storage));
    }
    if path.starts_with("assets/") {
        // A missing script or stylesheet must not be answered with the page.
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not found",
        )
            .into_response();
    }
    page(State(state), headers).await
}

/// Routes of the front end.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(page))
        .route("/app/{*path}", get(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_unique_and_non_empty() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            assert_eq!(index_of(a.path), Some(i), "{} listed twice", a.path);
        }
    }

    #[test]
    fn the_page_may_send_parts_only_to_the_bucket() {
        assert_eq!(
            upload_origin(&StorageBackend::Local, Some("http://x:1")),
            None
        );
        assert_eq!(
            upload_origin(&StorageBackend::S3, Some("http://127.0.0.1:5055/")).as_deref(),
            Some("http://127.0.0.1:5055")
        );
        assert_eq!(
            upload_origin(&StorageBackend::S3, None).as_deref(),
            Some("https://*.amazonaws.com")
        );
    }

    #[test]
    fn etags_differ_between_files() {
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
    }
}
