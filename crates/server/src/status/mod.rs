//! The status page's figures (`GET /status/data`, read by the page every two seconds): the
//! engine's status (models, versions, series, threads, memory: `Engine::status`), the server's
//! own facts (version, uptime, readiness), the outbox's backlog and uploads, and the agent's
//! report when `status_page.agent_status_url` names one ([`agent`]). The page itself (HTML,
//! script, style) is embedded in the binary ([`assets`]); the REST front end serves both.

mod agent;
pub(crate) mod assets;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use outpost_engine::{Engine, EngineStatus};
use outpost_outbox::Outbox;
use serde::Serialize;

use crate::about;
use crate::config::StatusPageConfig;
use agent::{AgentStatusSource, AgentView};

/// What the status page reads besides the engine.
pub struct StatusPage {
    started: Instant,
    outbox: Option<Arc<Outbox>>,
    agent: Option<AgentStatusSource>,
}

/// The agent's status URL could not be used.
#[derive(Debug, thiserror::Error)]
#[error("status_page.agent_status_url: {0}")]
pub struct AgentUrlError(#[from] reqwest::Error);

impl StatusPage {
    /// The page as `config` sets it up, with the server's outbox; `None` when it is off.
    pub fn new(
        config: &StatusPageConfig,
        outbox: Option<Arc<Outbox>>,
    ) -> Result<Option<StatusPage>, AgentUrlError> {
        if !config.enabled {
            return Ok(None);
        }
        let agent = config
            .agent_status_url
            .clone()
            .map(AgentStatusSource::new)
            .transpose()?;
        Ok(Some(StatusPage {
            started: Instant::now(),
            outbox,
            agent,
        }))
    }
}

/// `GET /status/data`.
#[derive(Debug, Serialize)]
pub(crate) struct StatusData {
    server: ServerFacts,
    #[serde(flatten)]
    engine: EngineStatus,
    outbox: Option<OutboxView>,
    agent: Option<AgentView>,
}

#[derive(Debug, Serialize)]
struct ServerFacts {
    name: &'static str,
    version: &'static str,
    uptime_secs: u64,
    ready: bool,
    /// Milliseconds since the Unix epoch, when these figures were read.
    now_ms: u64,
}

/// The outbox as the page shows it.
#[derive(Debug, Serialize)]
struct OutboxView {
    backlog_records: Option<u64>,
    backlog_bytes: Option<u64>,
    oldest_record_age_secs: Option<f64>,
    uploaded_records: u64,
    uploaded_batches: u64,
    upload_failures: u64,
    dropped_records: u64,
    /// Seconds since the Unix epoch of the last good upload.
    last_upload_unix: Option<u64>,
}

fn outbox_view(outbox: &Outbox) -> OutboxView {
    let backlog = outbox.backlog().ok();
    let counts = outbox.counts();
    let now_ms = outpost_outbox::now_ms();
    let last_upload = counts.last_upload_unix.load(Ordering::Relaxed);
    OutboxView {
        backlog_records: backlog.map(|b| b.records),
        backlog_bytes: backlog.map(|b| b.bytes),
        oldest_record_age_secs: backlog
            .and_then(|b| b.oldest_at_ms)
            .map(|at| (now_ms - at).max(0) as f64 / 1000.0),
        uploaded_records: counts.uploaded_records.load(Ordering::Relaxed),
        uploaded_batches: counts.uploaded_batches.load(Ordering::Relaxed),
        upload_failures: counts.upload_failures.load(Ordering::Relaxed),
        dropped_records: counts.dropped_over_bounds.load(Ordering::Relaxed)
            + counts.dropped_unwritten.load(Ordering::Relaxed),
        last_upload_unix: (last_upload > 0).then_some(last_upload),
    }
}

/// The figures now, of `engine` in a server that is `ready` or not.
pub(crate) async fn data(engine: &Engine, ready: bool, page: &StatusPage) -> StatusData {
    let agent = match &page.agent {
        Some(source) => Some(source.view().await),
        None => None,
    };
    StatusData {
        server: ServerFacts {
            name: about::NAME,
            version: about::VERSION,
            uptime_secs: page.started.elapsed().as_secs(),
            ready,
            now_ms: outpost_outbox::now_ms().max(0) as u64,
        },
        engine: engine.status(),
        outbox: page.outbox.as_deref().map(outbox_view),
        agent,
    }
}
