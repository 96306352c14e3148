//! docs/configuration.md against the settings as declared: every setting has its row in the
//! table with its flag, its environment variable and its default, and every row is a setting.
//! A setting added, renamed or given a new default without its documentation fails here.

use std::collections::BTreeMap;

use outpost_server::ServerConfig;
use outpost_settings::Section;

/// One row of the settings table: file key, flag, environment variable, default.
#[derive(Debug)]
struct Row {
    flag: String,
    env: String,
    default: String,
}

/// The text of a table cell without its code quoting.
fn cell(text: &str) -> String {
    text.trim().replace('`', "")
}

fn documented() -> BTreeMap<String, Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let table = text
        .lines()
        .skip_while(|l| !l.starts_with("| file key | flag | environment | default |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    let mut rows = BTreeMap::new();
    for line in table {
        // The meaning, last, may hold escaped bars; the first four cells cannot.
        let cells: Vec<&str> = line.split('|').skip(1).collect();
        assert!(cells.len() >= 5, "not a settings row: {line}");
        let key = cell(cells[0]);
        let row = Row {
            flag: cell(cells[1]),
            env: cell(cells[2]),
            default: cell(cells[3]),
        };
        assert!(
            rows.insert(key.clone(), row).is_none(),
            "{key} is documented twice"
        );
    }
    assert!(rows.len() > 20, "the settings table was not found");
    rows
}

#[test]
fn every_setting_is_documented_with_its_flag_variable_and_default() {
    let documented = documented();
    let settings = ServerConfig::settings();
    let mut problems = Vec::new();
    for setting in &settings {
        let Some(row) = documented.get(&setting.key) else {
            problems.push(format!("{} is not in the table", setting.key));
            continue;
        };
        let flag = setting.flag.map(|f| format!("--{f}")).unwrap_or_default();
        if row.flag != flag {
            problems.push(format!(
                "{}: flag '{}', declared '{flag}'",
                setting.key, row.flag
            ));
        }
        let env = setting.env().unwrap_or_default();
        if row.env != env {
            problems.push(format!(
                "{}: variable '{}', declared '{env}'",
                setting.key, row.env
            ));
        }
        // The table may add a pointer to a section below after the declared default.
        if !row.default.starts_with(&setting.default) {
            problems.push(format!(
                "{}: default '{}', declared '{}'",
                setting.key, row.default, setting.default
            ));
        }
    }
    for key in documented.keys() {
        if !settings.iter().any(|s| &s.key == key) {
            problems.push(format!("{key} is documented but is no setting"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
}
