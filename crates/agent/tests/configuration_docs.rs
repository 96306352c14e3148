//! docs/agent.md against the agent's settings as declared: every setting has its row with its
//! flag, environment variable and default, and every row is a setting.

use outpost_agent::AgentConfig;
use outpost_settings::docs::table_problems;
use outpost_settings::Section;

#[test]
fn every_agent_setting_is_documented() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/agent.md");
    let text = std::fs::read_to_string(path).unwrap();
    let problems = table_problems(&text, &AgentConfig::settings());
    assert!(
        problems.is_empty(),
        "docs/agent.md:\n{}",
        problems.join("\n")
    );
}
