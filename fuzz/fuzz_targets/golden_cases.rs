//! A bundle's `golden/cases.toml` (the cases the agent runs a new version against before it
//! promotes it). What must hold: no panic; text over the size the bundle reader allows is never
//! parsed; accepted cases are at least one, and every file they name is one the bundle holds
//! (the `exists` check) under a plain relative path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_bundle::golden::MAX_CASES_BYTES;
use outpost_bundle::manifest::check_path;
use outpost_bundle::GoldenCases;

fuzz_target!(|data: &[u8]| {
    if data.len() as u64 > MAX_CASES_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let asked = std::cell::RefCell::new(Vec::new());
    let exists = |path: &str| {
        asked.borrow_mut().push(path.to_string());
        !path.contains("missing")
    };
    let Ok(cases) = GoldenCases::parse(text, exists) else {
        return;
    };
    assert!(!cases.cases.is_empty());
    for path in asked.borrow().iter() {
        if !path.contains("missing") {
            check_path(path).expect("a file a case names is a plain relative path");
        }
    }
});
