//! A network failure in the middle of ffmpeg's read of a presigned URL does not fail the
//! video: the job downloads the original once and processes that copy in full.
//!
//! A small proxy stands in front of the S3 emulator. SDK calls (signed in headers) pass
//! untouched. Presigned reads (signed in the query) pass too, until the first read from
//! the start of the object gets past 85 % of it: that connection is cut there, and every
//! later presigned request gets `403`, as when the credentials that signed the URL expire.
//! Reads from the start that stop earlier (ffprobe's look at the first packets, at most
//! the few MB the sockets buffer) are not cut; only a read of the whole clip gets there.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use skillreel_shared::config::StorageBackend;
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::helpers::{System, clip, facts};

#[derive(Default)]
struct Glitch {
    /// Object size in bytes; 0 until known (nothing is cut before).
    object_size: AtomicU64,
    /// Set once a presigned read has been cut.
    cut: AtomicBool,
}

/// Starts the proxy in front of `upstream` (the emulator's `http://host:port`); returns
/// its endpoint URL.
async fn start_proxy(upstream: &str, glitch: Arc<Glitch>) -> String {
    let upstream: SocketAddr = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("AWS_ENDPOINT_URL is http://<ip>:<port>");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let glitch = glitch.clone();
            tokio::spawn(async move {
                // A client going away mid-transfer is part of the game.
                let _ = relay(client, upstream, &glitch).await;
            });
        }
    });
    endpoint
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    glitch: &Glitch,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let presigned = text
        .lines()
        .next()
        .is_some_and(|line| line.contains("x-amz-signature="));
    if presigned && glitch.cut.load(Ordering::SeqCst) {
        client
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await?;
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&head).await?;
    if !presigned {
        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        return Ok(());
    }
    let start: u64 = text
        .split("range: bytes=")
        .nth(1)
        .and_then(|r| r.split('-').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let size = glitch.object_size.load(Ordering::SeqCst);
    // Bytes relayed so far stand for the object offset reached (the response head is a
    // few hundred bytes).
    let cut_at = (size > 0 && start < size / 100).then_some(size * 85 / 100);
    let mut offset = start;
    loop {
        let n = server.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(cut_at) = cut_at
            && offset + n as u64 >= cut_at
        {
            let keep = usize::try_from(cut_at.saturating_sub(offset)).unwrap_or(n);
            client.write_all(&buf[..keep.min(n)]).await?;
            glitch.cut.store(true, Ordering::SeqCst);
            return Ok(());
        }
        client.write_all(&buf[..n]).await?;
        offset += n as u64;
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_read_cut_mid_clip_is_redone_from_a_download(db: PgPool) {
    let glitch = Arc::new(Glitch::default());
    let upstream = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let proxy = start_proxy(&upstream, glitch.clone()).await;
    let mut sys = System::start_with(db, StorageBackend::S3, |c| {
        c.storage.endpoint_url = Some(proxy);
    })
    .await;
    let token = sys.player("Net").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 21.0).await, "glitch")
        .await;
    let key: String = sqlx::query_scalar("SELECT original_key FROM videos WHERE id = $1")
        .bind(id)
        .fetch_one(&sys.db)
        .await
        .unwrap();
    let size = sys.web.storage.size(&key).await.unwrap();
    glitch.object_size.store(size, Ordering::SeqCst);

    let ctx = crate::source::start_worker(&mut sys).await;
    let d = sys
        .wait_status(
            &token,
            id,
            &["processed", "failed"],
            Duration::from_secs(240),
        )
        .await;
    assert!(glitch.cut.load(Ordering::SeqCst), "the read was cut");
    assert_eq!(d["status"], "processed", "{d}");
    assert_eq!(d["attempts"], 1, "no retry needed: {d}");
    assert_eq!(ctx.metrics.source_fallbacks.get(), 1, "one download");

    // The whole clip made it, not the part read before the cut.
    let processed = sys.dir.path().join("processed.mp4");
    sys.web
        .storage
        .get_to_file(
            &format!("processed/{}", key.trim_start_matches("uploaded/")),
            &processed,
        )
        .await
        .unwrap();
    let expected = 21.0 + ctx.assets.intro_secs + ctx.assets.outro_secs;
    let duration = facts(&processed).await.duration;
    assert!(
        (duration - expected).abs() < 0.5,
        "{duration} s processed, {expected} s expected"
    );
    assert_eq!(sys.objects("processed/").await.len(), 3);
}
