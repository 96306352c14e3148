//! The load generator: closed-loop (a fixed number of clients, each waiting for its answer)
//! and open-loop (a fixed arrival rate; latency counts from when a request was due, so a server
//! falling behind shows as queueing rather than as a slower client).
//!
//! It runs on the calling thread (a current-thread tokio runtime) so that the client takes at
//! most one core from the server it measures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::procfs::UsageSampler;
use crate::stats::{ProcessUsage, Recorder};

/// One request, sent again and again.
#[derive(Clone)]
pub struct RequestTemplate {
    /// `POST` for inference, `GET` for a page.
    pub method: reqwest::Method,
    /// Where it goes.
    pub url: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// Answers slower than this count as "timeout".
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Open-loop requests still unanswered when this many are outstanding are not sent; each
/// counts as "client backlog full".
const MAX_OUTSTANDING: usize = 1024;

/// Sends requests in closed or open loops from one thread and records their outcomes.
pub struct LoadGenerator {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl LoadGenerator {
    /// A generator with its own runtime and HTTP client.
    pub fn new() -> std::io::Result<LoadGenerator> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(MAX_OUTSTANDING)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?;
        Ok(LoadGenerator { runtime, client })
    }

    /// `concurrency` clients send requests back to back for `warmup` (not recorded), then
    /// for `duration`.
    pub fn closed_loop(
        &self,
        request: &RequestTemplate,
        concurrency: usize,
        warmup: Duration,
        duration: Duration,
    ) -> (Recorder, Duration) {
        self.runtime.block_on(async {
            let run = |length: Duration| {
                let deadline = Instant::now() + length;
                let clients: Vec<_> = (0..concurrency.max(1))
                    .map(|_| {
                        let (client, request) = (self.client.clone(), request.clone());
                        tokio::spawn(async move {
                            let mut own = Recorder::new();
                            while Instant::now() < deadline {
                                send(&client, &request, Instant::now(), &mut own).await;
                            }
                            own
                        })
                    })
                    .collect();
                collect(Recorder::new(), clients)
            };
            run(warmup).await;
            run(duration).await
        })
    }

    /// [`LoadGenerator::closed_loop`] against the server process `pid`, with its CPU time and
    /// peak resident memory over the measured part (the warm-up left out).
    pub fn closed_loop_sampled(
        &self,
        request: &RequestTemplate,
        concurrency: usize,
        warmup: Duration,
        duration: Duration,
        pid: u32,
    ) -> (Recorder, Duration, ProcessUsage) {
        self.closed_loop(request, concurrency, Duration::ZERO, warmup);
        let sampler = UsageSampler::start(pid);
        let (recorder, elapsed) = self.closed_loop(request, concurrency, Duration::ZERO, duration);
        (recorder, elapsed, sampler.finish())
    }

    /// Sends `request` once and returns the answer's status, headers and body; `timeout`
    /// replaces the generator's own (a first request may build an accelerator's engine).
    pub fn fetch(
        &self,
        request: &RequestTemplate,
        timeout: Duration,
    ) -> Result<(u16, HeaderMap, Bytes), reqwest::Error> {
        self.runtime.block_on(async {
            let response = self
                .client
                .request(request.method.clone(), &request.url)
                .headers(request.headers.clone())
                .body(request.body.clone())
                .timeout(timeout)
                .send()
                .await?;
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            Ok((status, headers, response.bytes().await?))
        })
    }

    /// `GET url` once: the answer's status and body.
    pub fn get(&self, url: &str, timeout: Duration) -> Result<(u16, Bytes), reqwest::Error> {
        self.runtime.block_on(async {
            let response = self.client.get(url).timeout(timeout).send().await?;
            let status = response.status().as_u16();
            Ok((status, response.bytes().await?))
        })
    }

    /// Sends requests at `rate_per_s` for `duration`, whatever the answers do.
    pub fn open_loop(
        &self,
        request: &RequestTemplate,
        rate_per_s: f64,
        duration: Duration,
    ) -> (Recorder, Duration) {
        self.runtime.block_on(async {
            let mut refused = Recorder::new();
            let interval = Duration::from_secs_f64(1.0 / rate_per_s.max(0.001));
            let started = Instant::now();
            let outstanding = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            let mut due = started;
            while due < started + duration {
                tokio::time::sleep_until(due.into()).await;
                if outstanding.load(Ordering::Relaxed) >= MAX_OUTSTANDING {
                    refused.error("client backlog full");
                } else {
                    outstanding.fetch_add(1, Ordering::Relaxed);
                    let (client, request, outstanding) =
                        (self.client.clone(), request.clone(), outstanding.clone());
                    let planned = due;
                    tasks.push(tokio::spawn(async move {
                        let mut own = Recorder::new();
                        send(&client, &request, planned, &mut own).await;
                        outstanding.fetch_sub(1, Ordering::Relaxed);
                        own
                    }));
                }
                due += interval;
            }
            let (recorder, _) = collect(refused, tasks).await;
            (recorder, started.elapsed())
        })
    }
}

/// Waits for every task and merges their recorders into `total`; also returns how long the
/// wait took.
async fn collect(
    mut total: Recorder,
    tasks: Vec<tokio::task::JoinHandle<Recorder>>,
) -> (Recorder, Duration) {
    let started = Instant::now();
    for task in tasks {
        match task.await {
            Ok(recorder) => total.merge(&recorder),
            Err(_) => total.error("client task failed"),
        }
    }
    (total, started.elapsed())
}

/// Sends one request and records its outcome, its latency counted from `since`.
async fn send(
    client: &reqwest::Client,
    request: &RequestTemplate,
    since: Instant,
    recorder: &mut Recorder,
) {
    let result = client
        .request(request.method.clone(), &request.url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .send()
        .await;
    match result {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(_) if status.is_success() => recorder.success(since.elapsed()),
                Ok(_) => recorder.error(format!("HTTP {}", status.as_u16())),
                Err(e) => recorder.error(classify(&e)),
            }
        }
        Err(e) => recorder.error(classify(&e)),
    }
}

fn classify(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}
