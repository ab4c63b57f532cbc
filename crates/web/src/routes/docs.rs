//! The OpenAPI document, generated from the handlers, and an interactive page
//! that works offline (no CDN: the page is embedded in the binary).

use axum::{Json, response::Html};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{auth, health, public, upload, videos};
use crate::error::{ErrorBody, FieldErrorBody};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "skillreel API", description = "Skills competition: uploads, processing, votes and rankings."),
    paths(
        health::root, health::live, health::ready,
        auth::signup, auth::login,
        upload::upload, videos::list, videos::get, videos::publish, videos::delete,
        public::videos, public::vote, public::rankings,
    ),
    components(schemas(ErrorBody, FieldErrorBody)),
    modifiers(&BearerAuth),
    tags((name = "health"), (name = "auth"), (name = "videos"), (name = "public")),
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /docs`: an interactive page over `/openapi.json`.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}
