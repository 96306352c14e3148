//! `outpost-agent`: the update agent alone, the same program as `outpost agent` without the
//! server and its runtimes, for a small sidecar image and a small footprint. Flags, variables
//! and configuration file as docs/agent.md lists them.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use outpost_agent::cli::{main as run_agent, AgentArgs};

/// Keep an Outpost server's models current from a signed bundle repository: install, check,
/// promote, watch, roll back.
#[derive(Parser)]
#[command(name = "outpost-agent", version)]
struct Cli {
    #[command(flatten)]
    agent: AgentArgs,
    /// Instead of running: GET this URL once and exit 0 on a 2xx answer within 3 s, else 1
    /// (the health check of an image without a shell).
    #[arg(long, value_name = "URL")]
    probe: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(url) = &cli.probe {
        return match outpost_agent::probe::probe(url, Duration::from_secs(3)) {
            Ok(_) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("outpost-agent: probe: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match run_agent(&cli.agent) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("outpost-agent: error: {error}");
            ExitCode::FAILURE
        }
    }
}
