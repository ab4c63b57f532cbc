//! Slow and oversized clients cannot hold the service: request heads and bodies have time
//! limits, uploads in flight are capped per process and per player, and a huge title is
//! refused without being read whole. Clients here are raw sockets, so they can stall
//! exactly where a real attacker would.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

use crate::helpers::{TestApp, WebProcess};

const BOUNDARY: &str = "slow-client-boundary";

/// The first bytes of an MP4 (an `ftyp` box), so the upload is not refused as a non-MP4
/// before it stalls.
const MP4_START: &[u8] = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2\0\0\0\x08free";

/// An HTTP answer read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A complete answer in `buf`, if there is one yet.
fn parse_answer(buf: &[u8]) -> Option<Answer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let mut answer = Answer {
        status,
        head,
        body: Value::Null,
    };
    let length: usize = answer.header("content-length")?.parse().ok()?;
    let body = buf.get(end + 4..end + 4 + length)?;
    answer.body = serde_json::from_slice(body).ok()?;
    Some(answer)
}

/// Reads one answer (at most 60 s); the server may reset the connection right after it.
async fn read_answer(mut reader: impl AsyncRead + Unpin) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(answer) = parse_answer(&buf) {
                return Some(answer);
            }
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return parse_answer(&buf),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("no answer within 60 s");
    read.unwrap_or_else(|| panic!("no complete answer: {}", String::from_utf8_lossy(&buf)))
}

/// Request head of an upload whose body is `content_length` bytes.
fn upload_head(token: &str, content_length: u64) -> String {
    format!(
        "POST /api/videos/upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {content_length}\r\n\
         Connection: close\r\n\r\n"
    )
}

/// Opening of a form part.
fn part(name: &str) -> String {
    let file = if name == "video_file" {
        "; filename=\"clip.mp4\"\r\nContent-Type: video/mp4"
    } else {
        ""
    };
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n")
}

fn closing() -> String {
    format!("\r\n--{BOUNDARY}--\r\n")
}

/// A form with only a title: complete, and refused with `422` once admitted.
fn title_only_form() -> String {
    format!("{}A title{}", part("title"), closing())
}

fn addr(app: &TestApp) -> &str {
    app.base.trim_start_matches("http://")
}

/// Opens a connection to `addr` and sends `head` and `body_start`, then nothing more.
async fn stall(addr: &str, head: &str, body_start: &[u8]) -> (OwnedReadHalf, OwnedWriteHalf) {
    let (reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    writer.write_all(body_start).await.unwrap();
    writer.flush().await.unwrap();
    (reader, writer)
}

/// The start of an upload of a large file: the head, the file part and its first bytes.
async fn stalled_upload(app: &TestApp, token: &str) -> (OwnedReadHalf, OwnedWriteHalf) {
    let mut body = part("video_file").into_bytes();
    body.extend_from_slice(MP4_START);
    body.extend_from_slice(&[0u8; 512]);
    stall(addr(app), &upload_head(token, 50 * 1024 * 1024), &body).await
}

/// Sends a whole upload request with `form` as body and reads the answer.
async fn send_form(app: &TestApp, token: &str, form: &str) -> Answer {
    let head = upload_head(token, form.len() as u64);
    let (reader, _writer) = stall(addr(app), &head, form.as_bytes()).await;
    read_answer(reader).await
}

fn spool_files(app: &TestApp) -> usize {
    std::fs::read_dir(&app.state.config.media.temp_dir)
        .unwrap()
        .count()
}

/// Waits (at most 20 s) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_timeout(answer: &Answer) {
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.body["code"], "request-timeout", "{answer:?}");
    assert!(answer.body["detail"].is_string(), "{answer:?}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_silent_upload_is_cut_off_and_leaves_no_spool_file(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| c.upload.idle_timeout = Duration::from_secs(2)).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let (reader, _writer) = stalled_upload(&app, &token).await;
    // The upload really started: its spool file exists while it waits.
    eventually("the spool file appears", || spool_files(&app) == 1).await;
    let answer = read_answer(reader).await;
    assert_timeout(&answer);
    assert!(
        answer.body["detail"].as_str().unwrap().contains("nothing"),
        "{answer:?}"
    );
    assert_eq!(spool_files(&app), 0, "the spool file was left behind");
    assert_eq!(app.state.uploads.in_flight(), 0, "the upload slot was kept");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_trickling_upload_is_cut_off_at_its_deadline(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.upload.idle_timeout = Duration::from_secs(2);
        c.upload.max_receive_time = Duration::from_secs(3);
    })
    .await;
    let (_, token) = app.player("Ana", "Cali").await;
    let (reader, mut writer) = stalled_upload(&app, &token).await;
    // Never idle for long: a byte every 200 ms, until the server stops reading.
    let trickle = tokio::spawn(async move {
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let answer = read_answer(reader).await;
    assert_timeout(&answer);
    assert!(
        answer.body["detail"].as_str().unwrap().contains("within"),
        "{answer:?}"
    );
    assert_eq!(spool_files(&app), 0, "the spool file was left behind");
    trickle.abort();
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_stalled_json_body_is_a_408(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| c.http.body_timeout = Duration::from_secs(1)).await;
    let head = "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    let (reader, _writer) = stall(addr(&app), head, b"{\"email\": ").await;
    assert_timeout(&read_answer(reader).await);
}

#[sqlx::test(migrations = "../../migrations")]
async fn slow_or_silent_request_heads_are_disconnected(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let partial = "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Ty";
    for sent in [partial, ""] {
        let (mut reader, _writer) = stall(addr(&app), sent, b"").await;
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut got))
            .await
            .unwrap_or_else(|_| panic!("still connected after 30 s having sent {sent:?}"));
        // Closed or reset, with no answer.
        assert!(read.is_err() || got.is_empty(), "{sent:?}: {got:?}");
    }
    // Complete requests are served as before.
    assert_eq!(app.get("/health/live", None).await.status(), 200);
}

#[sqlx::test(migrations = "../../migrations")]
async fn uploads_in_flight_are_capped_per_player_and_per_process(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.upload.max_in_flight = 2;
        c.upload.max_in_flight_per_player = 1;
    })
    .await;
    let (_, ana) = app.player("Ana", "Cali").await;
    let (_, bea) = app.player("Bea", "Cali").await;
    let (_, cam) = app.player("Cam", "Cali").await;
    let slots = app.state.uploads.clone();

    let ana_first = stalled_upload(&app, &ana).await;
    eventually("Ana's upload is admitted", || slots.in_flight() == 1).await;
    let answer = send_form(&app, &ana, &title_only_form()).await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(answer.body["code"], "too-many-uploads-in-flight");
    let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0);

    // Another player is admitted; their upload streams while Ana's does.
    let bea_form = format!("{}Bea's title{}", part("title"), closing());
    let (bea_head, bea_rest) = bea_form.split_at(part("title").len());
    let (bea_reader, mut bea_writer) = stall(
        addr(&app),
        &upload_head(&bea, bea_form.len() as u64),
        bea_head.as_bytes(),
    )
    .await;
    eventually("Bea's upload is admitted", || slots.in_flight() == 2).await;

    // The process is full: a third player waits.
    let answer = send_form(&app, &cam, &title_only_form()).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.body["code"], "uploads-busy");
    assert!(answer.header("retry-after").is_some(), "{answer:?}");

    // Bea's upload went through the caps: it ends with the form's own verdict.
    bea_writer.write_all(bea_rest.as_bytes()).await.unwrap();
    let answer = read_answer(bea_reader).await;
    assert_eq!(answer.status, 422, "{answer:?}");
    assert_eq!(answer.body["errors"][0]["field"], "video_file");

    // A finished or abandoned upload gives its slot back.
    assert_eq!(send_form(&app, &cam, &title_only_form()).await.status, 422);
    drop(ana_first);
    eventually("Ana's abandoned upload is released", || {
        slots.in_flight() == 0
    })
    .await;
    assert_eq!(send_form(&app, &ana, &title_only_form()).await.status, 422);
    assert_eq!(spool_files(&app), 0, "a spool file was left behind");
}

/// `Vm…` fields of /proc/<pid>/status, in kB.
fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_50_mb_title_is_refused_without_being_read_whole(db: PgPool) {
    const TITLE_BYTES: usize = 50 * 1024 * 1024;
    let web = WebProcess::spawn(&db, &[]).await;
    let token = web.player_token().await;
    let pid = web.pid();

    // Warm up the upload path, then take the baseline.
    let form = title_only_form();
    let head = upload_head(&token, form.len() as u64);
    let (reader, _w) = stall(&web.addr, &head, form.as_bytes()).await;
    assert_eq!(read_answer(reader).await.status, 422);
    let before = memory_kb(pid, "VmRSS");
    // Reset the peak (VmHWM) to the current size, so the peak below is this request's.
    let peak_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();

    let start = part("title");
    let end = closing();
    let length = start.len() + TITLE_BYTES + end.len();
    let head = upload_head(&token, length as u64);
    let (reader, mut writer) = stall(&web.addr, &head, start.as_bytes()).await;
    // Streamed, 64 KB at a time, until the server stops reading. The socket stays open
    // for writing until the answer is read: hyper drops a connection whose client
    // half-closes it without answering.
    let send = tokio::spawn(async move {
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < TITLE_BYTES {
            if writer.write_all(&chunk).await.is_err() {
                return (sent, writer);
            }
            sent += chunk.len();
        }
        let _ = writer.write_all(end.as_bytes()).await;
        (sent, writer)
    });
    let answer = read_answer(reader).await;
    assert_eq!(answer.status, 422, "{answer:?}");
    assert_eq!(answer.body["errors"][0]["field"], "title", "{answer:?}");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 255"),
        "{answer:?}"
    );
    let (sent, _writer) = tokio::time::timeout(Duration::from_secs(60), send)
        .await
        .expect("the sender should stop once the server closes")
        .unwrap();
    assert!(sent < TITLE_BYTES, "the server read the whole 50 MB title");

    let after = if peak_reset {
        memory_kb(pid, "VmHWM")
    } else {
        memory_kb(pid, "VmRSS")
    };
    let grown_kb = after.saturating_sub(before);
    assert!(
        grown_kb < 10 * 1024,
        "web RSS grew by {grown_kb} kB (from {before} kB)"
    );
}
