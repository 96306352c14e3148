//! The `outpost` command line: `outpost serve` runs the model server.
//!
//! Every `serve` flag can also be given as an `OUTPOST_*` environment variable; both override
//! the TOML file named by `--config` (see docs/configuration.md).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use outpost_server::config::{ControlMode, LogFormat};
use outpost_server::{ConfigOverrides, ServerConfig};

#[derive(Parser)]
#[command(
    name = "outpost",
    version,
    about = "Edge AI inference server (Open Inference Protocol over ONNX Runtime and tract)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the models of a model repository over the Open Inference Protocol.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "OUTPOST_CONFIG")]
    config: Option<PathBuf>,
    /// Model repository: <dir>/<model>/<version>/model.onnx [default: models]
    #[arg(long, env = "OUTPOST_MODEL_REPOSITORY")]
    model_repository: Option<PathBuf>,
    /// Address to bind the HTTP server to [default: 0.0.0.0]
    #[arg(long, env = "OUTPOST_HTTP_HOST")]
    http_host: Option<IpAddr>,
    /// HTTP port; 0 picks a free port [default: 8000]
    #[arg(long, env = "OUTPOST_HTTP_PORT")]
    http_port: Option<u16>,
    /// Serve gRPC (inference.GRPCInferenceService) [default: true]
    #[arg(long, env = "OUTPOST_GRPC_ENABLED")]
    grpc_enabled: Option<bool>,
    /// Address to bind the gRPC server to [default: 0.0.0.0]
    #[arg(long, env = "OUTPOST_GRPC_HOST")]
    grpc_host: Option<IpAddr>,
    /// gRPC port; 0 picks a free port [default: 8001]
    #[arg(long, env = "OUTPOST_GRPC_PORT")]
    grpc_port: Option<u16>,
    /// PEM certificate chain; with --tls-key, the HTTP and gRPC listeners accept TLS only [default: none]
    #[arg(long, env = "OUTPOST_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the --tls-cert certificate [default: none]
    #[arg(long, env = "OUTPOST_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificates clients must present a certificate from (mutual TLS) [default: none]
    #[arg(long, env = "OUTPOST_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
    /// Serve Prometheus metrics on /metrics [default: true]
    #[arg(long, env = "OUTPOST_METRICS_ENABLED")]
    metrics_enabled: Option<bool>,
    /// Serve /metrics on this port instead of the HTTP port; 0 picks a free port [default: the HTTP port]
    #[arg(long, env = "OUTPOST_METRICS_PORT")]
    metrics_port: Option<u16>,
    /// Memory models may use, in bytes [default: the container's memory limit less memory.headroom_bytes]
    #[arg(long, env = "OUTPOST_MEMORY_BUDGET_BYTES")]
    memory_budget_bytes: Option<u64>,
    /// Unload the least recently used idle model when a model does not fit the budget [default: false]
    #[arg(long, env = "OUTPOST_EVICT_IDLE_MODELS")]
    evict_idle_models: Option<bool>,
    /// Model control: none, explicit (load/unload on request) or poll (follow the repository) [default: none]
    #[arg(long, env = "OUTPOST_MODEL_CONTROL_MODE")]
    model_control_mode: Option<ControlMode>,
    /// File with the bearer token the repository endpoints require [default: none]
    #[arg(long, env = "OUTPOST_CONTROL_TOKEN_FILE")]
    control_token_file: Option<PathBuf>,
    /// The bearer token itself (environment only, so it stays out of process listings)
    #[arg(skip = std::env::var("OUTPOST_CONTROL_TOKEN").ok().filter(|t| !t.trim().is_empty()))]
    control_token: Option<String>,
    /// Largest request body in bytes [default: 33554432]
    #[arg(long, env = "OUTPOST_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Largest number of elements in one input tensor [default: 16777216]
    #[arg(long, env = "OUTPOST_MAX_TENSOR_ELEMENTS")]
    max_tensor_elements: Option<usize>,
    /// Largest encoded image in bytes [default: 16777216]
    #[arg(long, env = "OUTPOST_MAX_IMAGE_BYTES")]
    max_image_bytes: Option<usize>,
    /// Largest width x height an image may declare [default: 40000000]
    #[arg(long, env = "OUTPOST_MAX_IMAGE_PIXELS")]
    max_image_pixels: Option<u64>,
    /// Requests executing at once [default: CPUs the container allows]
    #[arg(long, env = "OUTPOST_MAX_CONCURRENT_REQUESTS")]
    max_concurrent_requests: Option<usize>,
    /// Intra-op threads for models that do not set them [default: CPUs the container allows]
    #[arg(long, env = "OUTPOST_INTRA_OP_THREADS")]
    intra_op_threads: Option<usize>,
    /// Requests one model version may have waiting; more get 503 + Retry-After at once [default: 8]
    #[arg(long, env = "OUTPOST_MAX_QUEUED_REQUESTS_PER_MODEL")]
    max_queued_requests_per_model: Option<usize>,
    /// Path to libonnxruntime.so [default: search order in docs/configuration.md]
    #[arg(long, env = "OUTPOST_ORT_LIBRARY")]
    ort_library: Option<PathBuf>,
    /// Let ONNX Runtime upload usage telemetry to Microsoft [default: false]
    #[arg(long, env = "OUTPOST_ORT_TELEMETRY")]
    ort_telemetry: Option<bool>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "OUTPOST_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. info or debug [default: info]
    #[arg(long, env = "OUTPOST_LOG_LEVEL")]
    log_level: Option<String>,
    /// Report ready only when every model loaded [default: false]
    #[arg(long, env = "OUTPOST_STRICT_READINESS")]
    strict_readiness: Option<bool>,
}

impl ServeArgs {
    fn into_parts(self) -> (Option<PathBuf>, ConfigOverrides) {
        let overrides = ConfigOverrides {
            model_repository: self.model_repository,
            http_host: self.http_host,
            http_port: self.http_port,
            grpc_enabled: self.grpc_enabled,
            grpc_host: self.grpc_host,
            grpc_port: self.grpc_port,
            tls_cert_file: self.tls_cert,
            tls_key_file: self.tls_key,
            tls_client_ca_file: self.tls_client_ca,
            metrics_enabled: self.metrics_enabled,
            memory_budget_bytes: self.memory_budget_bytes,
            evict_idle_models: self.evict_idle_models,
            metrics_port: self.metrics_port,
            model_control_mode: self.model_control_mode,
            model_control_token_file: self.control_token_file,
            model_control_token: self.control_token,
            max_body_bytes: self.max_body_bytes,
            max_tensor_elements: self.max_tensor_elements,
            max_image_bytes: self.max_image_bytes,
            max_image_pixels: self.max_image_pixels,
            max_concurrent_requests: self.max_concurrent_requests,
            default_intra_op_threads: self.intra_op_threads,
            max_queued_requests_per_model: self.max_queued_requests_per_model,
            ort_library: self.ort_library,
            ort_telemetry: self.ort_telemetry,
            log_format: self.log_format,
            log_level: self.log_level,
            strict_readiness: self.strict_readiness,
        };
        (self.config, overrides)
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (file, overrides) = args.into_parts();
    let config = ServerConfig::load(file.as_deref(), overrides).context("loading configuration")?;
    // Before any other thread exists: environment changes race with threads reading it.
    outpost_server::runtimes::prepare_process(&config.ort);
    outpost_engine::process_memory::tune(config.memory.malloc_mmap_threshold_bytes);
    outpost_server::logging::init(&config.log);
    // The container's CPU quota, not the host's core count, sizes every thread pool.
    let limits = outpost_engine::container::ContainerLimits::detect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(limits.cpus())
        .thread_name("outpost-io")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(outpost_server::serve(config, limits))?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outpost: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
