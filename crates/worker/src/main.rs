//! `skillreel-worker`: processes uploaded videos.

use anyhow::Context;
use skillreel_shared::{config, db, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    config::load_dotenv();
    telemetry::init(config::log_format(&config::EnvSource));
    let config = config::aws::load_from_environment()
        .await
        .context("loading configuration")?;
    let pool = db::connect(&config.database)
        .await
        .context("connecting to PostgreSQL")?;
    db::migrate(&pool)
        .await
        .context("running database migrations")?;
    let ctx = skillreel_worker::JobContext::connect(config, pool).await?;
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
    if let Some(addr) = ctx.config.worker.metrics_addr.clone() {
        let metrics = ctx.metrics.clone();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding the metrics listener on {addr}"))?;
        tracing::info!(%addr, "serving /metrics");
        tokio::spawn(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let metrics = metrics.clone();
                    async move { metrics.render() }
                }),
            );
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    skillreel_worker::run(ctx, shutdown).await
}
