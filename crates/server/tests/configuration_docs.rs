//! docs/configuration.md against the settings as declared: every setting has its row in the
//! table with its flag, its environment variable and its default, and every row is a setting.
//! A setting added, renamed or given a new default without its documentation fails here.

use outpost_server::ServerConfig;
use outpost_settings::docs::table_problems;
use outpost_settings::Section;

#[test]
fn every_setting_is_documented_with_its_flag_variable_and_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let settings = ServerConfig::settings();
    assert!(settings.len() > 20);
    let problems = table_problems(&text, &settings);
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
}
