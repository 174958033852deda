//! The `flotilla` binary's library half: wiring the store, the Fleet services and the two HTTP
//! listeners together. Tests start servers through [`start`] exactly as `flotilla serve` does.

pub mod config;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::Handle;
use fleet::{Fleet, FleetConfig};
use tower_http::trace::TraceLayer;

pub use config::Config;

/// A running server: its bound addresses and a way to stop it.
pub struct Server {
    pub api_addr: SocketAddr,
    pub agent_addr: SocketAddr,
    pub fleet: Fleet,
    /// The generated `elastic` password, when this start created the superuser.
    pub generated_password: Option<String>,
    handles: Vec<Handle>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Stops accepting, answers held check-ins, lets in-flight requests finish (up to 30 s),
    /// then closes the store.
    pub async fn shutdown(self) {
        self.fleet.hub.shut_down();
        for h in &self.handles {
            h.graceful_shutdown(Some(Duration::from_secs(30)));
        }
        for t in self.tasks {
            let _ = t.await;
        }
        self.fleet.store.close().await;
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Opens the store named by `database_url` (creating the SQLite folder if needed).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn fleet::store::Store>> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    }
    fleet::store::open(&config.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database at {}",
                redact(&config.database_url)
            )
        })
}

/// A database URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Connections the kernel may queue for accepting (capped by `net.core.somaxconn`). Thousands of
/// agents connect at once after a restart; with the usual 128 the accept queue overflows while
/// the node is busy, and agents see resets (Fleet Server, in Go, uses somaxconn as well).
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    listener.into_std()
}

/// Starts both listeners with an already opened store.
pub async fn start_with_store(
    config: &Config,
    store: Arc<dyn fleet::store::Store>,
) -> anyhow::Result<Server> {
    let api_listener =
        listen(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
    let agent_listener = listen(config.agent_listen)
        .with_context(|| format!("cannot listen on {}", config.agent_listen))?;
    let api_addr = api_listener.local_addr()?;
    let agent_addr = agent_listener.local_addr()?;
    let tls = tls::rustls_config(&config.tls, &config.data_dir).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let fleet_server_hosts = config
        .fleet_server_hosts
        .clone()
        .unwrap_or_else(|| vec![format!("{scheme}://{agent_addr}")]);
    let fleet = Fleet::new(
        store,
        FleetConfig {
            default_output_hosts: config.output_hosts.clone(),
            fleet_server_hosts,
            checkin_long_poll: config.checkin_long_poll,
            checkin_min_poll: config.checkin_min_poll,
            stack_version: config.stack_version.clone(),
            registry_url: Some(config.registry_url.clone()),
            package_dir: config.package_dir.clone(),
            data_dir: Some(config.data_dir.clone()),
            ..FleetConfig::default()
        },
    );
    // Kibana's setup: the default output, Fleet Server host and download source.
    fleet.ensure_default_output().await?;
    fleet.ensure_default_hosts().await?;
    // Also without a preconfiguration: what an earlier file declared is released.
    let no_preconfiguration = serde_json::json!({});
    let pre = config
        .preconfiguration
        .as_ref()
        .unwrap_or(&no_preconfiguration);
    let changed = fleet
        .apply_preconfiguration(pre)
        .await
        .context("cannot apply the preconfiguration")?;
    tracing::info!(changed, "preconfiguration applied");
    fleet.ensure_uninstall_tokens().await?;
    fleet.ensure_signing_key().await?;
    let generated_password = fleet
        .auth
        .bootstrap(config.elastic_password.as_deref())
        .await?;

    let api = api::management_router(fleet.clone()).layer(TraceLayer::new_for_http());
    let agents = api::agent_router(fleet.clone()).layer(TraceLayer::new_for_http());
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for (listener, router) in [(api_listener, api), (agent_listener, agents)] {
        let handle = Handle::new();
        handles.push(handle.clone());
        listener.set_nonblocking(true)?;
        tasks.push(spawn(
            listener,
            router,
            handle,
            tls.clone(),
            config.header_read_timeout,
        ));
    }
    spawn_heartbeat_flusher(fleet.clone());
    spawn_status_sampler(fleet.clone());
    spawn_job_sweeper(fleet.clone());
    let hub = fleet.hub.clone();
    fleet
        .store
        .listen_policy_changes(std::sync::Arc::new(move |policy_id, revision| {
            hub.policy_changed(policy_id, revision)
        }))
        .await?;
    let hub = fleet.hub.clone();
    fleet
        .store
        .listen_actions(std::sync::Arc::new(move |agent_ids| {
            hub.actions_created(agent_ids)
        }))
        .await?;
    tracing::info!(api = %api_addr, "listening");
    tracing::info!(agents = %agent_addr, "listening");
    Ok(Server {
        api_addr,
        agent_addr,
        fleet,
        generated_password,
        handles,
        tasks,
    })
}

/// Every 30 s, one batched write refreshes `last_checkin` of the agents whose check-ins are held
/// and whose stored time is older than 2 minutes, so agents in a 5-minute long-poll never look
/// offline (6 minutes) without rewriting every agent every 30 s.
fn spawn_heartbeat_flusher(fleet: Fleet) {
    tokio::spawn(async move {
        let mut shutdown = fleet.hub.shutdown_signal();
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = fleet.flush_heartbeats(fleet::agents::protocol::CHECKIN_REFRESH).await {
                        tracing::warn!(error = %e, "heartbeat flush failed");
                    }
                }
                _ = fleet::hub::Hub::wait_shutdown(&mut shutdown) => break,
            }
        }
    });
}

/// Once a minute, the agent counts by status for the UI's chart (skipped when another node
/// sharing the database already recorded that minute).
fn spawn_status_sampler(fleet: Fleet) {
    tokio::spawn(async move {
        let mut shutdown = fleet.hub.shutdown_signal();
        let mut tick = tokio::time::interval(fleet::agents::STATUS_SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = fleet.sample_agent_status().await {
                        tracing::warn!(error = %e, "sampling agent status failed");
                    }
                }
                _ = fleet::hub::Hub::wait_shutdown(&mut shutdown) => break,
            }
        }
    });
}

/// Resumes bulk actions left unfinished by a stop, at once and then every 30 s for jobs whose
/// node went away (jobs lock their rows per batch, so two nodes never repeat a batch).
fn spawn_job_sweeper(fleet: Fleet) {
    tokio::spawn(async move {
        let mut shutdown = fleet.hub.shutdown_signal();
        let mut tick = tokio::time::interval(fleet::bulk::STALE_AFTER);
        let mut idle = Duration::ZERO;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = fleet.resume_jobs(idle).await {
                        tracing::warn!(error = %e, "resuming bulk actions failed");
                    }
                    idle = fleet::bulk::STALE_AFTER;
                }
                _ = fleet::hub::Hub::wait_shutdown(&mut shutdown) => break,
            }
        }
    });
}

fn spawn(
    listener: std::net::TcpListener,
    router: Router,
    handle: Handle,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    header_read_timeout: Duration,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let service = router.into_make_service();
    // hyper enforces the header-read deadline only when it has a timer.
    fn bounded<A>(mut server: axum_server::Server<A>, timeout: Duration) -> axum_server::Server<A> {
        server
            .http_builder()
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(timeout);
        server
    }
    match tls {
        Some(tls) => tokio::spawn(
            bounded(
                axum_server::from_tcp_rustls(listener, tls),
                header_read_timeout,
            )
            .handle(handle)
            .serve(service),
        ),
        None => tokio::spawn(
            bounded(axum_server::from_tcp(listener), header_read_timeout)
                .handle(handle)
                .serve(service),
        ),
    }
}

/// Opens the store and starts both listeners.
pub async fn start(config: &Config) -> anyhow::Result<Server> {
    let store = open_store(config).await?;
    start_with_store(config, store).await
}

/// Raises this process's open-files limit to its hard limit (each held agent connection is a
/// file); returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
