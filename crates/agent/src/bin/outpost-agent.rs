//! `outpost-agent`: the update agent alone, the same program as `outpost agent` without the
//! server and its runtimes, for a small sidecar image and a small footprint. Flags, variables
//! and configuration file as docs/agent.md lists them.

use std::process::ExitCode;

use clap::Parser;
use outpost_agent::cli::{main as run_agent, AgentArgs};

/// Keep an Outpost server's models current from a signed bundle repository: install, check,
/// promote, watch, roll back.
#[derive(Parser)]
#[command(name = "outpost-agent", version)]
struct Cli {
    #[command(flatten)]
    agent: AgentArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_agent(&cli.agent) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("outpost-agent: error: {error}");
            ExitCode::FAILURE
        }
    }
}
