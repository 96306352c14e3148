//! The runtime contract keeps runtimes out of the engine and core: their code (comments aside)
//! names no ONNX Runtime, tract or execution-provider type or setting. A runtime's settings,
//! execution providers, arenas and library flavours live in its own crate, which registers
//! through `outpost_core::Runtime`.

use std::path::Path;

use crate::common;

/// Words that belong to one runtime or another, matched case-insensitively as words (or word
/// prefixes where marked with a trailing `_`).
const RUNTIME_WORDS: &[&str] = &[
    "ort",
    "ort_",
    "onnxruntime",
    "onnx runtime",
    "tract",
    "cuda",
    "tensorrt",
    "openvino",
    "xnnpack",
    "coreml",
    "rocm",
    "qnn",
    "arena",
    "executionproviderkind",
    "executionproviderspec",
    "executionprovideroptions",
    "execution_provider_options",
    "execution_providers_unavailable",
];

/// The line without its comment: from the first `//` outside a string literal.
fn code_of(line: &str) -> &str {
    let mut in_string = false;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '/' if !in_string && previous == '/' => return &line[..at - 1],
            _ => {}
        }
        previous = c;
    }
    line
}

/// Whether `word` occurs in `code` as a word (or, ending in `_`, at a word's start).
fn names(code: &str, word: &str) -> bool {
    let code = code.to_ascii_lowercase();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !is_word(before) && (word.ends_with('_') || !is_word(after))
    })
}

fn runtime_words_in(crate_dir: &str) -> Vec<String> {
    let mut files = Vec::new();
    common::rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_dir),
        &mut files,
    );
    assert!(files.len() > 5, "{crate_dir} has its sources");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = code_of(line);
            for word in RUNTIME_WORDS {
                if names(code, word) {
                    found.push(format!(
                        "{}:{}: {word}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_engine_and_core_name_no_runtime() {
    for crate_dir in ["crates/core/src", "crates/engine/src"] {
        let found = runtime_words_in(crate_dir);
        assert!(
            found.is_empty(),
            "runtime names in {crate_dir}:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_check_finds_runtime_names_in_code_and_not_in_comments() {
    assert!(names("let x = ort_config.flavour;", "ort_"));
    assert!(names("backend = \"ort\"", "ort"));
    assert!(names("backend: BackendKind::Tract,", "tract"));
    assert!(names("\"tensorrt-or-cpu\"", "tensorrt"));
    assert!(!names("models.sort_by(|a, b| a.cmp(b));", "ort_"));
    assert!(!names("let report = 1;", "ort"));
    assert_eq!(code_of("run(); // on tract"), "run(); ");
    assert_eq!(
        code_of("let url = \"http://x\"; // tract"),
        "let url = \"http://x\"; "
    );
    let backends = runtime_words_in("crates/backend-ort/src");
    assert!(backends.iter().any(|f| f.contains("arena")), "{backends:?}");
}
