//! Layering check: within every crate of the workspace, the modules under one parent must not
//! import each other in a circle. Each crate root (`lib.rs`, `main.rs`, `src/bin/*.rs`) is
//! followed through its `mod` declarations; every `crate::`, `self::` and `super::` path in code
//! (use statements and inline paths; comments and strings are skipped) is an edge from the module
//! it appears in to the module it names. An edge between two modules counts at the level of
//! their nearest common parent, as an edge between that parent's two children on the way; a
//! module naming its own parent or child is not a circle. Any strongly connected set of siblings
//! fails the test with the files and lines that connect them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module, as the names from its crate root (empty for the root).
type ModulePath = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Semi,
    Other,
}

/// Splits Rust source into the tokens that matter for paths, with their line numbers. Comments,
/// string, byte-string, raw-string and character literals are skipped; lifetimes are not
/// mistaken for characters.
fn tokenize(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r'))
            && matches!(at(i + 1 + usize::from(c == 'b')), '#' | '"')
        {
            // Raw string: r"..." or r#"..."#, optionally with a b prefix.
            let mut j = i + 1 + usize::from(c == 'b');
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                // An identifier that starts with r or br.
                let start = i;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                tokens.push((Token::Ident(chars[start..i].iter().collect()), line));
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                line += usize::from(chars[j] == '\n');
                j += 1;
            }
            i = j;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let start = if c == 'b' { i + 1 } else { i };
            // A character literal closes within a few characters; a lifetime does not.
            if at(start + 1) == '\\' {
                let mut j = start + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(start + 2) == '\'' {
                i = start + 3;
            } else {
                i = start + 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                tokens.push((Token::Other, line));
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            tokens.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' || at(i) == '.' && at(i + 1) != '.' {
                i += 1;
            }
            tokens.push((Token::Other, line));
        } else {
            let token = match c {
                ':' if at(i + 1) == ':' => {
                    i += 1;
                    Token::PathSep
                }
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                '*' => Token::Star,
                ';' => Token::Semi,
                _ => Token::Other,
            };
            tokens.push((token, line));
            i += 1;
        }
    }
    tokens
}

/// One reference from code in `from` to the path `to` (not yet resolved to a module).
struct Reference {
    from: ModulePath,
    to: Vec<String>,
    line: usize,
}

/// What one source file declares and names.
struct Scanned {
    /// `mod name;` declarations (file modules), with the inline modules they sit in.
    file_modules: Vec<ModulePath>,
    /// Inline `mod name { ... }` modules.
    inline_modules: Vec<ModulePath>,
    references: Vec<Reference>,
}

/// Reads a use tree (or a plain path) starting at `tokens[i]`, after a `crate::`, `self::` or
/// `super::` prefix already in `prefix`, and adds every full path it names to `out`.
fn read_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix;
    loop {
        match tokens.get(i).map(|t| &t.0) {
            Some(Token::Ident(name)) => {
                path.push(name.clone());
                i += 1;
                if tokens.get(i).map(|t| &t.0) == Some(&Token::PathSep) {
                    i += 1;
                    continue;
                }
                out.push(path);
                return i;
            }
            Some(Token::Open) => {
                i += 1;
                loop {
                    match tokens.get(i).map(|t| &t.0) {
                        Some(Token::Close) => return i + 1,
                        Some(Token::Comma) => i += 1,
                        None => return i,
                        _ => {
                            let before = i;
                            i = read_tree(tokens, i, path.clone(), out);
                            if i == before {
                                i += 1;
                            }
                        }
                    }
                }
            }
            _ => {
                // `*` or the end of the path: the module itself is named.
                out.push(path);
                return i;
            }
        }
    }
}

fn scan_source(source: &str, module: &ModulePath) -> Scanned {
    let tokens = tokenize(source);
    let mut scanned = Scanned {
        file_modules: Vec::new(),
        inline_modules: Vec::new(),
        references: Vec::new(),
    };
    // Inline modules entered, each with the brace depth at which it closes.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    let ident = |i: usize| match tokens.get(i).map(|t| &t.0) {
        Some(Token::Ident(name)) => Some(name.as_str()),
        _ => None,
    };
    while i < tokens.len() {
        let here = || {
            let mut path = module.clone();
            path.extend(inline.iter().map(|(name, _)| name.clone()));
            path
        };
        match &tokens[i].0 {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if inline.last().is_some_and(|(_, closes)| *closes == depth) {
                    inline.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let Some(name) = ident(i + 1) {
                    let mut path = here();
                    path.push(name.to_string());
                    match tokens.get(i + 2).map(|t| &t.0) {
                        Some(Token::Semi) => scanned.file_modules.push(path),
                        Some(Token::Open) => {
                            scanned.inline_modules.push(path);
                            inline.push((name.to_string(), depth));
                            depth += 1;
                            i += 3;
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "self" | "super")
                    && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep)
                    // `$crate::` in macros names the crate too; `x::crate` cannot occur.
                    && !(i > 0 && tokens[i - 1].0 == Token::PathSep) =>
            {
                let line = tokens[i].1;
                let from = here();
                let mut base = match word.as_str() {
                    "crate" => Vec::new(),
                    _ => from.clone(),
                };
                let mut j = i;
                while ident(j) == Some("super")
                    && tokens.get(j + 1).map(|t| &t.0) == Some(&Token::PathSep)
                {
                    base.pop();
                    j += 2;
                }
                if j == i {
                    j += 2;
                }
                let mut paths = Vec::new();
                let end = read_tree(&tokens, j, base, &mut paths);
                for to in paths {
                    scanned.references.push(Reference {
                        from: from.clone(),
                        to,
                        line,
                    });
                }
                i = end.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scanned
}

/// The file holding module `name` declared in a file whose own modules live in `dir`.
fn module_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let flat = dir.join(format!("{name}.rs"));
    let nested = dir.join(name).join("mod.rs");
    [flat, nested].into_iter().find(|p| p.is_file())
}

/// Every module of the crate rooted at `root` and every reference its code makes.
fn scan_crate(root: &Path) -> (BTreeSet<ModulePath>, Vec<(PathBuf, Reference)>) {
    let mut modules = BTreeSet::from([Vec::new()]);
    let mut references = Vec::new();
    let mut queue = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((file, module)) = queue.pop() {
        let source =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let scanned = scan_source(&source, &module);
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        // The directory where this file's child modules live.
        let own_dir = if module.is_empty() || stem == "mod" {
            file.parent().unwrap().to_path_buf()
        } else {
            file.parent().unwrap().join(stem)
        };
        modules.extend(scanned.inline_modules.iter().cloned());
        for declared in scanned.file_modules {
            let mut dir = own_dir.clone();
            for inline in &declared[module.len()..declared.len() - 1] {
                dir.push(inline);
            }
            let name = declared.last().unwrap();
            let child = module_file(&dir, name)
                .unwrap_or_else(|| panic!("{}: module '{name}' has no file", file.display()));
            modules.insert(declared.clone());
            queue.push((child, declared));
        }
        references.extend(scanned.references.into_iter().map(|r| (file.clone(), r)));
    }
    (modules, references)
}

/// Circles among sibling modules of one crate, each as a readable report.
fn circles(root: &Path) -> Vec<String> {
    let (modules, references) = scan_crate(root);
    // parent -> (child -> child -> evidence)
    let mut levels: BTreeMap<ModulePath, BTreeMap<String, BTreeMap<String, Vec<String>>>> =
        BTreeMap::new();
    for (file, reference) in &references {
        // The longest prefix of the named path that is a module.
        let target = (0..=reference.to.len())
            .rev()
            .map(|n| reference.to[..n].to_vec())
            .find(|p| modules.contains(p))
            .unwrap_or_default();
        let from = &reference.from;
        let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == target.len() {
            continue;
        }
        let evidence = format!(
            "{}:{} names {}",
            file.display(),
            reference.line,
            reference.to.join("::")
        );
        levels
            .entry(from[..common].to_vec())
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .entry(target[common].clone())
            .or_default()
            .push(evidence);
    }
    let mut found = Vec::new();
    for (parent, graph) in &levels {
        for component in strongly_connected(graph) {
            let mut report = format!(
                "in {}::{}, these modules import each other in a circle: {}",
                root.display(),
                parent.join("::"),
                component.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            for from in &component {
                for (to, evidence) in &graph[from] {
                    if component.contains(to) {
                        report.push_str(&format!("\n  {from} -> {to}: {}", evidence[0]));
                    }
                }
            }
            found.push(report);
        }
    }
    found
}

/// The strongly connected sets of more than one node (Tarjan's algorithm).
fn strongly_connected(
    graph: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, node: &'a str) {
        let n = w.index.len();
        w.index.insert(node, n);
        w.low.insert(node, n);
        w.stack.push(node);
        w.on_stack.insert(node);
        if let Some(edges) = w.graph.get(node) {
            for next in edges.keys() {
                if !w.index.contains_key(next.as_str()) {
                    visit(w, next);
                    let low = w.low[next.as_str()].min(w.low[node]);
                    w.low.insert(node, low);
                } else if w.on_stack.contains(next.as_str()) {
                    let low = w.index[next.as_str()].min(w.low[node]);
                    w.low.insert(node, low);
                }
            }
        }
        if w.low[node] == w.index[node] {
            let mut component = BTreeSet::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.insert(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                w.out.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            visit(&mut walk, node);
        }
    }
    walk.out
}

/// Every crate root in the workspace: each package's lib.rs, main.rs and src/bin/*.rs.
fn crate_roots() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut packages = vec![workspace.to_path_buf(), workspace.join("benches/harness")];
    let mut members: Vec<PathBuf> = std::fs::read_dir(workspace.join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    members.sort();
    packages.extend(members);
    let mut roots = Vec::new();
    for package in packages {
        let src = package.join("src");
        roots.extend(
            ["lib.rs", "main.rs"]
                .iter()
                .map(|f| src.join(f))
                .filter(|p| p.is_file()),
        );
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            let mut bins: Vec<PathBuf> = bins
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect();
            bins.sort();
            roots.extend(bins);
        }
    }
    roots
}

#[test]
fn no_module_imports_its_siblings_in_a_circle() {
    let roots = crate_roots();
    assert!(roots.len() >= 8, "found only {roots:?}");
    let found: Vec<String> = roots.iter().flat_map(|root| circles(root)).collect();
    assert!(found.is_empty(), "module circles:\n{}", found.join("\n"));
}

#[test]
fn a_circle_is_found_and_a_parent_child_reference_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod c;\npub struct Root;\n",
    )
    .unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::Thing;\nuse super::Root;\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub struct Thing;\n// crate::c::X in a comment\nfn f() { let _ = \"crate::c\"; crate::{c::Other, a}; }\n").unwrap();
    std::fs::write(
        src.join("c.rs"),
        "use crate::Root;\nmod tests { use super::*; }\n",
    )
    .unwrap();
    let found = circles(&src.join("lib.rs"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains(": a, b\n") && !found[0].contains("-> c"),
        "{}",
        found[0]
    );
}
