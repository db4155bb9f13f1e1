//! The application builder, shared by `mestring serve` and the tests.

use std::net::TcpListener;
use std::sync::Arc;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use mestring_domain::clock::Clock;
use mestring_ipcrypt::IpLayer;
use mestring_web::routes::{self, RouteDef};
use mestring_web::{AppError, AppState, WebConfig, access_log, csrf, headers, route};

use crate::config::Config;
use crate::db::{open_store, prepare_data_dir};
use crate::lifecycle::Lifecycle;
use crate::{iplayer, jobs, keys};

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    lifecycle: Lifecycle,
    jobs: tokio::task::JoinHandle<()>,
    grace: Duration,
}

impl Application {
    /// Opens the database (migrating it), loads keys and binds the
    /// listener. Port 0 in `config.listen` picks a free port.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // Broken content stops the start, naming each file and problem.
        let content = config.load_content()?;
        prepare_data_dir(&config)?;
        let store = open_store(&config).await?;
        let pepper = keys::pepper(&config.data_dir)?;
        let ip = iplayer::build_state(&config, &store, clock.clone()).await?;
        let keks = keys::keks(&config.data_dir, clock.now())?;
        keys::check_keks(&store, &keks, &config.data_dir).await?;
        keys::seal_legacy(&store, &keks, clock.now()).await?;
        let state = AppState {
            store,
            clock,
            pepper: Arc::new(pepper),
            config: Arc::new(WebConfig {
                security_log_days: config.security_log_days,
                aggregates_k: config.aggregates_k,
                aggregates_max_age: chrono::Duration::seconds(config.aggregates_max_age_secs),
                helseid: config.oidc.helseid.is_some(),
                ..WebConfig::new(&config.base_url)
            }),
            ip,
            content: Arc::new(content),
            seal: Arc::new(keys::seal_key(&config.data_dir)?),
            keks,
            deletions: keys::ledger(&config.data_dir)?,
            mail: Arc::new(
                mestring_mail::Mailer::new(
                    config.smtp_url.as_deref(),
                    config.data_dir.join("outbox"),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
        };

        let checkout = match &config.stripe {
            Some(s) => mestring_checkout::Checkout::new(
                &s.secret_key,
                &s.webhook_secret,
                s.api_base.as_deref(),
            )
            .map_err(|e| anyhow::anyhow!("Stripe: {e}"))?,
            None => mestring_checkout::Checkout::disabled(),
        };
        let checkout = web::Data::new(checkout);
        let oidc = web::Data::new(
            mestring_oidc::Oidc::new(&config.oidc, &config.base_url)
                .map_err(|e| anyhow::anyhow!("OpenID Connect: {e}"))?,
        );
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("failed to bind {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(state.clone());
        let ip_state = state.ip.clone();
        let lifecycle = Lifecycle::default();
        let life = web::Data::new(lifecycle.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(life.clone())
                .app_data(checkout.clone())
                .app_data(oidc.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .wrap(from_fn(csrf::guard))
                .wrap(from_fn(close_when_stopping))
                .wrap(from_fn(access_log::log))
                // Nothing above it but the response headers, which never
                // look at the request: no other code sees the client address.
                .wrap(IpLayer::new(ip_state.clone()))
                // Around even the IP layer, so its own answers (the 403 for
                // a blocked address) carry the security headers too. It
                // only adds response headers; it never sees the address.
                .wrap(headers::security_headers())
                .configure(configure_routes)
        })
        .listen(listener)?;
        if let Some(n) = config.workers {
            server = server.workers(n);
        }
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        // Signals are handled in `serve_until_signal`, so that shutdown
        // also flips readiness and stops the jobs.
        let server = server
            .shutdown_timeout(config.shutdown_grace_secs)
            .disable_signals()
            .run();
        let jobs = jobs::spawn(
            state.clone(),
            config.security_log_days,
            config.data_dir.clone(),
            Duration::from_secs(config.maintenance_secs),
            lifecycle.clone(),
        );
        Ok(Self {
            port,
            server,
            state,
            lifecycle,
            jobs,
            grace,
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

    /// The shutdown switch (tests flip it without a signal).
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.clone()
    }

    /// Serves until the server is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: readiness
    /// turns 503 and accepting stops at once; requests already sent get
    /// [`drain_delay`] to be picked up and then up to the grace period
    /// (`MESTRING_SHUTDOWN_GRACE_SECS`) to finish, each answered with
    /// `Connection: close`; the listener closes; the background jobs finish
    /// their current step and stop; then the last handle on the database
    /// pool is dropped, so no pool thread is inside the database driver
    /// when the process exits.
    pub async fn serve_until_signal(self) -> anyhow::Result<()> {
        let Self {
            server,
            state,
            lifecycle,
            jobs,
            grace,
            ..
        } = self;
        let handle = server.handle();
        let life = lifecycle.clone();
        let signals = tokio::spawn(async move {
            let signal = match wait_for_stop_signal().await {
                Ok(name) => name,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for signals");
                    return;
                }
            };
            tracing::info!(signal, "shutting down");
            life.begin_shutdown();
            // Stop accepting at once, but let requests that reached a
            // keep-alive connection just before the signal be read and
            // answered (with `Connection: close`) before the server's own
            // drain closes idle connections, which drops any request it
            // has not started yet.
            handle.pause().await;
            tokio::time::sleep(drain_delay(grace)).await;
            handle.stop(true).await;
        });
        let served = server.await;
        // The server can also stop on its own (e.g. a handle in tests).
        lifecycle.begin_shutdown();
        signals.abort();
        if tokio::time::timeout(grace, jobs).await.is_err() {
            tracing::warn!("background jobs did not stop within the grace period");
        }
        // Other clones of the state may outlive this function on threads
        // that are still winding down; closing the pool here, on this
        // thread, means none of them touches the database driver after.
        state.store.close(grace).await;
        tracing::info!("stopped");
        served.context("server failed")
    }

    /// A handle that can stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Every route of the platform, in registration order: the one list that
/// [`configure_routes`] registers and the malformed-input suite walks.
pub fn route_table() -> Vec<RouteDef> {
    let mut table = vec![
        route!(Get, "/healthz", Public, healthz),
        route!(Get, "/readyz", Public, readyz),
        route!(Get, "/static/style.css", Public, stylesheet),
    ];
    table.extend(mestring_app::routes());
    table.extend(mestring_dashboard::routes());
    table.extend(mestring_checkout::routes());
    table.extend(mestring_oidc::routes());
    table
}

/// Registers [`route_table`]; anything else is 404.
pub fn configure_routes(cfg: &mut web::ServiceConfig) {
    routes::register_all(cfg, &route_table());
    cfg.default_service(web::to(not_found));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<AppState>, life: web::Data<Lifecycle>) -> HttpResponse {
    if life.is_stopping() {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("shutting down")
    } else if state.store.ping().await {
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

/// How long after the stop signal the server keeps reading requests that
/// had already arrived on open connections before it drains them: one
/// second, or the whole grace period if that is shorter.
pub fn drain_delay(grace: Duration) -> Duration {
    grace.min(Duration::from_secs(1))
}

/// While shutting down, every answer closes its connection, so clients
/// holding keep-alive connections move to another instance instead of
/// sending their next request into a closing server.
async fn close_when_stopping(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let life = req.app_data::<web::Data<Lifecycle>>().cloned();
    let mut res = next.call(req).await?;
    if life.is_some_and(|l| l.is_stopping()) {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// Waits for SIGTERM (how systemd and container runtimes stop a service)
/// or SIGINT (Ctrl-C); returns the signal's name.
async fn wait_for_stop_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}

#[cfg(test)]
mod route_table_tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::route_table;

    #[test]
    fn every_route_is_listed_once_with_a_well_formed_pattern() {
        let table = route_table();
        let mut seen = BTreeSet::new();
        for r in &table {
            assert!(
                seen.insert((r.verb.as_str(), r.path)),
                "listed twice: {r:?}"
            );
            assert!(r.path.starts_with('/'), "{r:?}");
            for segment in r.path.split('/').skip(1) {
                // A parameter is a whole segment, so the suite can put a
                // value of the wrong shape in its place.
                let param = segment.contains('{') || segment.contains('}');
                let whole = segment.starts_with('{')
                    && segment.ends_with('}')
                    && segment[1..segment.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_');
                assert!(!param || whole, "{r:?}: segment {segment:?}");
            }
        }
        assert!(table.len() > 70, "the whole platform is listed");
    }

    /// Routes registered any other way than from the table would escape the
    /// malformed-input suite, so no production source may call actix's
    /// registration functions outside `mestring_web::routes`. Test modules
    /// (everything after a file's `#[cfg(test)]`) and benches build their
    /// own apps and are not scanned.
    #[test]
    fn no_route_is_registered_outside_the_table() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let forbidden = [
            ".route(",
            ".service(",
            "web::resource(",
            "web::scope(",
            "Resource::new(",
            "Scope::new(",
            "#[get(",
            "#[post(",
            "#[route(",
            "#[actix_web::get(",
            "#[actix_web::post(",
            "#[actix_web::route(",
        ];
        let allowed = Path::new("web").join("src").join("routes.rs");
        let mut files = Vec::new();
        collect_rs(&crates, &mut files);
        assert!(files.len() > 50, "found the sources: {}", files.len());
        let mut offenders = Vec::new();
        for file in files {
            let rel = file.strip_prefix(&crates).unwrap_or(&file).to_path_buf();
            if rel == allowed {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let production = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in production.lines().enumerate() {
                if forbidden.iter().any(|f| line.contains(f)) {
                    offenders.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "register routes through a RouteDef table:\n{}",
            offenders.join("\n")
        );
    }

    /// Every `.rs` file under each crate's `src/`.
    fn collect_rs(crates: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(crates) else {
            return;
        };
        for krate in entries.flatten() {
            walk(&krate.path().join("src"), out);
        }
    }

    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
}
