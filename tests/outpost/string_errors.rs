//! Errors between crates are types a caller can decide on, not strings: no public function or
//! public trait method of a library crate returns `Result<_, String>`, and no `FromStr` or
//! `TryFrom` of one has `String` as its error. Code inside a crate (private or `pub(crate)`
//! functions) and tests may use strings. Exceptions are listed below, each with its reason.

use std::path::Path;

use crate::common;

/// `(file, function)` pairs allowed to keep a string error, and why.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// The source without comments and with string literals emptied (their braces and quotes
/// would mislead the scan), line breaks kept.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied().unwrap_or('\0');
        if c == '/' && next == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == '*' {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                } else if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A character literal such as '{' or '"'.
            out.push_str("' '");
            i += 3;
        } else if c == '\'' && next == '\\' {
            out.push_str("' '");
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Each item that crosses the crate's boundary with a string error: `(line, what)`.
fn string_errors(code: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    // Braces of blocks skipped (test modules), and of public traits (their methods are public).
    let mut skip_until_depth: Option<usize> = None;
    let mut public_trait_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut test_attribute = false;
    let mut signature: Option<(usize, String, bool)> = None;
    for (number, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if skip_until_depth.is_none() {
            if let Some((start, text, public)) = signature.as_mut() {
                text.push(' ');
                text.push_str(trimmed);
                if trimmed.contains('{') || trimmed.ends_with(';') {
                    if *public && returns_string_error(text) {
                        found.push((*start, text.clone()));
                    }
                    signature = None;
                }
            } else if trimmed == "#[cfg(test)]" {
                test_attribute = true;
            } else if let Some(rest) = fn_signature(trimmed) {
                let in_public_trait = public_trait_depth == Some(depth);
                let public = !test_attribute
                    && (in_public_trait
                        || trimmed.starts_with("pub fn")
                        || trimmed.starts_with("pub async fn")
                        || trimmed.starts_with("pub const fn"));
                test_attribute = false;
                if rest.contains('{') || rest.ends_with(';') {
                    if public && returns_string_error(trimmed) {
                        found.push((number + 1, trimmed.to_string()));
                    }
                } else {
                    signature = Some((number + 1, trimmed.to_string(), public));
                }
            } else if !test_attribute
                && (trimmed.starts_with("type Err = String")
                    || trimmed.starts_with("type Error = String"))
            {
                found.push((number + 1, trimmed.to_string()));
            } else if test_attribute && trimmed.starts_with("mod ") && trimmed.ends_with('{') {
                skip_until_depth = Some(depth);
                test_attribute = false;
            } else if trimmed.starts_with("pub trait ") && trimmed.ends_with('{') {
                public_trait_depth = Some(depth + 1);
            } else if !trimmed.starts_with("#[") && !trimmed.is_empty() {
                test_attribute = false;
            }
        }
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if skip_until_depth == Some(depth) {
                        skip_until_depth = None;
                    }
                    if public_trait_depth.is_some_and(|d| depth < d) {
                        public_trait_depth = None;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// What follows `fn NAME` when the line declares a function.
fn fn_signature(line: &str) -> Option<&str> {
    let words = [
        "fn ",
        "pub fn ",
        "pub async fn ",
        "async fn ",
        "pub const fn ",
        "pub(crate) fn ",
        "pub(super) fn ",
        "pub(crate) async fn ",
    ];
    words.iter().find_map(|word| line.strip_prefix(word))
}

/// Whether a signature's return type is a `Result` with `String` as its error.
fn returns_string_error(signature: &str) -> bool {
    let Some((_, returned)) = signature.split_once("->") else {
        return false;
    };
    let compact: String = returned.chars().filter(|c| !c.is_whitespace()).collect();
    compact.replace(",>", ">").contains(",String>")
}

#[test]
fn no_string_errors_cross_a_crate_boundary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    common::rust_files(&root.join("crates"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root).unwrap().display().to_string();
        let in_library = relative.contains("/src/") && !relative.contains("/src/bin/");
        if !in_library || relative.ends_with("tests.rs") || relative.contains("/tests/") {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        for (line, what) in string_errors(&code) {
            let excepted = EXCEPTIONS
                .iter()
                .any(|(f, name, _)| relative == *f && what.contains(name));
            if !excepted {
                found.push(format!("{relative}:{line}: {what}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "string errors across crate boundaries (give them an error type):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_sees_public_functions_traits_and_parsers_and_skips_the_rest() {
    let source = r#"
pub fn bad(x: u8) -> Result<u8, String> { Ok(x) }
pub fn spread(
    x: u8,
) -> Result<
    u8,
    String,
> {
    Ok(x)
}
fn private(x: u8) -> Result<u8, String> { Ok(x) }
pub(crate) fn inside(x: u8) -> Result<u8, String> { Ok(x) }
pub fn typed(x: u8) -> Result<u8, std::io::Error> { Ok(x) }
pub trait Connector {
    fn connect(&self) -> Result<(), String>;
}
trait Private {
    fn connect(&self) -> Result<(), String>;
}
impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> { let brace = "{"; Err(s.into()) }
}
#[cfg(test)]
mod tests {
    pub fn helper() -> Result<(), String> { Ok(()) }
}
pub fn after_tests() -> Result<(), String> { Ok(()) }
"#;
    let found: Vec<String> = string_errors(&code_only(source))
        .into_iter()
        .map(|(_, what)| what)
        .collect();
    let named = |name: &str| found.iter().any(|f| f.contains(name));
    assert!(named("fn bad"), "{found:?}");
    assert!(named("fn spread"), "{found:?}");
    assert!(named("type Err = String"), "{found:?}");
    assert!(named("fn after_tests"), "{found:?}");
    assert_eq!(
        found.iter().filter(|f| f.contains("fn connect")).count(),
        1,
        "{found:?}"
    );
    assert!(
        !named("fn private") && !named("fn inside") && !named("fn typed"),
        "{found:?}"
    );
    assert!(!named("fn helper") && !named("fn from_str"), "{found:?}");
}
