//! A progress bar on standard error for the commands that download or upload (indicatif),
//! drawn only when standard error is a terminal, so logs and pipes stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use outpost_storage::Progress;

/// A transfer's progress bar, labelled with what moves.
pub(crate) struct TransferBar {
    bar: ProgressBar,
}

impl TransferBar {
    /// A bar for a transfer called `label`, drawn once it starts.
    pub(crate) fn new(label: impl Into<String>) -> TransferBar {
        let bar = ProgressBar::hidden();
        bar.set_message(label.into());
        TransferBar { bar }
    }
}

impl Progress for TransferBar {
    fn start(&self, total: u64, done: u64) {
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
