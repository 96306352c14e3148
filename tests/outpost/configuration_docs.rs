//! docs/configuration.md against the settings as declared: the server's own sections and the
//! sections of the runtimes the `outpost` binary registers (`[ort]`). Every setting has its row
//! in the table with its flag, its environment variable and its default, and every row is a
//! setting; a setting added, renamed or given a new default without its documentation fails
//! here. Flags are unique across the server and the runtimes.

use std::sync::Arc;

use outpost_core::Runtime;
use outpost_server::runtimes::runtime_settings;
use outpost_server::ServerConfig;
use outpost_settings::Section;

fn every_setting() -> Vec<outpost_settings::Setting> {
    let runtimes: [Arc<dyn Runtime>; 2] = [
        Arc::new(outpost_backend_ort::OrtRuntime),
        Arc::new(outpost_backend_tract::TractRuntime),
    ];
    let mut settings = ServerConfig::settings();
    settings.extend(runtime_settings(&runtimes));
    settings
}

#[test]
fn every_setting_is_documented_with_its_flag_variable_and_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let settings = every_setting();
    assert!(settings.iter().any(|s| s.key == "ort.flavour"));
    let problems = outpost_settings::docs::table_problems(&text, &settings);
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_two_settings_share_a_flag() {
    let mut flags: Vec<&str> = Vec::new();
    let settings = every_setting();
    for flag in settings.iter().filter_map(|s| s.flag) {
        assert!(!flags.contains(&flag), "--{flag} names two settings");
        flags.push(flag);
    }
    assert!(flags.contains(&"ort-library"), "{flags:?}");
}
