//! `skillreel-worker`: processes uploaded videos.
//!
//! Exits 0 after a requested stop (SIGTERM, Ctrl-C) once its jobs are finished or handed
//! back; any other exit is an error (non-zero) and the service manager restarts it.

use anyhow::Context;
use skillreel_shared::{config, db, telemetry};
use skillreel_worker::health::Health;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    config::load_dotenv();
    telemetry::init(config::log_format(&config::EnvSource));
    let config = config::aws::load_from_environment()
        .await
        .context("loading configuration")?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutdown requested");
        on_signal.cancel();
    });

    // PostgreSQL may be restarting: wait for it rather than exit.
    let start = Health::default();
    let Some(pool) = start
        .database
        .until_ok(&shutdown, || db::connect(&config.database))
        .await
    else {
        return Ok(());
    };
    if start
        .database
        .until_ok(&shutdown, || db::migrate(&pool))
        .await
        .is_none()
    {
        return Ok(());
    }
    let ctx = skillreel_worker::JobContext::connect(config, pool).await?;
    if let Some(addr) = ctx.config.worker.metrics_addr.clone() {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding the metrics listener on {addr}"))?;
        tracing::info!(addr = %listener.local_addr()?, "serving /metrics and /health");
        let app = skillreel_worker::private_router(ctx.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    skillreel_worker::run(ctx, shutdown).await
}
