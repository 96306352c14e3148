//! The server's configuration: the file (`--config`), with the runtimes' sections (`[ort]`)
//! left to them, and settings given as flags or `OUTPOST_*` variables. The input is the file's
//! text, then optionally a NUL and `key=value` lines for the overrides. What must hold: no
//! panic; an accepted configuration keeps what its check promises (positive sizes, timeouts
//! and counts); the file's configuration written back as TOML reads back the same; the control
//! exposure check answers.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use outpost_server_config::{ServerConfig, SettingOverrides};

fn holds(config: &ServerConfig) {
    assert!(config.http.max_body_bytes > 0 && config.grpc.max_message_bytes > 0);
    let connections = &config.connections;
    assert!(connections.max_connections > 0 && connections.header_read_timeout_secs > 0);
    assert!(connections.idle_timeout_secs > 0 && connections.send_timeout_secs > 0);
    assert!(connections.body_timeout_secs > 0 && connections.body_min_bytes_per_sec > 0);
    assert!(config.limits.max_tensor_elements > 0 && config.limits.max_image_pixels > 0);
    assert!(config.model_control.poll_interval_secs > 0);
    let _ = config.check_control_exposure(false);
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (text, given) = input.split_once('\0').unwrap_or((input, ""));
    let pairs: Vec<(&str, &str)> = given.lines().filter_map(|l| l.split_once('=')).collect();
    let path = Path::new("outpost.toml");
    let none = SettingOverrides::default();
    if let Ok((config, _runtimes)) = ServerConfig::parse_with_runtimes(text, path, &none, &["ort"]) {
        holds(&config);
        let written = toml::to_string(&config).expect("an accepted configuration can be written");
        let (again, _) = ServerConfig::parse_with_runtimes(&written, path, &none, &[])
            .expect("a written configuration reads back");
        assert_eq!(again, config, "written as\n{written}");
    }
    if !pairs.is_empty() {
        let overrides = SettingOverrides::from_pairs(&pairs);
        if let Ok((config, _)) = ServerConfig::parse_with_runtimes(text, path, &overrides, &["ort"]) {
            holds(&config);
        }
    }
});
