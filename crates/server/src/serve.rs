//! Running the server: read the TLS files, bind the HTTP and gRPC listeners, announce their
//! addresses, load the repository in the background (readiness turns true when done), serve until
//! SIGTERM or SIGINT, then let in-flight requests finish within the configured grace period.

use outpost_core::RecordSink;
use outpost_outbox::metrics::OutboxCollector;
use outpost_outbox::Outbox;

use crate::status::StatusPage;
use prometheus_client::collector::Collector;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use outpost_core::ProbeContext;
use outpost_engine::Backends;
use outpost_engine::ContainerLimits;
use outpost_engine::MemoryBudget;
use outpost_engine::{Engine, EngineSettings};
use outpost_protocol::DecodeLimits;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{resolve_control_token, ServerConfig};
use crate::connections::http::Governance;
use crate::connections::{
    self, ConnectionLimits, ConnectionStats, ConnectionsCollector, ListenerKind,
};
use crate::grpc::{self, GrpcIncoming};
use crate::http::{self, AppState};
use crate::runtimes::ConfiguredRuntimes;
use crate::tls::{ListenerTls, TlsError, TlsSetup};

/// Why the server did not start, or stopped with an error.
#[derive(Debug, Error)]
pub enum ServeError {
    /// `model_repository` is no directory.
    #[error("model repository {0} is not a directory")]
    MissingRepository(String),
    /// A listener's address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The inference threads could not be started.
    #[error("cannot start the inference threads: {0}")]
    Executor(std::io::Error),
    /// A setting could not be used (the control token file).
    #[error(transparent)]
    Config(crate::config::ConfigError),
    /// The TLS files could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Grpc(String),
    /// A listener failed.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The outbox could not be opened, or its destination cannot be used.
    #[error(transparent)]
    Outbox(#[from] outpost_outbox::OutboxError),
    /// The status page's agent URL cannot be asked.
    #[error(transparent)]
    StatusPage(#[from] crate::status::AgentUrlError),
}

/// How a running server is watched over: where it announces its listeners, and what stops it.
pub struct Supervision {
    /// Told each listener's line (`outpost: http listening on ADDR`, the HTTP line last).
    pub announce: Box<dyn Fn(&str) + Send + Sync>,
    /// Stop on SIGTERM or SIGINT.
    pub signals: bool,
    /// Stop once this turns true.
    pub stop: Option<watch::Receiver<bool>>,
}

impl Supervision {
    /// A server that is the process: lines on standard output (tests and supervisors read
    /// them), stopped by SIGTERM or SIGINT.
    pub fn process() -> Supervision {
        Supervision {
            announce: Box::new(announce),
            signals: true,
            stop: None,
        }
    }
}

/// Runs the server with `config` until a shutdown signal; thread pools size from `limits`; models
/// load on the `runtimes` the binary registered.
pub async fn serve(
    config: ServerConfig,
    limits: ContainerLimits,
    runtimes: ConfiguredRuntimes,
) -> Result<(), ServeError> {
    serve_supervised(config, limits, runtimes, Supervision::process()).await
}

/// [`serve`], announcing and stopping as `supervision` says (a server inside another program,
/// such as a test).
pub async fn serve_supervised(
    config: ServerConfig,
    limits: ContainerLimits,
    runtimes: ConfiguredRuntimes,
    supervision: Supervision,
) -> Result<(), ServeError> {
    if !config.model_repository.is_dir() {
        return Err(ServeError::MissingRepository(
            config.model_repository.display().to_string(),
        ));
    }
    // Before binding: model control open to anyone, a bad certificate or key stop the start.
    let control_token = resolve_control_token(&config.model_control).map_err(ServeError::Config)?;
    config
        .check_control_exposure(control_token.is_some())
        .map_err(ServeError::Config)?;
    let tls = TlsSetup::from_config(&config.tls)?;
    let connection_stats = Arc::new(ConnectionStats::default());
    let (engine, outbox_handle) = start_engine(
        &config,
        &limits,
        runtimes,
        control_token,
        connection_stats.clone(),
    )
    .await?;
    let connection_limits = ConnectionLimits::from(&config.connections);
    let governance = |listener| Governance {
        limits: connection_limits.clone(),
        stats: connection_stats.clone(),
        listener,
    };
    let status_page = StatusPage::new(&config.status_page, outbox_handle.clone())?;
    let listeners = Listeners::bind(&config, &tls, supervision.announce.as_ref()).await?;
    let state = Arc::new(AppState {
        engine,
        max_body_bytes: config.http.max_body_bytes,
        decode_limits: DecodeLimits {
            max_elements_per_tensor: config.limits.max_tensor_elements,
        },
        strict_readiness: config.strict_readiness,
        startup_complete: AtomicBool::new(false),
        shutting_down: AtomicBool::new(false),
        status_page,
    });
    tokio::spawn(load_repository(state.clone()));
    let state_outbox = outbox_handle;
    let Listeners {
        http: listener,
        grpc: grpc_listener,
        metrics: metrics_listener,
    } = listeners;

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(wait_for_stop(
        state.clone(),
        stop_tx,
        supervision.signals,
        supervision.stop,
    ));
    let grace = Duration::from_secs(config.shutdown_timeout_secs);
    let grpc = {
        let state = state.clone();
        let stop = stopped(stop_rx.clone());
        let max_message = config.grpc.max_message_bytes;
        let governance = governance(ListenerKind::Grpc);
        let incoming = match (grpc_listener, &tls.grpc) {
            (Some(listener), Some(grpc_tls)) => {
                Some(GrpcIncoming::Tls(grpc_tls.incoming(listener)?))
            }
            (Some(listener), None) => Some(GrpcIncoming::Plaintext(listener)),
            (None, _) => None,
        };
        async move {
            match incoming {
                Some(incoming) => grpc::serve(incoming, state, max_message, governance, stop)
                    .await
                    .map_err(|e| ServeError::Grpc(e.to_string())),
                None => Ok(()),
            }
        }
    };
    let metrics_only = {
        let router = http::metrics_router(state.clone());
        let stop = stopped(stop_rx.clone());
        let tls = tls.http.clone();
        let governance = governance(ListenerKind::Metrics);
        async move {
            match metrics_listener {
                Some(listener) => serve_http(listener, tls, router, governance, stop).await,
                None => Ok(()),
            }
        }
    };
    let with_metrics = config.metrics.enabled && config.metrics.port.is_none();
    let http = serve_http(
        listener,
        tls.http,
        http::router(state, with_metrics),
        governance(ListenerKind::Http),
        stopped(stop_rx.clone()),
    );
    tokio::select! {
        result = async { tokio::try_join!(http, grpc, metrics_only) } => { result?; }
        () = async { stopped(stop_rx).await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the shutdown grace period; exiting anyway");
        }
    }
    if let Some(outbox) = state_outbox {
        outbox.close();
    }
    tracing::info!("server stopped");
    Ok(())
}

/// The listeners, bound before any model loads so that liveness answers during long loads.
struct Listeners {
    http: TcpListener,
    grpc: Option<TcpListener>,
    /// Only when `/metrics` has a port of its own.
    metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds every configured listener and announces each address on standard output: the gRPC
    /// and metrics lines first, since the HTTP line tells readers that every listener is bound.
    async fn bind(
        config: &ServerConfig,
        tls: &TlsSetup,
        announce: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Listeners, ServeError> {
        let grpc = if config.grpc.enabled {
            Some(bind(config.grpc.host, config.grpc.port).await?)
        } else {
            None
        };
        let metrics = match (config.metrics.enabled, config.metrics.port) {
            (true, Some(port)) => Some(bind(config.metrics.host, port).await?),
            _ => None,
        };
        let http = bind(config.http.host, config.http.port).await?;
        if let Some(grpc) = &grpc {
            let local = grpc.local_addr()?;
            announce(&format!("outpost: grpc listening on {local}"));
            tracing::info!(%local, tls = tls.grpc.is_some(), "gRPC server listening");
        }
        if let Some(metrics) = &metrics {
            let local = metrics.local_addr()?;
            announce(&format!("outpost: metrics listening on {local}"));
            tracing::info!(%local, tls = tls.http.is_some(), "metrics server listening");
        }
        let local = http.local_addr()?;
        announce(&format!("outpost: http listening on {local}"));
        tracing::info!(%local, tls = tls.http.is_some(), "HTTP server listening");
        Ok(Listeners {
            http,
            grpc,
            metrics,
        })
    }
}

/// Opens the outbox (starting its forwarder), probes the runtimes within the memory budget and
/// builds the engine (no model loaded yet).
async fn start_engine(
    config: &ServerConfig,
    limits: &ContainerLimits,
    runtimes: ConfiguredRuntimes,
    control_token: Option<String>,
    connection_stats: Arc<ConnectionStats>,
) -> Result<(Engine, Option<Arc<Outbox>>), ServeError> {
    let budget = MemoryBudget::new(&config.memory, limits, config.inference.retry_after_secs);
    let context = ProbeContext {
        memory_budget_bytes: budget.budget_bytes(),
    };
    let backends = tokio::task::spawn_blocking(move || Backends::probe(runtimes, &context))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    tracing::info!(
        cpus = limits.cpus(),
        cpu_quota_cores = limits.cpu_quota_cores,
        memory_limit_bytes = limits.memory_limit_bytes,
        cgroup = limits.memory_cgroup_name(),
        "container limits"
    );
    tracing::info!(
        memory_budget_bytes = budget.budget_bytes(),
        evict_idle_models = config.memory.evict_idle_models,
        "memory budget for models"
    );
    let outbox = Outbox::open(&config.outbox)?;
    if let Some(outbox) = &outbox {
        outbox.spawn_forwarder(&config.outbox)?;
    }
    let settings = EngineSettings {
        model_repository: config.model_repository.clone(),
        control_mode: config.model_control.mode,
        poll_interval: Duration::from_secs(config.model_control.poll_interval_secs),
        control_token,
        limits: config.limits.clone(),
        inference: config.inference.clone(),
        metrics_enabled: config.metrics.enabled,
        upstream_connector: Some(Arc::new(outpost_upstream::V2Connector)),
        server_upstream: config.upstream.clone(),
        extra_metrics: outbox
            .iter()
            .map(|o| Box::new(OutboxCollector(o.clone())) as Box<dyn Collector>)
            .chain([Box::new(ConnectionsCollector(connection_stats)) as Box<dyn Collector>])
            .collect(),
        outbox: outbox.clone().map(|o| o as Arc<dyn RecordSink>),
    };
    let engine = Engine::new(settings, limits, budget, backends).map_err(ServeError::Executor)?;
    Ok((engine, outbox))
}

/// Serves `router` on `listener` (over TLS when `tls` is given) under `governance`'s
/// connection limits until `stop` completes.
async fn serve_http(
    listener: TcpListener,
    tls: Option<ListenerTls>,
    router: axum::Router,
    governance: Governance,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    match tls {
        Some(tls) => {
            connections::http::serve(tls.incoming(listener)?, router, governance, stop).await;
        }
        None => {
            // Answers go out at once rather than waiting on Nagle's algorithm for the client's
            // ACK.
            let listener = listener.tap_io(|stream| {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
                }
            });
            connections::http::serve(listener, router, governance, stop).await;
        }
    }
    Ok(())
}

async fn bind(host: std::net::IpAddr, port: u16) -> Result<TcpListener, ServeError> {
    TcpListener::bind((host, port))
        .await
        .map_err(|source| ServeError::Bind {
            addr: format!("{host}:{port}"),
            source,
        })
}

/// Prints a machine-readable line on standard output (tests and supervisors read it).
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Loads the repository, then marks the start-up complete (readiness may turn true).
async fn load_repository(state: Arc<AppState>) {
    let summary = state.engine.load_repository().await;
    // Mark completion before logging it, so the log line implies readiness was decided.
    state.startup_complete.store(true, Ordering::Release);
    tracing::info!(
        models = summary.models,
        ready = summary.ready,
        mode = %state.engine.control_mode(),
        "model repository loaded"
    );
}

/// Waits for what stops the server (a signal when `signals`, `external` turning true), then
/// marks it shutting down and tells the listeners.
async fn wait_for_stop(
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    signals: bool,
    external: Option<watch::Receiver<bool>>,
) {
    let signal = async {
        if signals {
            wait_for_signal().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let external = async {
        match external {
            Some(receiver) => stopped(receiver).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = signal => tracing::info!("shutdown signal received; finishing in-flight requests"),
        () = external => tracing::info!("stop requested; finishing in-flight requests"),
    }
    state.shutting_down.store(true, Ordering::Release);
    let _ = stop.send(true);
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
