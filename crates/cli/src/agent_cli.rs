//! `outpost agent`: the update agent (crates/agent, whose command line this is) beside a
//! server. Every flag is a setting of the agent configuration and can also be given as its
//! `OUTPOST_*` variable; both override the TOML file named by `--config` (docs/agent.md).

pub(crate) use outpost_agent::cli::AgentArgs;

/// Runs the agent.
pub(crate) fn run(args: &AgentArgs) -> anyhow::Result<()> {
    Ok(outpost_agent::cli::main(args)?)
}
