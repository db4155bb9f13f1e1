//! The application builder, shared by `mestring serve` and the tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use mestring_domain::clock::Clock;
use mestring_ipcrypt::IpLayer;
use mestring_store::Store;
use mestring_web::{AppError, AppState, WebConfig, access_log, csrf, headers};

use crate::config::Config;
use crate::{iplayer, jobs, keys};

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    /// Opens the database (migrating it), loads keys and binds the
    /// listener. Port 0 in `config.listen` picks a free port.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // Broken content stops the start, naming each file and problem.
        let content = mestring_content::load(&config.content_dir).map_err(|e| {
            anyhow::anyhow!(
                "content in {} is invalid:\n{e}",
                config.content_dir.display()
            )
        })?;
        let store = open_store(&config).await?;
        let pepper = keys::pepper(&config.data_dir)?;
        let ip = iplayer::build_state(&config, &store, clock.clone()).await?;
        let state = AppState {
            store,
            clock,
            pepper: Arc::new(pepper),
            config: Arc::new(WebConfig {
                security_log_days: config.security_log_days,
                ..WebConfig::new(&config.base_url)
            }),
            ip,
            content: Arc::new(content),
            seal: Arc::new(keys::seal_key(&config.data_dir)?),
            mail: Arc::new(
                mestring_web::mail::Mailer::new(
                    config.smtp_url.as_deref(),
                    config.data_dir.join("outbox"),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
        };

        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("failed to bind {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(state.clone());
        let ip_state = state.ip.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .wrap(from_fn(csrf::guard))
                .wrap(headers::security_headers())
                .wrap(from_fn(access_log::log))
                // Outermost: nothing above it ever sees the client address.
                .wrap(IpLayer::new(ip_state.clone()))
                .configure(configure_routes)
        })
        .listen(listener)?;
        if let Some(n) = config.workers {
            server = server.workers(n);
        }
        let server = server.disable_signals().run();
        jobs::spawn(
            state.clone(),
            config.security_log_days,
            config.data_dir.clone(),
            std::time::Duration::from_secs(config.maintenance_secs),
        );
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (tests use the store and clock).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// A handle that can stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Connects and migrates.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url.clone();
    let store = tokio::task::spawn_blocking(move || Store::connect(&url, 8))
        .await
        .context("store task failed")?
        .context("failed to open the database")?;
    let migrator = store.clone();
    let applied = tokio::task::spawn_blocking(move || migrator.migrate())
        .await
        .context("migration task failed")?
        .context("failed to migrate the database")?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    Ok(store)
}

/// Every route of the platform.
pub fn configure_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/static/style.css", web::get().to(stylesheet))
        .configure(mestring_app::configure)
        .configure(mestring_dashboard::configure)
        .default_service(web::to(not_found));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.ping().await {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable")
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../templates/static/style.css"))
}

async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
