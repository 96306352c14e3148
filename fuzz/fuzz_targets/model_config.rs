//! A model's `model.toml` (it arrives in bundles from object storage, and from whoever can
//! write the model repository). Read alone and over a server's `[upstream]`. What must hold:
//! no panic; every file an accepted configuration names (the labels) stays inside the model
//! directory; every number the engine reads is finite (the runtimes' own keys are theirs to
//! check); an accepted configuration written back as TOML reads back the same.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use outpost_core::model_config::{stays_inside_model_dir, ModelConfig};
use outpost_core::upstream::UpstreamConfig;

/// The server's `[upstream]` the model's own is read over.
static SERVER_UPSTREAM: LazyLock<UpstreamConfig> = LazyLock::new(|| {
    toml::from_str("url = \"grpc://cloud.example:8001\"\ntimeout_ms = 250")
        .expect("a server upstream")
});

fn holds(config: &ModelConfig, path: &Path) {
    if let Some(labels) = &config.labels {
        assert!(stays_inside_model_dir(labels), "labels {labels:?} leave the model directory");
    }
    // The keys the runtimes read (kept as written) are theirs to check; every number the
    // engine reads itself is finite.
    let mut engine_keys = toml::Value::try_from(config).expect("a configuration as TOML");
    if let toml::Value::Table(table) = &mut engine_keys {
        table.retain(|key, _| !config.runtime_settings.contains_key(key));
    }
    assert_finite(&engine_keys);
    let written = toml::to_string(config).expect("an accepted configuration can be written");
    let again = ModelConfig::parse(&written, path).expect("a written configuration reads back");
    // Compared as written: a runtime's own key may hold NaN, which equals nothing.
    let rewritten = toml::to_string(&again).expect("written again");
    assert_eq!(rewritten, written, "a configuration written and read back changed");
}

fn assert_finite(value: &toml::Value) {
    match value {
        toml::Value::Float(x) => assert!(x.is_finite(), "an accepted setting is {x}"),
        toml::Value::Array(items) => items.iter().for_each(assert_finite),
        toml::Value::Table(table) => table.values().for_each(assert_finite),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("model.toml");
    if let Ok(config) = ModelConfig::parse(text, path) {
        holds(&config, path);
    }
    if let Ok(config) = ModelConfig::parse_over(text, path, &SERVER_UPSTREAM) {
        let upstream = config.upstream.as_ref().expect("the server's upstream is kept");
        assert!(upstream.problems().is_empty(), "{:?}", upstream.problems());
    }
});
