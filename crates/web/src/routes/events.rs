//! `GET /api/videos/{id}/events`: the live status of one of the caller's videos, as
//! server-sent events (the process is `skillreel_shared::events::stream`).

use std::convert::Infallible;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::StreamExt;
use skillreel_shared::domain::VideoStatus;
use skillreel_shared::events::{
    Refused,
    stream::{self, Context, Item, OpenError},
};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{CurrentPlayer, VideoId},
    state::AppState,
};

/// Tells nginx not to buffer the answer (it would hold events back until its buffer fills).
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// How long an `EventSource` waits before reconnecting after the stream ends without a
/// final state (`retry:` of the first event).
const RECONNECT_MS: u64 = 2_000;

impl From<OpenError> for ApiError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NotFound => Self::NotFound("Video not found".into()),
            OpenError::Refused(refused @ Refused::PlayerBusy { .. }) => Self::TooManyRequests {
                code: refused.code(),
                detail: refused.to_string(),
                retry_after: refused.retry_after(),
            },
            OpenError::Refused(refused @ Refused::Busy) => Self::Busy {
                code: refused.code(),
                detail: refused.to_string(),
                retry_after: refused.retry_after(),
            },
            OpenError::Database(e) => e.into(),
        }
    }
}

/// The client's `Last-Event-ID`; anything but one of our ids counts as none.
fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn event(item: &Item, first: bool) -> Event {
    let data = serde_json::to_string(&item.event).unwrap_or_else(|_| "{}".into());
    let event = Event::default()
        .event(item.kind.name())
        .id(item.event.seq().to_string())
        .data(data);
    if first {
        event.retry(std::time::Duration::from_millis(RECONNECT_MS))
    } else {
        event
    }
}

/// Live status of one of the caller's videos, as server-sent events.
///
/// The first event is the current state; then one per change of status (`event:
/// status`) and per progress step (`event: progress`, at least every 5 %). Each
/// `data:` is `{"id", "status", "progress", "error"?}` and each `id:` grows with the
/// video's life, so a client that reconnects with `Last-Event-ID` is not sent again
/// what it has. The stream ends after `processed`, `public` or `failed` (a video
/// already there gets that one event), when the video is deleted, or after
/// `EVENTS_MAX_STREAM_SECS`: reconnect then. Comment lines every
/// `EVENTS_KEEPALIVE_SECS` keep proxies from closing it. Browsers read it with
/// `fetch()` (an `EventSource` cannot send the `Authorization` header).
#[utoipa::path(get, path = "/api/videos/{id}/events", tag = "videos", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id"),
           ("Last-Event-ID" = Option<String>, Header, max_length = 20,
            description = "the `id:` of the last event received; earlier states are not sent again")),
    responses((status = 200, description = "a stream of `status` and `progress` events, \
                 each `data:` a JSON `{id, status, progress, error?}`",
               content_type = "text/event-stream", body = String),
              (status = 404, description = "no such video, or another player's", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 429, description = "`too-many-event-streams`: the player has \
                 `EVENTS_MAX_STREAMS_PER_PLAYER` streams open on this instance; or rate limited",
               body = ErrorBody),
              (status = 503, description = "`event-streams-busy`: this instance serves \
                 `EVENTS_MAX_STREAMS` streams; or the database is down", body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    VideoId(id): VideoId,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let ctx = Context {
        hub: &state.events,
        slots: &state.event_streams,
        db: &state.db,
        config: &state.config.events,
    };
    let items = stream::open(ctx, player, id, last_event_id(&headers)).await?;
    let events = items
        .enumerate()
        .map(|(n, item)| Ok::<_, Infallible>(event(&item, n == 0)));
    let sse = Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(state.config.events.keep_alive)
            .text("keep-alive"),
    );
    Ok((
        [
            (X_ACCEL_BUFFERING, HeaderValue::from_static("no")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        sse,
    )
        .into_response())
}

/// Describes one event of the stream in the OpenAPI document, the way OpenAPI 3.2 (and
/// schemathesis, which checks every event against it) describes server-sent events: an
/// object of the event's fields, whose `data` is JSON of the state. utoipa has no words
/// for `contentMediaType`/`contentSchema`, so the schema is written here and put in place
/// by `docs::document`.
pub fn describe_stream(doc: &mut serde_json::Value) {
    let pointer = "/paths/~1api~1videos~1{id}~1events/get/responses/200/content/text~1event-stream";
    let Some(content) = doc.pointer_mut(pointer) else {
        return;
    };
    content["schema"] = serde_json::json!({
        "type": "object",
        "description": "one server-sent event",
        "required": ["event", "id", "data"],
        "properties": {
            "event": {"type": "string", "enum": ["status", "progress"],
                      "description": "`status`: the first event, or a change of status; \
                                      `progress`: more progress in the same attempt"},
            "id": {"type": "string", "pattern": "^[0-9]+$",
                   "description": "grows with the video's life; send it back as `Last-Event-ID`"},
            "retry": {"type": "integer", "minimum": 0,
                      "description": "milliseconds to wait before reconnecting (first event)"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {
                    "type": "object",
                    "required": ["id", "status", "progress"],
                    "properties": {
                        "id": {"type": "integer", "format": "int64", "minimum": 1},
                        "status": {"type": "string",
                                   "enum": VideoStatus::ALL.map(VideoStatus::as_str)},
                        "progress": {"type": ["number", "null"], "minimum": 0, "maximum": 100,
                                     "description": "percent; `null` unless processing or done"},
                        "error": {"type": "string",
                                  "description": "why processing failed, or why the last attempt did"}
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_each_event_of_the_stream() {
        let doc = crate::routes::docs::document();
        let event = doc
            .pointer("/paths/~1api~1videos~1{id}~1events/get/responses/200/content/text~1event-stream/schema")
            .expect("the stream's schema");
        assert_eq!(
            event["required"],
            serde_json::json!(["event", "id", "data"])
        );
        let states = &event["properties"]["data"]["contentSchema"]["properties"]["status"]["enum"];
        assert_eq!(states[4], "failed");
        assert_eq!(states[5], "hidden");
    }

    #[test]
    fn only_a_number_is_a_last_event_id() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_event_id(&headers), None);
        headers.insert("last-event-id", HeaderValue::from_static(" 12042 "));
        assert_eq!(last_event_id(&headers), Some(12_042));
        headers.insert("last-event-id", HeaderValue::from_static("abc"));
        assert_eq!(last_event_id(&headers), None);
        headers.insert("last-event-id", HeaderValue::from_static("-1"));
        assert_eq!(last_event_id(&headers), None);
    }
}
