//! The agent's command line, shared by `outpost agent` and the lean `outpost-agent` binary
//! (the same program without the server's runtimes, for a small sidecar image): `--config`,
//! `--once`, and one flag per setting, each also read from its `OUTPOST_*` variable.

use std::path::PathBuf;

use clap::Args;
use outpost_settings::flags::SettingFlags;

use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::run::{run, RunMode};

/// The agent's arguments.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// TOML configuration file.
    #[arg(long, env = "OUTPOST_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Finish what a previous run left, check the repository once, install what it offers,
    /// and exit: 0 when the check succeeded, 1 with the reason when it did not.
    #[arg(long)]
    once: bool,
    /// Every setting that has a flag (see docs/agent.md).
    #[command(flatten)]
    settings: SettingFlags<AgentConfig>,
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// A failure of the command, with the reason word of the agent's failures.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The agent failed.
    #[error("{0} (reason: {reason})", reason = .0.reason())]
    Agent(#[from] AgentError),
    /// The async runtime did not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the agent as `args` say, printing the status listener's address on standard output.
pub fn main(args: &AgentArgs) -> Result<(), CliError> {
    let config = AgentConfig::load(args.config.as_deref(), &args.settings.overrides)
        .map_err(AgentError::from)?;
    outpost_settings::logging::init(&config.log);
    // One thread: the agent waits on the network and the server nearly all the time, and a
    // small footprint matters more than parallelism here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .map_err(CliError::Runtime)?;
    let mode = if args.once {
        RunMode::Once
    } else {
        RunMode::Forever
    };
    runtime.block_on(run(config, mode, shutdown_signal(), |address| {
        println!("outpost-agent: status listening on {address}");
    }))?;
    Ok(())
}
