//! The OpenAPI document, generated from the handlers, and an interactive page
//! that works offline (no CDN: the page is embedded in the binary).
//!
//! The document is the contract clients and the schemathesis run in CI test against:
//! every status a route can answer, its body and headers, and the bounds of every
//! input. Each handler's `#[utoipa::path]` lists what is its own; what every route
//! shares is added once, here ([`SharedResponses`]): the `429` of the rate limits, the
//! `401` of the authenticated routes, and the headers that go with `401`, `429` and `503`.

use std::sync::LazyLock;

use axum::response::Html;
use serde_json::Value;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, ResponseBuilder,
        header::HeaderBuilder,
        path::{Operation, PathItem},
        schema::{ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use super::{admin, auth, competition, events, health, public, upload, uploads, videos, views};
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

/// Routes the rate limits leave alone: load balancers and orchestrators poll them.
pub const NOT_RATE_LIMITED: &[&str] = &["/health/live", "/health/ready"];

/// Response headers that are always sent with their status, marked `required` in the
/// document (utoipa's header type cannot say so; [`document`] adds it).
pub const REQUIRED_HEADERS: &[&str] = &["Retry-After", "WWW-Authenticate"];

/// Adds what every route shares: `429` (rate limited) on every route but the health
/// probes, `401` on every authenticated route, `Retry-After` on every `429` and `503`,
/// `WWW-Authenticate: Bearer` on every `401`, and the optional `x-request-id` everywhere.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let rate_limited = !NOT_RATE_LIMITED.contains(&path.as_str());
            for op in operations_mut(item) {
                let responses = &mut op.responses.responses;
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses.entry("401".into()).or_insert_with(|| {
                        error_response("missing, malformed, expired or forged bearer token")
                    });
                }
                if rate_limited {
                    responses.entry("429".into()).or_insert_with(|| {
                        error_response(
                            "rate limited (`code` names the limit, e.g. `too-many-requests`, \
                             `too-many-logins`, `too-many-signups`, `too-many-votes`, \
                             `too-many-uploads`); retry after `Retry-After` seconds",
                        )
                    });
                }
                for (status, response) in responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    response.headers.insert(
                        "x-request-id".into(),
                        HeaderBuilder::new()
                            .schema(ObjectBuilder::new().schema_type(Type::String))
                            .description(Some(
                                "the request's id (the client's own `x-request-id`, or a new \
                                 UUID); the service's log lines for the request carry it",
                            ))
                            .build(),
                    );
                    match status.as_str() {
                        "401" => {
                            response.headers.insert(
                                "WWW-Authenticate".into(),
                                HeaderBuilder::new()
                                    .schema(ObjectBuilder::new().schema_type(Type::String))
                                    .description(Some("always `Bearer`"))
                                    .build(),
                            );
                        }
                        "429" | "503" => {
                            response.headers.insert(
                                "Retry-After".into(),
                                HeaderBuilder::new()
                                    .schema(
                                        ObjectBuilder::new()
                                            .schema_type(Type::Integer)
                                            .minimum(Some(0)),
                                    )
                                    .description(Some("seconds to wait before trying again"))
                                    .build(),
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "skillreel API", description = "Skills competition: uploads, processing, votes and rankings.\n\n\
        Errors are `{\"detail\", \"code\"}` (validation errors add `errors`). Every route but the \
        health probes may answer `429` with `Retry-After`; every `503` carries `Retry-After`; \
        every `401` carries `WWW-Authenticate: Bearer`."),
    paths(
        health::root, health::live, health::ready,
        auth::signup, auth::login, auth::me,
        upload::upload, videos::list, videos::get, videos::publish, videos::delete,
        uploads::start, uploads::sign_part, uploads::list_parts, uploads::complete, uploads::abort,
        public::videos, public::vote, public::rankings,
        views::view, views::trending, competition::public,
        events::events,
        admin::audit::list,
        admin::videos::list, admin::videos::hide, admin::videos::restore,
        admin::players::suspend, admin::players::unsuspend,
        admin::competition::get, admin::competition::set, admin::results::rankings_csv,
        admin::stats::stats,
    ),
    components(schemas(ErrorBody, FieldErrorBody)),
    modifiers(&BearerAuth, &SharedResponses),
    tags((name = "health"), (name = "auth"), (name = "videos"), (name = "public"), (name = "admin")),
)]
pub struct ApiDoc;

/// The document as served: [`ApiDoc`] with the [`REQUIRED_HEADERS`] marked `required`.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document");
        mark_required_headers(&mut doc);
        events::describe_stream(&mut doc);
        doc
    });
    &DOCUMENT
}

fn mark_required_headers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, header) in headers.iter_mut() {
            if REQUIRED_HEADERS.contains(&name.as_str())
                && let Some(header) = header.as_object_mut()
            {
                header.insert("required".into(), Value::Bool(true));
            }
        }
    }
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> axum::Json<&'static Value> {
    axum::Json(document())
}

/// `GET /docs`: an interactive page over `/openapi.json`.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}
