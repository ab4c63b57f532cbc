//! A reader of `text/event-stream` bodies for tests, over any stream of byte chunks
//! (e.g. reqwest's `bytes_stream()`), as a `fetch()` client in a browser reads one.

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};

/// One block of an event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A comment line (`: ...`), as sent to keep the connection open.
    Comment(String),
    /// An event.
    Event {
        /// `event:` (`message` when absent, as browsers do).
        name: String,
        /// `id:`.
        id: Option<String>,
        /// `data:` parsed as JSON (`null` when it is not JSON).
        data: serde_json::Value,
        /// `retry:` in milliseconds.
        retry: Option<u64>,
    },
}

/// Reads frames off a body.
pub struct SseReader {
    body: BoxStream<'static, Result<Bytes, String>>,
    buffer: String,
}

impl SseReader {
    /// Reads `body`.
    pub fn new<E: std::fmt::Display>(
        body: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
    ) -> Self {
        Self {
            body: body.map(|chunk| chunk.map_err(|e| e.to_string())).boxed(),
            buffer: String::new(),
        }
    }

    /// The next frame; `None` once the body ended (or failed) with no complete frame left.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(frame) = parse(block.trim_end_matches('\n')) {
                    return Some(frame);
                }
                continue;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(_)) | None => return None,
            }
        }
    }
}

fn parse(block: &str) -> Option<Frame> {
    let (mut name, mut id, mut data, mut retry) = (None, None, Vec::new(), None);
    let mut comment = None;
    for line in block.lines() {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim().to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data.push(value.to_owned()),
            "retry" => retry = value.parse().ok(),
            _ => {}
        }
    }
    if data.is_empty() && name.is_none() {
        return comment.map(Frame::Comment);
    }
    Some(Frame::Event {
        name: name.unwrap_or_else(|| "message".into()),
        id,
        data: serde_json::from_str(&data.join("\n")).unwrap_or(serde_json::Value::Null),
        retry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_split_across_chunks_are_read_whole() {
        let chunks: Vec<Result<Bytes, String>> = vec![
            Ok(Bytes::from_static(b":keep-alive\n\nevent: sta")),
            Ok(Bytes::from_static(
                b"tus\nid: 7\nretry: 2000\ndata: {\"id\":1}\n\n",
            )),
        ];
        let mut reader = SseReader::new(futures::stream::iter(chunks));
        assert_eq!(
            reader.next().await,
            Some(Frame::Comment("keep-alive".into()))
        );
        assert_eq!(
            reader.next().await,
            Some(Frame::Event {
                name: "status".into(),
                id: Some("7".into()),
                data: serde_json::json!({"id": 1}),
                retry: Some(2000),
            })
        );
        assert_eq!(reader.next().await, None);
    }
}
