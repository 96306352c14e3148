//! The server's `[upstream]` under a model's own: a model without its own `[upstream]` gets the
//! server's; one with its own gets the server's keys with its own replacing them one by one (so
//! `[upstream] policy = "local"` alone opts a model out). The server's `escalate_below` goes only
//! to models whose policy ends up `prefer_local`, and a model that names its own `auth_file` or
//! `auth_env` takes neither of the server's.

use crate::upstream::{UpstreamConfig, UpstreamPolicy};

/// Merges `server_upstream` into `table` (a parsed `model.toml`) as the module says; the error
/// says what in the file or the server's section could not be read.
pub(super) fn merge_server_upstream(
    table: &mut toml::Table,
    server_upstream: &UpstreamConfig,
) -> Result<(), String> {
    let mut upstream = toml::Table::try_from(server_upstream)
        .map_err(|e| format!("the server's [upstream]: {e}"))?;
    match table.remove("upstream") {
        None => {}
        Some(toml::Value::Table(own)) => {
            let own_policy = own.contains_key("policy");
            let own_escalation = own.contains_key("escalate_below");
            // The credential comes from one place: a model naming its own replaces both.
            if own.contains_key("auth_file") || own.contains_key("auth_env") {
                upstream.remove("auth_file");
                upstream.remove("auth_env");
            }
            upstream.extend(own);
            let prefer_local = upstream.get("policy").and_then(toml::Value::as_str)
                == Some(UpstreamPolicy::PreferLocal.as_str());
            if own_policy && !own_escalation && !prefer_local {
                upstream.remove("escalate_below");
            }
        }
        Some(other) => {
            return Err(format!(
                "upstream must be a table ([upstream]), not a {}",
                other.type_str()
            ))
        }
    }
    table.insert("upstream".to_string(), toml::Value::Table(upstream));
    Ok(())
}
