//! Checking a settings table in the documentation against the declarations: every setting has
//! its row (file key, flag, environment variable, default, meaning) and every row is a
//! setting. Tests of each command call [`table_problems`] on their page.

use std::collections::BTreeMap;

use crate::Setting;

/// The header that starts a settings table.
pub const TABLE_HEADER: &str = "| file key | flag | environment | default |";

/// One row of the settings table.
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

fn rows(markdown: &str) -> Result<BTreeMap<String, Row>, String> {
    let table = markdown
        .lines()
        .skip_while(|l| !l.starts_with(TABLE_HEADER))
        .skip(2)
        .take_while(|l| l.starts_with('|'));
    let mut rows = BTreeMap::new();
    for line in table {
        // The meaning, last, may hold escaped bars; the first four cells cannot.
        let cells: Vec<&str> = line.split('|').skip(1).collect();
        if cells.len() < 5 {
            return Err(format!("not a settings row: {line}"));
        }
        let key = cell(cells[0]);
        let row = Row {
            flag: cell(cells[1]),
            env: cell(cells[2]),
            default: cell(cells[3]),
        };
        if rows.insert(key.clone(), row).is_some() {
            return Err(format!("{key} is documented twice"));
        }
    }
    if rows.is_empty() {
        return Err("the settings table was not found".to_string());
    }
    Ok(rows)
}

/// What the first settings table in `markdown` gets wrong about `settings`: missing or extra
/// rows, and flags, variables or defaults that differ (a documented default may go on after
/// the declared one, e.g. with a pointer to a section below).
pub fn table_problems(markdown: &str, settings: &[Setting]) -> Vec<String> {
    let documented = match rows(markdown) {
        Ok(rows) => rows,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    for setting in settings {
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
    problems
}
