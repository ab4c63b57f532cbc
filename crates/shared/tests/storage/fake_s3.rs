//! A minimal HTTP/1.1 server that records every request head and answers with a
//! canned reply, to check what the S3 store puts on the wire and how it reacts
//! to answers the emulator cannot be made to give (a failing part upload).

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Chooses the raw HTTP reply for a (lower-cased) request head.
pub type Responder = fn(&str) -> String;

/// A running fake server.
pub struct FakeS3 {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl FakeS3 {
    /// Binds a free port and serves until the test's runtime ends.
    pub async fn start(respond: Responder) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, seen.clone(), respond));
            }
        });
        Self { endpoint, heads }
    }

    /// The request lines seen so far (`method path-and-query`), lower-cased.
    pub fn request_lines(&self) -> Vec<String> {
        self.heads()
            .iter()
            .map(|h| {
                h.lines()
                    .next()
                    .unwrap()
                    .trim_end_matches(" http/1.1")
                    .to_owned()
            })
            .collect()
    }

    /// Every request head seen so far, lower-cased.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// An empty `200 OK`.
pub fn ok(_head: &str) -> String {
    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_owned()
}

/// A reply with an XML body.
pub fn xml(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn serve(mut conn: TcpStream, seen: Arc<Mutex<Vec<String>>>, respond: Responder) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        buf.drain(..end + 4);
        seen.lock().unwrap().push(head.clone());
        let reply = respond(&head);
        if head.contains("expect: 100-continue") {
            // Answering before `100 Continue` tells the client not to send the body.
            let _ = conn.write_all(reply.as_bytes()).await;
            return;
        }
        let mut body_left = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
        while body_left > 0 {
            if buf.is_empty() {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let take = body_left.min(buf.len());
            buf.drain(..take);
            body_left -= take;
        }
        if conn.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
