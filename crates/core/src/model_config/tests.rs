//! The model configuration's reading, checks, overrides and batching, through its public API.

use std::path::Path;

use super::*;
use crate::scheduling::{PerformanceHint, Scheduling};
use crate::signature::{ModelSignature, TensorSpec};

#[test]
fn empty_file_gives_defaults() {
    let config = ModelConfig::parse("", Path::new("model.toml")).unwrap();
    assert_eq!(config, ModelConfig::default());
    assert_eq!(config.backend, RuntimeChoice::Auto);
    assert!(config.runtime_settings.is_empty());
}

#[test]
fn parses_full_config() {
    let text = r#"
        backend = "npu"
        accelerators = ["npu-or-cpu", "npu"]
        instances = 2
        max_batch_size = 8
        version_policy = { latest = 2 }
        labels = "labels.txt"
        [threads]
        intra_op = 2
        [npu_options]
        cores = 2
        [[inputs]]
        name = "input"
        shape = [-1, 3, 224, 224]
    "#;
    let config = ModelConfig::parse(text, Path::new("m/model.toml")).unwrap();
    assert_eq!(config.backend, RuntimeChoice::Named("npu".into()));
    let kept: Vec<&String> = config.runtime_settings.keys().collect();
    assert_eq!(kept, ["accelerators", "npu_options"]);
    assert_eq!(
        config.runtime_settings["npu_options"]["cores"].as_integer(),
        Some(2)
    );
    assert_eq!(config.version_policy, VersionPolicy::Latest(2));
    assert_eq!(config.threads.intra_op, Some(2));
    assert_eq!(config.inputs[0].shape, Some(vec![-1, 3, 224, 224]));
}

#[test]
fn the_performance_hint_resolves_with_the_cpus() {
    let path = Path::new("m/model.toml");
    let shipped = ModelConfig::parse("", path).unwrap();
    assert_eq!(shipped.performance, PerformanceHint::Auto);
    assert!(matches!(
        shipped.scheduling(2, 2),
        Scheduling::Adaptive { .. }
    ));
    let throughput = ModelConfig::parse("performance = \"throughput\"", path).unwrap();
    assert_eq!(
        throughput.scheduling(2, 2),
        Scheduling::Fixed {
            instances: 2,
            intra_op: 1
        }
    );
    let error = ModelConfig::parse("performance = \"fast\"", path).unwrap_err();
    assert!(error.to_string().contains("latency"), "{error}");
}

#[test]
fn rejects_unknown_keys_and_bad_values() {
    for bad in [
        "backend = \"\"",
        "backend = \"Warp Drive\"",
        "backend = 3",
        "instances = 0",
        "[threads]\nintra_opp = 2",
        "version_policy = { latest = 0 }",
        "model_filename = \"../x.onnx\"",
        "[dynamic_batching]\npreferred_batch_sizes = [0]",
        "[dynamic_batching]\nmax_queue_delay_microseconds = 2000000",
        "[dynamic_batching]\nmax_delay = 5",
    ] {
        assert!(
            ModelConfig::parse(bad, Path::new("model.toml")).is_err(),
            "{bad}"
        );
    }
}

/// Found by the `model_config` fuzz target: a dequantize scale too large for an f32 read as
/// infinity, and NaN or infinite thresholds and SSD scales, were accepted; every classification
/// would then have scored NaN or infinity.
#[test]
fn a_model_toml_with_infinite_or_nan_postprocess_numbers_is_refused() {
    let classification = "[postprocess]\nkind = \"classification\"\n";
    let ssd = "[postprocess]\nkind = \"detection\"\n[postprocess.decoder]\ntype = \"ssd\"\n\
               box_output = \"b\"\nscore_output = \"s\"\nanchors = \"anchors.npy\"\n";
    let refused = [
        format!("{classification}dequantize = {{ scale = 3.4e39, zero_point = 0 }}"),
        format!("{classification}dequantize = {{ scale = nan }}"),
        format!("{classification}dequantize = {{ scale = 0.0 }}"),
        format!("{classification}score_threshold = nan"),
        format!("{ssd}scales = [10.0, 10.0, 0.0, 5.0]"),
        format!("{ssd}scales = [10.0, inf, 5.0, 5.0]"),
        ssd.replace(
            "[postprocess.decoder]",
            "score_threshold = -inf\n[postprocess.decoder]",
        ),
    ];
    for text in refused {
        let error = ModelConfig::parse(&text, Path::new("model.toml")).unwrap_err();
        assert!(error.to_string().contains("postprocess"), "{text}: {error}");
    }
    let fine = format!("{classification}dequantize = {{ scale = 0.00390625, zero_point = 0 }}");
    ModelConfig::parse(&fine, Path::new("model.toml")).unwrap();
    ModelConfig::parse(ssd, Path::new("model.toml")).unwrap();
}

/// Found by the `model_config` fuzz target: a labels file or detector anchors outside the model
/// directory were accepted when the file was read and refused only when the model loaded.
#[test]
fn a_model_toml_naming_files_outside_its_directory_is_refused_when_read() {
    let ssd = "[postprocess]\nkind = \"detection\"\n[postprocess.decoder]\ntype = \"ssd\"\n\
               box_output = \"b\"\nscore_output = \"s\"\n";
    for text in [
        "labels = \"../labels.txt\"".to_string(),
        "labels = \"/etc/passwd\"".to_string(),
        format!("{ssd}anchors = \"../../anchors.npy\""),
    ] {
        let error = ModelConfig::parse(&text, Path::new("model.toml")).unwrap_err();
        assert!(
            error.to_string().contains("inside the model directory"),
            "{text}: {error}"
        );
    }
    ModelConfig::parse("labels = \"labels/coco.txt\"", Path::new("model.toml")).unwrap();
}

#[test]
fn dynamic_batching_is_off_unless_asked_for_and_needs_a_batch_dimension() {
    let parse = |text: &str| ModelConfig::parse(text, Path::new("model.toml")).unwrap();
    assert_eq!(parse("").effective_dynamic_batching(4).unwrap(), None);
    let off = parse("[dynamic_batching]\nenabled = false");
    assert_eq!(off.effective_dynamic_batching(4).unwrap(), None);
    let on = parse(
        "[dynamic_batching]\nmax_queue_delay_microseconds = 500\npreferred_batch_sizes = [2, 4]",
    );
    let batching = on.effective_dynamic_batching(4).unwrap().unwrap();
    assert_eq!(
        batching.max_queue_delay(),
        std::time::Duration::from_micros(500)
    );
    assert_eq!(batching.preferred_batch_sizes, vec![2, 4]);
    let no_batches = on.effective_dynamic_batching(0).unwrap_err().to_string();
    assert!(
        no_batches.contains("needs a model that takes batches"),
        "{no_batches}"
    );
    let too_big = on.effective_dynamic_batching(3).unwrap_err().to_string();
    assert!(too_big.contains("preferred_batch_sizes has 4"), "{too_big}");
}

#[test]
fn version_policies_select() {
    let present = [3, 1, 2, 10];
    assert_eq!(VersionPolicy::Latest(1).select(&present), vec![10]);
    assert_eq!(VersionPolicy::Latest(2).select(&present), vec![3, 10]);
    assert_eq!(VersionPolicy::All.select(&present), vec![1, 2, 3, 10]);
    assert_eq!(
        VersionPolicy::Specific(vec![2, 7]).select(&present),
        vec![2]
    );
    let all: ModelConfig = toml::from_str("version_policy = \"all\"").unwrap();
    assert_eq!(all.version_policy, VersionPolicy::All);
    let specific: ModelConfig = toml::from_str("version_policy = { specific = [1, 3] }").unwrap();
    assert_eq!(specific.version_policy, VersionPolicy::Specific(vec![1, 3]));
}

#[test]
fn overrides_must_fit_the_graph() {
    let graph = ModelSignature {
        inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![-1, 3])],
        outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![-1, 2])],
    };
    let fix_batch = ModelConfig {
        inputs: vec![TensorOverride {
            name: "x".into(),
            datatype: None,
            shape: Some(vec![1, 3]),
        }],
        ..ModelConfig::default()
    };
    let applied = fix_batch.apply_overrides(graph.clone()).unwrap();
    assert_eq!(applied.inputs[0].shape, vec![1, 3]);

    for bad in [
        TensorOverride {
            name: "x".into(),
            datatype: Some(DataType::Int8),
            shape: None,
        },
        TensorOverride {
            name: "x".into(),
            datatype: None,
            shape: Some(vec![1, 4]),
        },
        TensorOverride {
            name: "x".into(),
            datatype: None,
            shape: Some(vec![3]),
        },
        TensorOverride {
            name: "nope".into(),
            datatype: None,
            shape: None,
        },
    ] {
        let config = ModelConfig {
            inputs: vec![bad],
            ..ModelConfig::default()
        };
        assert!(config.apply_overrides(graph.clone()).is_err());
    }
}

#[test]
fn batch_size_follows_the_graph() {
    let batched = ModelSignature {
        inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![-1, 3])],
        outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![-1, 2])],
    };
    let fixed = ModelSignature {
        inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![1, 3])],
        outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![1, 2])],
    };
    let config = ModelConfig::default();
    assert_eq!(
        config.effective_max_batch_size(&batched),
        DEFAULT_MAX_BATCH_SIZE
    );
    assert_eq!(config.effective_max_batch_size(&fixed), 0);
    let eight = ModelConfig {
        max_batch_size: Some(8),
        ..ModelConfig::default()
    };
    assert_eq!(eight.effective_max_batch_size(&batched), 8);
}

#[test]
fn models_inherit_the_servers_upstream_key_by_key() {
    let server: UpstreamConfig = toml::from_str(
        "url = \"grpc://cloud:8001\"\npolicy = \"prefer_local\"\nescalate_below = 0.5\ntimeout_ms = 300",
    )
    .unwrap();
    let path = Path::new("model.toml");
    let plain = ModelConfig::parse_over("instances = 2", path, &server).unwrap();
    assert_eq!(plain.upstream.as_ref(), Some(&server));
    assert_eq!(plain.instances, Some(2));

    let own = ModelConfig::parse_over(
        "forward = \"results\"\n[upstream]\nmodel = \"big\"\ntimeout_ms = 900",
        path,
        &server,
    )
    .unwrap();
    let upstream = own.upstream.unwrap();
    assert_eq!(upstream.url, "grpc://cloud:8001");
    assert_eq!(upstream.model.as_deref(), Some("big"));
    assert_eq!(upstream.timeout_ms, 900);
    assert_eq!(upstream.policy, UpstreamPolicy::PreferLocal);
    assert_eq!(upstream.escalate_below, Some(0.5));
    assert_eq!(own.forward, ForwardMode::Results);

    // A policy of its own leaves the server's escalation threshold behind.
    let opted_out =
        ModelConfig::parse_over("[upstream]\npolicy = \"local\"", path, &server).unwrap();
    let upstream = opted_out.upstream.unwrap();
    assert_eq!(upstream.policy, UpstreamPolicy::Local);
    assert_eq!(upstream.escalate_below, None);

    // A credential of its own replaces the server's source of it.
    let with_file: UpstreamConfig =
        toml::from_str("url = \"http://cloud\"\nauth_file = \"/run/secrets/cloud\"").unwrap();
    let own_env =
        ModelConfig::parse_over("[upstream]\nauth_env = \"TOKEN\"", path, &with_file).unwrap();
    let upstream = own_env.upstream.unwrap();
    assert_eq!(
        (upstream.auth_file, upstream.auth_env.as_deref()),
        (None, Some("TOKEN"))
    );

    // The merged table is checked as a model's own would be.
    let wrong = ModelConfig::parse_over("[upstream]\ntimeout_ms = 0", path, &server);
    assert!(wrong.unwrap_err().to_string().contains("timeout_ms"));
    let typo = ModelConfig::parse_over("[upstream]\ntimeout = 9", path, &server);
    assert!(typo.unwrap_err().to_string().contains("timeout"));
    let not_a_table = ModelConfig::parse_over("upstream = 3", path, &server);
    assert!(not_a_table
        .unwrap_err()
        .to_string()
        .contains("must be a table"));
}
