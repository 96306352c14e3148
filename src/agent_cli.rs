//! `outpost agent`: runs the update agent (crates/agent) beside a server. Every flag is a
//! setting of the agent configuration and can also be given as its `OUTPOST_*` variable; both
//! override the TOML file named by `--config` (docs/agent.md lists them all).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use outpost_agent::{AgentConfig, RunMode};
use outpost_settings::flags::SettingFlags;

#[derive(Args)]
pub(crate) struct AgentArgs {
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
async fn shutdown_signal() {
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

pub(crate) fn run(args: &AgentArgs) -> anyhow::Result<()> {
    let config = AgentConfig::load(args.config.as_deref(), &args.settings.overrides)
        .context("loading configuration")?;
    outpost_server::logging::init(&config.log);
    // One thread: the agent waits on the network and the server nearly all the time, and a
    // small footprint matters more than parallelism here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .context("starting the async runtime")?;
    let mode = if args.once {
        RunMode::Once
    } else {
        RunMode::Forever
    };
    runtime
        .block_on(outpost_agent::run(
            config,
            mode,
            shutdown_signal(),
            |address| {
                println!("outpost-agent: status listening on {address}");
            },
        ))
        .map_err(|error| anyhow::anyhow!("{error} (reason: {})", error.reason()))
}
