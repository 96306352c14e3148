//! Where a publisher's repository and its keys are, where it is uploaded, and how long
//! signatures last: the arguments every signing `outpost repo` command shares.

use std::path::PathBuf;

use clap::Args;
use jiff::SignedDuration;
use outpost_trust::{Expiries, Publisher};

/// Where the repository and its keys are, and how long signatures last.
#[derive(Args)]
pub(crate) struct RepoArgs {
    /// Folder of the signing keys (one ed25519 PKCS#8 file per role, mode 0600).
    #[arg(long)]
    pub(crate) keys: PathBuf,
    /// The repository folder (metadata/ and targets/), the publisher's copy.
    #[arg(long)]
    pub(crate) repo: PathBuf,
    /// After signing, copy the repository folder to this URL (s3://, gs://, az://, file:// or a
    /// folder): bundles first, timestamp.json last. Credentials and endpoints from the
    /// environment.
    #[arg(long)]
    pub(crate) upload: Option<String>,
    /// How long root.json stays valid (init only), and the fleet role's signature (init and
    /// `outpost fleet`): a duration such as `365d`, `12h`, `90s`.
    #[arg(long, default_value = "365d", value_parser = lifetime)]
    root_expiry: SignedDuration,
    /// How long targets.json stays valid after each signing.
    #[arg(long, default_value = "90d", value_parser = lifetime)]
    targets_expiry: SignedDuration,
    /// How long snapshot.json stays valid after each signing.
    #[arg(long, default_value = "7d", value_parser = lifetime)]
    snapshot_expiry: SignedDuration,
    /// How long timestamp.json stays valid after each signing (devices stop installing once it
    /// lapses: keep it fresh with `refresh --loop` or a timer running `refresh --due`).
    #[arg(long, default_value = "1d", value_parser = lifetime)]
    timestamp_expiry: SignedDuration,
}

/// A `--*-expiry` value: jiff's friendly (`7d`, `1h 30m`) or ISO 8601 (`P7D`) form, days of
/// 24 hours.
pub(crate) fn lifetime(text: &str) -> Result<SignedDuration, String> {
    let span: jiff::Span = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration such as 7d, 12h or 90s: {e}"))?;
    span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("{text:?}: {e}"))
}

impl RepoArgs {
    pub(crate) fn publisher(&self) -> Publisher {
        Publisher::new(&self.keys, &self.repo)
    }

    pub(crate) fn expiries(&self) -> Expiries {
        Expiries {
            root: self.root_expiry,
            targets: self.targets_expiry,
            snapshot: self.snapshot_expiry,
            timestamp: self.timestamp_expiry,
        }
    }
}
