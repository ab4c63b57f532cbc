//! `skillreel-web`: the HTTP API.

use anyhow::Context;
use skillreel_shared::{config, db, telemetry};
use skillreel_web::AppState;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    config::load_dotenv();
    telemetry::init(config::log_format(&config::EnvSource));
    let config = config::aws::load_from_environment()
        .await
        .context("loading configuration")?;
    let addr = format!("{}:{}", config.http.host, config.http.port);
    let metrics_addr = config.http.metrics_addr.clone();
    let state = AppState::connect(config).await?;
    db::migrate(&state.db)
        .await
        .context("running database migrations")?;
    // Abandoned resumable uploads never become videos.
    skillreel_web::sweeper::spawn(state.clone());
    if let Some(store) = &state.local_media {
        tracing::info!(dir = %store.root().display(), "serving media from the local store");
    }
    if let Some(metrics_addr) = metrics_addr {
        let listener = TcpListener::bind(&metrics_addr)
            .await
            .with_context(|| format!("binding the metrics listener on {metrics_addr}"))?;
        tracing::info!(addr = %listener.local_addr()?, "serving /metrics");
        let app = skillreel_web::metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "skillreel-web listening");
    skillreel_web::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("skillreel-web stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
