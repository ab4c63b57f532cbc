//! The OpenAPI document keeps saying everything a client needs: the statuses every
//! route shares, their headers, and bounds on every input. (scripts/schemathesis.sh
//! checks the service against it; this catches a regression of the document itself
//! without running the service.)

use serde_json::Value;
use skillreel_web::routes::docs::{NOT_RATE_LIMITED, document};
use sqlx::PgPool;

use crate::helpers::TestApp;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_owned(), path.clone(), op));
            }
        }
    }
    assert!(out.len() >= 13, "the document lost operations: {out:?}");
    out
}

/// Follows a `$ref` to `#/components/schemas/...`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn has_type(schema: &Value, ty: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == ty,
        Value::Array(types) => types.iter().any(|t| t == ty),
        _ => false,
    }
}

fn required_header(response: &Value, name: &str) -> bool {
    response["headers"][name]["required"] == Value::Bool(true)
}

#[test]
fn every_response_is_json_with_a_schema_and_its_headers() {
    let doc = document();
    for (method, path, op) in operations(doc) {
        let responses = op["responses"].as_object().expect("responses");
        let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
        let label = format!("{method} {path}");
        for (status, response) in responses {
            if status == "204" {
                assert!(response.get("content").is_none(), "{label} 204 has a body");
                continue;
            }
            // The exceptions: the live status stream is an event stream, an export is CSV.
            let media_type = match status.as_str() {
                "200" if path.ends_with("/events") => "text/event-stream",
                "200" if path.ends_with(".csv") => "text/csv",
                _ => "application/json",
            };
            let schema = &response["content"][media_type]["schema"];
            assert!(
                schema.is_object(),
                "{label} {status}: no {media_type} schema"
            );
            match status.as_str() {
                "401" => assert!(
                    required_header(response, "WWW-Authenticate"),
                    "{label} 401 without WWW-Authenticate"
                ),
                "429" | "503" => assert!(
                    required_header(response, "Retry-After"),
                    "{label} {status} without Retry-After"
                ),
                _ => {}
            }
        }
        if NOT_RATE_LIMITED.contains(&path.as_str()) {
            assert!(!statuses.contains(&"429"), "{label} is not rate limited");
        } else {
            assert!(statuses.contains(&"429"), "{label} does not declare 429");
        }
        let authenticated = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if authenticated {
            assert!(statuses.contains(&"401"), "{label}: authenticated, no 401");
        }
        if path.contains("{id}") {
            assert!(statuses.contains(&"422"), "{label}: a bad id is 422");
        }
        if op.get("requestBody").is_some() {
            for status in ["408", "415", "422"] {
                assert!(statuses.contains(&status), "{label} with a body: {status}");
            }
        }
    }
}

#[test]
fn every_parameter_and_body_field_is_bounded() {
    let doc = document();
    for (method, path, op) in operations(doc) {
        let label = format!("{method} {path}");
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap();
            let schema = resolve(doc, &param["schema"]);
            if has_type(schema, "integer") {
                assert!(schema["minimum"].is_number(), "{label} {name}: no minimum");
                if param["in"] == "path" {
                    assert_eq!(schema["minimum"], 1, "{label} {name}: ids are positive");
                    assert_eq!(schema["format"], "int64", "{label} {name}");
                } else {
                    assert!(schema["maximum"].is_number(), "{label} {name}: no maximum");
                }
            } else if has_type(schema, "string") {
                assert!(
                    schema["maxLength"].is_number(),
                    "{label} {name}: no maxLength"
                );
            } else {
                panic!("{label} {name}: unexpected parameter schema {schema}");
            }
        }
        let Some(content) = op["requestBody"]["content"].as_object() else {
            continue;
        };
        for (media_type, body) in content {
            let schema = resolve(doc, &body["schema"]);
            let properties = schema["properties"].as_object().expect("properties");
            for (name, field) in properties {
                if has_type(field, "string") && field["format"] != "binary" {
                    assert!(
                        field["maxLength"].is_number(),
                        "{label} {media_type} {name}: no maxLength"
                    );
                }
            }
        }
    }
}

#[test]
fn the_known_bounds_are_the_ones_the_code_enforces() {
    let doc = document();
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} {name}"))["schema"]
            .clone()
    };
    for path in ["/api/public/videos", "/api/public/rankings"] {
        assert_eq!(param(path, "page")["minimum"], 1);
        assert_eq!(param(path, "page")["maximum"], 10_000);
        assert_eq!(param(path, "limit")["minimum"], 1);
        assert_eq!(param(path, "limit")["maximum"], 100);
        assert_eq!(param(path, "city")["maxLength"], 100);
    }
    assert_eq!(param("/api/public/videos", "q")["maxLength"], 100);
    assert_eq!(
        param("/api/public/trending", "window_hours")["maximum"],
        168
    );
    assert_eq!(param("/api/public/trending", "limit")["maximum"], 50);
    assert_eq!(param("/api/admin/rankings.csv", "city")["maxLength"], 100);
    let schemas = &doc["components"]["schemas"];
    let signup = &schemas["SignupRequest"]["properties"];
    for field in ["first_name", "last_name", "city", "country"] {
        assert_eq!(signup[field]["minLength"], 1, "{field}");
        assert_eq!(signup[field]["maxLength"], 100, "{field}");
    }
    assert_eq!(signup["email"]["maxLength"], 254);
    assert_eq!(signup["password1"]["minLength"], 8);
    assert_eq!(signup["password1"]["maxLength"], 72);
    assert_eq!(
        schemas["LoginRequest"]["properties"]["password"]["maxLength"],
        72
    );
    assert_eq!(
        schemas["UploadForm"]["properties"]["title"]["maxLength"],
        255
    );
    assert_eq!(
        schemas["SetCompetition"]["required"],
        serde_json::json!(["uploads_close_at", "voting_close_at"]),
        "null opens, a missing date is refused"
    );
    let statuses = |method: &str, path: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let upload = statuses("post", "/api/videos/upload");
    for status in [
        "201", "400", "401", "403", "408", "415", "422", "429", "503",
    ] {
        assert!(upload.iter().any(|s| s == status), "upload {status}");
    }
    let resumable = [
        (
            "post",
            "/api/videos/uploads",
            &["201", "400", "403", "422", "429"][..],
        ),
        (
            "get",
            "/api/videos/uploads/{upload_id}/parts/{part_number}",
            &["200", "400", "404", "410"],
        ),
        (
            "get",
            "/api/videos/uploads/{upload_id}/parts",
            &["200", "404", "410"],
        ),
        (
            "post",
            "/api/videos/uploads/{upload_id}/complete",
            &["201", "400", "403", "404", "410", "503"],
        ),
        ("delete", "/api/videos/uploads/{upload_id}", &["204", "404"]),
    ];
    for (method, path, expected) in resumable {
        let got = statuses(method, path);
        for status in expected {
            assert!(got.iter().any(|s| s == status), "{method} {path} {status}");
        }
    }
    for path in [
        "/api/public/videos",
        "/api/public/rankings",
        "/api/public/trending",
    ] {
        assert!(
            doc["paths"][path]["get"]["responses"]["200"]["headers"]["x-cache"].is_object(),
            "{path}: x-cache"
        );
    }
}

/// Every operation of the document is routed (the document cannot describe a path the
/// router renamed), and `/openapi.json` serves the document.
#[sqlx::test(migrations = "../../migrations")]
async fn every_documented_operation_is_routed(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Doc", "Cali").await;
    let served: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert_eq!(&served, document());
    for (method, path, _) in operations(document()) {
        let url = app.url(&path.replace("{id}", "999999"));
        let response = app
            .client
            .request(method.to_uppercase().parse().unwrap(), url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path} is not routed");
        assert_ne!(body["detail"], "Not found", "{method} {path} is not routed");
    }
}
