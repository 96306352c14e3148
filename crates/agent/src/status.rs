//! The agent's status listener: `GET /status` (JSON: the agent's state word, its last check,
//! last success and last error, and per model the active, candidate and last good versions,
//! the step of the update in progress, refused bundles and the last event) and `GET /metrics`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::error::Failure;
use crate::metrics::AgentMetrics;
use crate::state::ModelRecord;

/// What the agent is doing or why it is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentCondition {
    /// Starting.
    #[default]
    Starting,
    /// Waiting for the next check; all is well.
    Idle,
    /// Checking the repository or installing.
    Working,
    /// The repository cannot be reached; serving what is installed, retrying with backoff.
    Offline,
    /// The repository's metadata expired: nothing is installed until it is refreshed.
    MetadataExpired,
    /// The system clock is behind the latest time seen: nothing is installed until it is sane.
    ClockBehind,
    /// The repository's metadata was refused (signature, rollback, mix-and-match...).
    Untrusted,
    /// The last check failed for another reason (the server, this device).
    Failing,
}

impl AgentCondition {
    /// Where the agent stands after a check that failed with `failure`.
    pub fn after_failure(failure: Failure) -> AgentCondition {
        match failure {
            Failure::Unreachable => AgentCondition::Offline,
            Failure::Expired => AgentCondition::MetadataExpired,
            Failure::Clock => AgentCondition::ClockBehind,
            Failure::Untrusted(_) => AgentCondition::Untrusted,
            Failure::Bundle | Failure::Server | Failure::Local | Failure::Other => {
                AgentCondition::Failing
            }
        }
    }
}

/// The report `GET /status` answers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusReport {
    /// What the agent is doing.
    pub state: AgentCondition,
    /// When the last check began (RFC 3339).
    pub last_check: Option<String>,
    /// When a check last reached and verified the repository.
    pub last_success: Option<String>,
    /// The last error, if the last check failed.
    pub last_error: Option<String>,
    /// The reason word of the last error.
    pub last_error_reason: Option<&'static str>,
    /// Targets, snapshot and timestamp versions last verified.
    pub repository_versions: Option<[u64; 3]>,
    /// Per model.
    pub models: BTreeMap<String, ModelStatus>,
    /// This device's place in the fleet's rollouts, 0 to 9999: a wave that opens to N % of
    /// the fleet takes the devices below N x 100.
    pub wave_seed: Option<u32>,
}

/// One model in the report: the saved record (active and last good versions, the update in
/// progress, refusals, last event) with the update's version and step spelled out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelStatus {
    /// The version being installed or checked.
    pub candidate: Option<u64>,
    /// The step the update reached.
    pub step: Option<&'static str>,
    /// Newer versions not offered to this device yet, and why (`version 3: waiting for wave
    /// 2`, `version 4: paused`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
    /// The record as saved.
    #[serde(flatten)]
    pub record: ModelRecord,
}

impl ModelStatus {
    /// The status of a saved record.
    pub fn of(record: &ModelRecord) -> ModelStatus {
        ModelStatus {
            candidate: record.update.as_ref().map(|u| u.version),
            step: record.update.as_ref().map(|u| u.step.name()),
            waiting: Vec::new(),
            record: record.clone(),
        }
    }
}

/// The report, shared between the agent and the listener.
pub type SharedStatus = Arc<Mutex<StatusReport>>;

#[derive(Clone)]
struct ListenerState {
    status: SharedStatus,
    metrics: AgentMetrics,
}

async fn status(State(state): State<ListenerState>) -> Json<StatusReport> {
    let report = state
        .status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Json(report)
}

async fn metrics(State(state): State<ListenerState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        "no such endpoint: /status and /metrics are served here",
    )
}

/// The status listener's routes.
pub fn router(status_report: SharedStatus, agent_metrics: AgentMetrics) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(ListenerState {
            status: status_report,
            metrics: agent_metrics,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_trust::Failure as Trust;

    #[test]
    fn a_failed_check_says_offline_expired_clock_untrusted_or_failing_by_its_kind() {
        let after = AgentCondition::after_failure;
        assert_eq!(after(Failure::Unreachable), AgentCondition::Offline);
        assert_eq!(after(Failure::Expired), AgentCondition::MetadataExpired);
        assert_eq!(after(Failure::Clock), AgentCondition::ClockBehind);
        for kind in [
            Trust::Signature,
            Trust::Rollback,
            Trust::MixAndMatch,
            Trust::Hash,
            Trust::Length,
        ] {
            assert_eq!(
                after(Failure::from(kind)),
                AgentCondition::Untrusted,
                "{kind:?}"
            );
        }
        for kind in [
            Failure::Bundle,
            Failure::Server,
            Failure::Local,
            Failure::Other,
        ] {
            assert_eq!(after(kind), AgentCondition::Failing, "{kind:?}");
        }
        assert_eq!(Failure::from(Trust::Unreachable), Failure::Unreachable);
        assert_eq!(Failure::from(Trust::Hash).as_str(), "hash");
    }
}
