//! The agent beside the server, as the status page shows it: the agent's `GET /status` JSON,
//! fetched by the server (so no browser needs to reach the agent) with a short timeout and a
//! bound on its size, kept for a second so that several open pages ask the agent once, and
//! narrowed to what the page shows (state, checks, the last error, and per model the active,
//! candidate and last good versions, the step, the last event and watch, and the last refusals
//! with their reasons).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Longest wait for the agent's answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest answer read; a longer one is reported, not parsed.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// How long one answer serves every page.
const KEEP_FOR: Duration = Duration::from_secs(1);
/// Refusals shown per model, newest last.
const REFUSALS_SHOWN: usize = 5;

/// Where the agent's status comes from, and its last answer.
pub(crate) struct AgentStatusSource {
    url: String,
    client: reqwest::Client,
    last: tokio::sync::Mutex<Option<(Instant, AgentView)>>,
}

/// What the page shows of the agent.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AgentView {
    /// The URL asked.
    url: String,
    /// Whether it answered with a report.
    reachable: bool,
    /// Why not, when it did not.
    error: Option<String>,
    /// Its report.
    report: Option<AgentReport>,
}

/// The agent's report, the parts the page shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentReport {
    #[serde(default)]
    state: String,
    #[serde(default)]
    last_check: Option<String>,
    #[serde(default)]
    last_success: Option<String>,
    #[serde(default)]
    last_error: Option<String>,
    #[serde(default)]
    models: BTreeMap<String, AgentModel>,
}

/// One model in the agent's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentModel {
    #[serde(default)]
    active: Option<u64>,
    #[serde(default)]
    candidate: Option<u64>,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    last_good: Option<u64>,
    #[serde(default)]
    last_event: Option<String>,
    #[serde(default)]
    last_watch: Option<String>,
    #[serde(default)]
    waiting: Vec<String>,
    #[serde(default)]
    rejected: Vec<AgentRefusal>,
}

/// A bundle the agent refused or rolled back.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentRefusal {
    version: u64,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    at: String,
}

impl AgentStatusSource {
    /// Asks `url` (an http:// or https:// URL, checked with the configuration).
    pub(crate) fn new(url: String) -> Result<AgentStatusSource, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(AgentStatusSource {
            url,
            client,
            last: tokio::sync::Mutex::new(None),
        })
    }

    /// The agent's status, asked again when the last answer is more than a second old.
    pub(crate) async fn view(&self) -> AgentView {
        let mut last = self.last.lock().await;
        if let Some((at, view)) = last.as_ref() {
            if at.elapsed() < KEEP_FOR {
                return view.clone();
            }
        }
        let view = match self.fetch().await {
            Ok(report) => AgentView {
                url: self.url.clone(),
                reachable: true,
                error: None,
                report: Some(report),
            },
            Err(error) => AgentView {
                url: self.url.clone(),
                reachable: false,
                error: Some(error),
                report: None,
            },
        };
        *last = Some((Instant::now(), view.clone()));
        view
    }

    async fn fetch(&self) -> Result<AgentReport, String> {
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("the agent did not answer: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!("the agent answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the agent's answer broke off: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "the agent's answer is longer than {MAX_ANSWER_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let mut report: AgentReport = serde_json::from_slice(&body)
            .map_err(|e| format!("the agent's answer is not its status report: {e}"))?;
        for model in report.models.values_mut() {
            let excess = model.rejected.len().saturating_sub(REFUSALS_SHOWN);
            model.rejected.drain(..excess);
        }
        Ok(report)
    }
}

/// reqwest's error without the URL it repeats (the view names it once).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    if error.is_timeout() {
        return format!("no answer within {} ms", FETCH_TIMEOUT.as_millis());
    }
    if error.is_connect() {
        return "connection refused or unreachable".to_string();
    }
    text
}
