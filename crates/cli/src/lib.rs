//! The `outpost` command line: `outpost serve` runs the model server; `outpost agent` keeps its
//! models current from a signed repository; `outpost bundle` packs and inspects model bundles;
//! `outpost repo` signs them into a TUF repository.
//!
//! Every `serve` flag is a setting of the server configuration and can also be given as its
//! `OUTPOST_*` environment variable; both override the TOML file named by `--config` (see
//! docs/configuration.md).
//!
//! This crate is the binaries' edge (errors end here as `anyhow` chains on standard error): each
//! binary (the root package's `outpost` and `outpost-ort`) is a `main` that calls [`main`] with
//! the runtimes it registers; their settings become `serve` flags too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
pub use outpost_core::Runtime;
use outpost_server::config::flags::SettingFlags;
use outpost_server::runtimes::runtime_settings;
use outpost_settings::flags::SettingOverrides;

mod agent_cli;
mod bundle_cli;
mod fleet_args;
mod fleet_cli;
mod fleet_control;
mod fleet_watch;
mod progress_bar;
mod repo_args;
mod repo_cli;
mod repo_renewal;
mod repo_sync;
mod runtime;

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
    /// Keep the server's models current from a signed bundle repository: install, check,
    /// promote, watch, roll back.
    Agent(agent_cli::AgentArgs),
    /// Model bundles: pack one model version with its golden cases, or check one.
    #[command(subcommand)]
    Bundle(bundle_cli::BundleCommand),
    /// A signed (TUF) repository of bundles: init, publish, refresh.
    #[command(subcommand)]
    Repo(repo_cli::RepoCommand),
    /// Rollouts across a fleet: open, pause, resume or yank a published bundle (signed with
    /// the fleet key), run the waves and the automatic halt (watch), see where devices stand
    /// (status).
    #[command(subcommand)]
    Fleet(fleet_args::FleetCommand),
    /// GET a URL once and exit 0 on a 2xx answer, else 1: the health check of an image without
    /// a shell (`outpost probe http://127.0.0.1:8000/v2/health/ready`).
    Probe(ProbeArgs),
}

#[derive(Args)]
struct ProbeArgs {
    /// The URL (plain HTTP).
    url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "OUTPOST_CONFIG")]
    config: Option<PathBuf>,
    /// Every setting that has a flag (see docs/configuration.md).
    #[command(flatten)]
    settings: SettingFlags,
}

fn serve(
    args: &ServeArgs,
    runtime_flags: &SettingOverrides,
    runtimes: &[Arc<dyn Runtime>],
) -> anyhow::Result<()> {
    let mut overrides = args.settings.overrides.clone();
    overrides.0.extend(runtime_flags.0.iter().cloned());
    // Before any other thread exists: environment changes (a runtime's, before its library
    // loads) race with threads reading them.
    let (config, runtimes) =
        outpost_server::load_config(args.config.as_deref(), &overrides, runtimes)
            .context("loading configuration")?;
    outpost_engine::tune_process_memory(outpost_engine::AllocatorTuning {
        mmap_threshold_bytes: config.memory.malloc_mmap_threshold_bytes,
        arena_max: config.memory.malloc_arena_max,
    });
    outpost_settings::logging::init(&config.log);
    // The container's CPU quota, not the host's core count, sizes every thread pool.
    let limits = outpost_engine::ContainerLimits::detect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(limits.cpus())
        .thread_name("outpost-io")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(outpost_server::serve(config, limits, runtimes))?;
    Ok(())
}

/// Parses the command line and runs the command; `runtimes` are those the calling binary
/// registers, in the order `backend = "auto"` tries them.
pub fn main(runtimes: &[Arc<dyn Runtime>]) -> ExitCode {
    let settings = runtime_settings(runtimes);
    let matches = Cli::command()
        .mut_subcommand("serve", |serve| {
            outpost_settings::flags::add_flags(serve, settings.clone())
        })
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let runtime_flags = matches
        .subcommand_matches("serve")
        .map(|serve| outpost_settings::flags::given_flags(serve, settings))
        .unwrap_or_default();
    let result = match cli.command {
        Command::Serve(args) => serve(&args, &runtime_flags, runtimes),
        Command::Agent(args) => agent_cli::run(&args),
        Command::Bundle(command) => bundle_cli::run(&command),
        Command::Repo(command) => repo_cli::run(&command),
        Command::Fleet(command) => fleet_cli::run(&command),
        Command::Probe(args) => outpost_agent::probe::probe(
            &args.url,
            std::time::Duration::from_secs(args.timeout_secs),
        )
        .map(|_| ())
        .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outpost: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
