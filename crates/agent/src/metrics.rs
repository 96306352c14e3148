//! The agent's Prometheus metrics (`GET /metrics` on its status port): repository checks by
//! result, bundle downloads with their bytes and resumes, verifications that failed by reason,
//! installs by outcome, and rollbacks.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The agent's counters. Clones share them.
#[derive(Clone, Default)]
pub struct AgentMetrics {
    checks: Family<ResultLabel, Counter>,
    downloads: Counter,
    download_bytes: Counter,
    download_resumes: Counter,
    verification_failures: Family<ReasonLabel, Counter>,
    installs: Family<OutcomeLabel, Counter>,
    rollbacks: Counter,
    last_success: Gauge,
    registry: Arc<std::sync::OnceLock<Registry>>,
}

impl AgentMetrics {
    /// A repository check: `unchanged`, `verified` or `failed`.
    pub fn check(&self, result: &'static str) {
        self.checks.get_or_create(&ResultLabel { result }).inc();
        if result != "failed" {
            self.last_success.set(crate::state::now_secs());
        }
    }

    /// A finished download of `bytes` transferred, `resumed` when it continued a partial one.
    pub fn download(&self, bytes: u64, resumed: bool) {
        self.downloads.inc();
        self.download_bytes.inc_by(bytes);
        if resumed {
            self.download_resumes.inc();
        }
    }

    /// Metadata or a bundle that failed verification, by reason.
    pub fn verification_failed(&self, reason: &'static str) {
        self.verification_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// An install that ended: `promoted` or `rejected`.
    pub fn install(&self, outcome: &'static str) {
        self.installs.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// A rollback.
    pub fn rollback(&self) {
        self.rollbacks.inc();
    }

    fn registry(&self) -> &Registry {
        self.registry.get_or_init(|| {
            let mut registry = Registry::default();
            registry.register(
                "outpost_agent_checks",
                "Repository checks by result (unchanged, verified, failed)",
                self.checks.clone(),
            );
            registry.register(
                "outpost_agent_downloads",
                "Bundle downloads finished",
                self.downloads.clone(),
            );
            registry.register(
                "outpost_agent_download_bytes",
                "Bytes of bundles transferred, resumed transfers included",
                self.download_bytes.clone(),
            );
            registry.register(
                "outpost_agent_download_resumes",
                "Downloads that continued a partial file",
                self.download_resumes.clone(),
            );
            registry.register(
                "outpost_agent_verification_failures",
                "Metadata or bundles refused, by reason",
                self.verification_failures.clone(),
            );
            registry.register(
                "outpost_agent_installs",
                "Installs that ended, by outcome (promoted, rejected)",
                self.installs.clone(),
            );
            registry.register(
                "outpost_agent_rollbacks",
                "Promoted versions rolled back after their watch",
                self.rollbacks.clone(),
            );
            registry.register(
                "outpost_agent_last_successful_check_timestamp_seconds",
                "Unix time of the last check that reached and verified the repository",
                self.last_success.clone(),
            );
            registry
        })
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, self.registry());
        text
    }
}
