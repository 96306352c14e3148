//! Running the agent. [`assemble`] makes its parts from the configuration (the state folder, the
//! followed repository, the device's id, the installer, the state, the status writer) around a
//! server and a clock; [`run`] gives them the server over HTTP and the system clock, serves the
//! status listener, writes the status to `status.url`, then checks forever: every poll interval
//! while all is well, with exponential backoff and jitter while checks fail (the server keeps
//! serving what is installed meanwhile). A shutdown request lets the step in progress finish for
//! a while, then abandons it; every step can be resumed or undone at the next start.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use outpost_storage::RepositoryLocation;

use crate::backoff::next_delay;
use crate::clock::{SharedClock, SystemClock};
use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::fetch::RepositoryWatch;
use crate::install::Installer;
use crate::metrics::AgentMetrics;
use crate::server::ModelServer;
use crate::server_api::ServerApi;
use crate::state::StateFile;
use crate::status::{router, SharedStatus};
use crate::status_upload::StatusWriter;
use crate::updater::{Updater, UpdaterParts};

fn private_dir(path: &std::path::Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(path)
        .map_err(AgentError::io(format!("creating {}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(AgentError::io(format!("restricting {}", path.display())))?;
    }
    Ok(())
}

/// Whether the agent keeps going or checks once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Check every poll interval until shut down, serving `/status` and `/metrics`.
    Forever,
    /// Finish what a previous run left, check once, and return that check's result (for cron
    /// jobs, provisioning and tests); no status listener.
    Once,
}

/// An agent's parts, made from its configuration around a server and a clock.
pub struct Assembled<S> {
    /// The updater.
    pub updater: Updater<S>,
    /// The report `/status` serves (and the status writer writes).
    pub status: SharedStatus,
    /// The agent's metrics.
    pub metrics: AgentMetrics,
    /// The writer of the status to `status.url`, when set.
    pub status_writer: Option<StatusWriter<S>>,
}

/// Makes the agent's parts from `config` for the server `api`, reading time from `clock`: the
/// state folder (private), the followed repository, the device's id and wave seed, the
/// installer, the durable state and the status writer. `outpost agent` runs them over HTTP with
/// the system clock; tests and fleet simulations with a server and clock of their own.
pub fn assemble<S: ModelServer + Clone>(
    config: AgentConfig,
    api: S,
    clock: SharedClock,
) -> Result<Assembled<S>, AgentError> {
    let state_dir = config.state_dir();
    private_dir(&state_dir)?;
    let datastore = state_dir.join("tuf");
    private_dir(&datastore)?;
    let downloads = state_dir.join("downloads");
    private_dir(&downloads)?;
    let trusted_root =
        std::fs::read(&config.repository.trusted_root).map_err(AgentError::io(format!(
            "reading the trusted root {}",
            config.repository.trusted_root.display()
        )))?;
    let repository = RepositoryWatch::new(
        &config.repository.url,
        &config.storage_settings(),
        trusted_root,
        datastore,
    )?;
    let status = SharedStatus::default();
    let device_id = crate::device_identity::device_id(&config, &state_dir)?;
    let seed = outpost_trust::device_seed(&device_id);
    let status_writer = match &config.status.url {
        Some(url) => Some(StatusWriter::new(
            RepositoryLocation::open(url, &config.storage_settings())?,
            device_id,
            Duration::from_secs(config.status.heartbeat_secs),
            status.clone(),
            api.clone(),
        )),
        None => None,
    };
    let installer = Installer::new(config.model_repository.clone(), state_dir.join("golden"));
    let state = StateFile::open(&state_dir)?;
    let metrics = AgentMetrics::default();
    let updater = Updater::new(UpdaterParts {
        config,
        api,
        clock,
        installer,
        repository,
        state,
        downloads,
        status: status.clone(),
        metrics: metrics.clone(),
        seed,
    });
    Ok(Assembled {
        updater,
        status,
        metrics,
        status_writer,
    })
}

/// Runs the agent with `config` until `shutdown` completes (or once, by `mode`).
/// `on_listening` is told the status listener's address once it is bound.
pub async fn run(
    config: AgentConfig,
    mode: RunMode,
    shutdown: impl Future<Output = ()>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), AgentError> {
    let token = config.control_token()?;
    let api = ServerApi::new(
        &config.server.url,
        config.server.metrics_url.as_deref(),
        token,
        Duration::from_secs(config.server.request_timeout_secs),
    )?;
    let address = SocketAddr::new(config.status.host, config.status.port);
    let poll = Duration::from_secs(config.repository.poll_interval_secs);
    let cap = Duration::from_secs(config.repository.max_backoff_secs);
    let grace = Duration::from_secs(config.shutdown_timeout_secs);
    let Assembled {
        mut updater,
        status,
        metrics,
        status_writer,
    } = assemble(config, api, Arc::new(SystemClock))?;
    if mode == RunMode::Once {
        updater.resume().await?;
        let checked = updater.check().await;
        if let Some(writer) = &status_writer {
            if let Err(error) = writer.write_now().await {
                tracing::warn!(%error, "cannot write the status");
            }
        }
        return checked;
    }
    let writer_task = status_writer.map(|writer| tokio::spawn(writer.run()));

    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(AgentError::io(format!(
            "binding the status listener to {address}"
        )))?;
    let bound = listener
        .local_addr()
        .map_err(AgentError::io("reading the status listener's address"))?;
    let app = router(status.clone(), metrics.clone());
    let listener_task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "status listener failed");
        }
    });
    on_listening(bound);

    tokio::pin!(shutdown);
    let mut failures = 0u32;
    let mut first = true;
    loop {
        let resume_first = std::mem::replace(&mut first, false);
        let work = async {
            if resume_first {
                if let Err(error) = updater.resume().await {
                    tracing::warn!(%error, "resuming the update in progress failed; retrying with the next check");
                }
            }
            updater.check().await
        };
        tokio::pin!(work);
        let outcome = tokio::select! {
            outcome = &mut work => outcome,
            () = &mut shutdown => {
                tracing::info!(grace_secs = grace.as_secs(), "shutting down: letting the step in progress finish");
                if tokio::time::timeout(grace, &mut work).await.is_err() {
                    tracing::warn!("step abandoned; it is resumed or undone at the next start");
                }
                break;
            }
        };
        match outcome {
            Ok(()) => failures = 0,
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%error, reason = error.reason(), failures, "check failed");
            }
        }
        let delay = next_delay(poll, cap, failures);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut shutdown => break,
        }
    }
    listener_task.abort();
    if let Some(task) = writer_task {
        task.abort();
    }
    tracing::info!("agent stopped");
    Ok(())
}
