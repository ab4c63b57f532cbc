//! Public reads survive a PostgreSQL outage: a web instance over a PostgreSQL server of
//! the test's own, stopped mid-test like a crash (immediate shutdown), then restarted.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use skillreel_shared::db;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::{TestApp, body, seed_public_video};

/// A PostgreSQL cluster in a temporary directory, run as the `postgres` user.
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    server: Option<Child>,
    _dir: tempfile::TempDir,
}

/// Runs a PostgreSQL tool as the `postgres` user (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program)
        .stdin(Stdio::null());
    command
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let initdb = as_postgres(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(initdb.success(), "initdb failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut pg = Self {
            bin,
            data,
            port,
            server: None,
            _dir: dir,
        };
        pg.spawn();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn spawn(&mut self) {
        let child = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .args(["-c", "fsync=off", "-c"])
            .arg(format!("unix_socket_directories={}", self.data.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting postgres");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .unwrap()
            .success()
        {
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Immediate shutdown (SIGQUIT): connections drop at once, as in a crash.
    fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn public_reads_answer_the_last_good_answer_while_postgres_is_down() {
    let mut pg = PrivatePostgres::start();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&pg.url())
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    // Entries leave both cache levels quickly, so reads during the outage need PostgreSQL.
    let app = TestApp::spawn_with(pool.clone(), |c| {
        c.cache.local_ttl = Duration::from_millis(200);
        c.cache.redis_ttl = Duration::from_secs(1);
    })
    .await;
    let (ana, _) = app.player("Ana", "Cali").await;
    seed_public_video(&pool, ana, "Rabona").await;
    let reads = ["/api/public/videos?city=cali", "/api/public/rankings"];
    let mut good = Vec::new();
    for path in reads {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-cache").is_none());
        good.push(body(r).await);
    }
    assert_eq!(good[0][0]["title"], "Rabona");
    assert_eq!(good[1][0]["username"], "Ana Tester");

    pg.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        for (path, good) in reads.iter().zip(&good) {
            let started = Instant::now();
            let r = app.get(path, None).await;
            let took = started.elapsed();
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.headers()["x-cache"], "stale", "{path}");
            assert_eq!(&body(r).await, good, "{path}");
            // The pool would wait 5 s for a connection; the last good answer does not.
            assert!(took < Duration::from_secs(3), "{path} took {took:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A read nobody made before has nothing to fall back on.
    let r = app.get("/api/public/rankings?city=bogota", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(body(r).await["code"], "service-unavailable");

    pg.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.get(reads[1], None).await;
        if r.status() == 200 && r.headers().get("x-cache").is_none() {
            assert_eq!(body(r).await, good[1]);
            break;
        }
        assert!(Instant::now() < deadline, "reads never became fresh again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
