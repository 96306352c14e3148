//! `poll` mode: the repository rescanned every interval, new and changed model directories
//! loaded (or reloaded), removed ones unloaded.

use std::sync::Arc;
use std::time::Duration;

use super::fingerprint::fingerprint;
use super::{ModelControl, Unload};
use crate::repository::scan;

impl ModelControl {
    /// One pass of the poller: loads new and changed model directories and unloads removed ones.
    pub(crate) fn poll_once(&self) {
        let found = match scan::scan(&self.setup.root) {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "model repository poll failed; keeping what is loaded");
                return;
            }
        };
        let mut loaded_from = self.locked();
        let present: Vec<String> = found.iter().map(|m| m.name.clone()).collect();
        for model in &found {
            let print = fingerprint(&model.dir);
            if loaded_from.get(&model.name) == Some(&print) {
                continue;
            }
            tracing::info!(model = %model.name, "model directory changed; loading it");
            if let Err(error) = self.load_locked(&mut loaded_from, &model.name, &model.dir, print) {
                tracing::warn!(%error, "poll: model not loaded");
            }
        }
        let gone: Vec<String> = loaded_from
            .keys()
            .filter(|name| !present.contains(name))
            .cloned()
            .collect();
        for name in gone {
            self.remove_model(&name, Unload::Removed, Some(&mut loaded_from));
        }
    }

    /// Polls the repository every `interval` until the returned handle is dropped or aborted.
    pub(crate) fn spawn_poller(
        self: &Arc<Self>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let control = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let control = control.clone();
                if tokio::task::spawn_blocking(move || control.poll_once())
                    .await
                    .is_err()
                {
                    tracing::error!("model repository poll panicked");
                }
            }
        })
    }
}
