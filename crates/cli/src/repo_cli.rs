//! `outpost repo init|publish|refresh`: the publisher's side of a bundle repository, a folder
//! in TUF's layout signed with ed25519 key files (crates/trust does the work).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use outpost_storage::download::TransferError;
use outpost_storage::upload::Replacing;
use outpost_storage::{RepositoryLocation, StorageSettings, StoreTransport};
use outpost_trust::{Schedule, TrustedRepository};

use crate::repo_args::RepoArgs;

/// A signed repository of model bundles.
#[derive(Subcommand)]
pub(crate) enum RepoCommand {
    /// Make the signing keys and the repository's root of trust (metadata/1.root.json, which
    /// devices are given as --trusted-root).
    Init(RepoArgs),
    /// Add a bundle as a signed target (replacing one of the same model and version), with its
    /// rollout across the fleet.
    Publish {
        #[command(flatten)]
        repo: RepoArgs,
        /// The bundle file (`outpost bundle create`).
        bundle: PathBuf,
        /// The rollout, signed with the bundle: `default` (1 % after 1 h, 5 % after 4 h, 10 %
        /// after 1 d, 25 % after 3 d, all after 6 d), `fast` (the same within 2 h), `now` (all
        /// at once), or a TOML file of `[[wave]]` tables (`start_after = "4h"`,
        /// `fleet_percent = 5`) with optional `max_failed_percent` and `min_reports`. A wave
        /// opens when `outpost fleet watch` (or `fleet open`) signs it open, never by a device's
        /// clock; waves that start at 0 are open at once.
        #[arg(long, default_value = "default")]
        waves: String,
    },
    /// Re-sign targets, snapshot and timestamp with nothing changed, before they expire; with
    /// --due or --loop, only what is about to.
    Refresh {
        #[command(flatten)]
        repo: RepoArgs,
        /// Re-sign only what is due: a role with less than half of its lifetime (its --*-expiry)
        /// left. timestamp.json alone needs only the timestamp key in --keys. What a timer or a
        /// CronJob runs (deploy/systemd, deploy/k3s/publisher).
        #[arg(long)]
        due: bool,
        /// Keep the repository fresh until stopped (SIGTERM, Ctrl-C): --due, then sleep until
        /// the next role is due. What it signs goes to --upload; a failed upload or signing is
        /// reported and tried again a minute later.
        #[arg(long = "loop")]
        keep_fresh: bool,
    },
    /// Read a repository as a device does, from its trusted root, and list the bundles it
    /// offers; fails on any signature, threshold, expiry or consistency error. With
    /// --download, also fetch the newest bundle of each model, verified, into a folder (to
    /// carry to a device that has no link).
    Check(CheckArgs),
}

/// `outpost repo check`.
#[derive(Args)]
pub(crate) struct CheckArgs {
    /// The root of trust (the repository's 1.root.json, as devices are given it).
    #[arg(long)]
    trusted_root: PathBuf,
    /// The repository: a folder or an s3://, gs://, az://, http(s):// or file:// URL of the
    /// folder holding metadata/ and targets/ (credentials and endpoints from the environment,
    /// e.g. AWS_ENDPOINT_URL).
    #[arg(long)]
    repo: String,
    /// Fetch the newest bundle of each model into this folder, checked against its signed
    /// length and sha256 (resuming a partial file left there).
    #[arg(long)]
    download: Option<PathBuf>,
}

/// Runs a repository command.
pub(crate) fn run(command: &RepoCommand) -> anyhow::Result<()> {
    crate::runtime::block_on(async {
        match command {
            RepoCommand::Init(args) => {
                let publisher = args.publisher();
                publisher.init(&args.expiries()).await?;
                println!(
                    "keys in {}; give devices {} as their trusted root",
                    args.keys.display(),
                    publisher.root_path().display()
                );
                upload(args, Replacing::Nothing).await?;
            }
            RepoCommand::Publish {
                repo,
                bundle,
                waves,
            } => {
                let schedule = Schedule::named_or_file(waves, jiff::Timestamp::now())?;
                for attempt in 1..=SIGNING_ATTEMPTS {
                    let replacing = take_published(repo).await?;
                    let name = repo
                        .publisher()
                        .publish(bundle, Some(&schedule), &repo.expiries())
                        .await?;
                    println!("published {} in {}", name.raw(), repo.repo.display());
                    println!("rollout: {}", describe(&schedule));
                    if !sign_again(upload(repo, replacing).await, attempt)? {
                        break;
                    }
                }
            }
            RepoCommand::Refresh {
                repo,
                due: false,
                keep_fresh: false,
            } => {
                let replacing = take_published(repo).await?;
                repo.publisher().refresh(&repo.expiries()).await?;
                println!("re-signed {}", repo.repo.display());
                upload(repo, replacing).await?;
            }
            RepoCommand::Refresh {
                repo, keep_fresh, ..
            } => crate::repo_renewal::renew(repo, *keep_fresh).await?,
            RepoCommand::Check(args) => check(args).await?,
        }
        Ok(())
    })?
}

/// How many times a signing with --upload is made: again from the bucket's newer metadata when
/// another signer (a renewal loop, `fleet watch`, another publisher) replaced timestamp.json
/// between this one's read and its upload.
pub(crate) const SIGNING_ATTEMPTS: usize = 5;

/// After the upload of signing number `attempt`: `Ok(true)` when it lost the race for
/// timestamp.json and may be signed again, `Ok(false)` when it is done, the error otherwise.
pub(crate) fn sign_again(uploaded: anyhow::Result<()>, attempt: usize) -> anyhow::Result<bool> {
    let Err(error) = uploaded else {
        return Ok(false);
    };
    let lost = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<TransferError>(),
            Some(TransferError::Changed { .. })
        )
    });
    if lost && attempt < SIGNING_ATTEMPTS {
        eprintln!("{error:#}; signing again from what the bucket holds now");
        return Ok(true);
    }
    Err(error)
}

/// With --upload, the bucket's newer metadata into the folder before signing
/// (`crate::repo_sync`); answers what the upload after may replace.
pub(crate) async fn take_published(args: &RepoArgs) -> anyhow::Result<Replacing> {
    let Some(url) = &args.upload else {
        return Ok(Replacing::Anything);
    };
    let location = RepositoryLocation::open(url, &StorageSettings::default())?;
    let synced = crate::repo_sync::take_published(&args.publisher(), &location, None).await?;
    Ok(synced.replacing)
}

/// Loads the repository from the trusted root (with a datastore of its own, as a device that
/// never saw it before) and lists its bundles.
async fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let root = std::fs::read(&args.trusted_root)
        .with_context(|| format!("reading {}", args.trusted_root.display()))?;
    let datastore = tempfile::tempdir().context("making a datastore folder")?;
    let location = RepositoryLocation::open(&args.repo, &StorageSettings::default())?;
    let (metadata, targets) = (location.join("metadata/"), location.join("targets/"));
    let repository = TrustedRepository::load(
        &root,
        metadata,
        targets,
        datastore.path(),
        StoreTransport::new(location.clone()),
    )
    .await
    .with_context(|| format!("{} is not trusted", args.repo))?;
    let [targets, snapshot, timestamp] = repository.versions();
    println!("verified: targets v{targets}, snapshot v{snapshot}, timestamp v{timestamp}");
    let mut bundles = repository.bundles();
    bundles.sort_by(|a, b| (&a.model, a.version).cmp(&(&b.model, b.version)));
    for bundle in &bundles {
        println!(
            "{} {} {} ({} bytes)",
            bundle.model,
            bundle.version,
            bundle.name.raw(),
            bundle.length
        );
    }
    if let Some(folder) = &args.download {
        download_newest(&location, &bundles, folder).await?;
    }
    Ok(())
}

/// Fetches the newest of `bundles` (sorted by model, then version) for each model into
/// `folder`, verified.
async fn download_newest(
    location: &RepositoryLocation,
    bundles: &[outpost_trust::BundleTarget],
    folder: &std::path::Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let newest = bundles
        .iter()
        .enumerate()
        .filter(|(i, b)| bundles.get(i + 1).is_none_or(|next| next.model != b.model))
        .map(|(_, b)| b);
    for bundle in newest {
        let dest = folder.join(bundle.name.raw());
        let path = location
            .path_of(&location.join(&bundle.repository_path()))
            .context("the target's path leaves the repository")?;
        let expected = outpost_storage::download::Expected {
            length: bundle.length,
            sha256: bundle.sha256,
        };
        let bar = crate::progress_bar::TransferBar::new(bundle.name.raw());
        outpost_storage::download::download(
            location.store.as_ref(),
            &path,
            &dest,
            &expected,
            None,
            &bar,
        )
        .await
        .with_context(|| format!("downloading {}", bundle.name.raw()))?;
        println!("downloaded {} (verified)", dest.display());
    }
    Ok(())
}

/// Copies the repository folder to `--upload`, when given, replacing timestamp.json only if
/// it is still what `replacing` says.
pub(crate) async fn upload(args: &RepoArgs, replacing: Replacing) -> anyhow::Result<()> {
    let Some(url) = &args.upload else {
        return Ok(());
    };
    let location = RepositoryLocation::open(url, &StorageSettings::default())?;
    // What goes up is what was signed: no other signing in between.
    let _lock = args.publisher().lock().await?;
    let shown = location.shown_url();
    let bar = crate::progress_bar::TransferBar::new(format!("uploading to {shown}"));
    let sent = outpost_storage::upload::upload_repository(&args.repo, &location, &replacing, &bar)
        .await
        .with_context(|| match replacing {
            Replacing::Nothing => format!("uploading to {shown} (where no repository may be yet)"),
            _ => format!("uploading to {shown}"),
        })?;
    crate::repo_sync::warn_if_unguarded(&sent, &shown);
    println!(
        "uploaded {} files ({} bytes) to {shown}; {} bundles were there already",
        sent.files, sent.bytes, sent.skipped
    );
    Ok(())
}

/// A schedule in words: `1 % after 1h, 5 % after 4h, ...`.
fn describe(schedule: &Schedule) -> String {
    let waves: Vec<String> = schedule
        .waves
        .iter()
        .map(|wave| {
            let after = jiff::SignedDuration::from_secs(
                i64::try_from(wave.start_after_secs).unwrap_or(i64::MAX),
            );
            if wave.start_after_secs == 0 {
                format!("{} % at once", wave.fleet_percent)
            } else {
                format!("{} % after {after:#}", wave.fleet_percent)
            }
        })
        .collect();
    let opened_by_watch = schedule.waves.iter().any(|w| w.start_after_secs > 0);
    format!(
        "{}{}",
        waves.join(", "),
        if opened_by_watch {
            "; each later wave opens when `outpost fleet watch` (or `fleet open`) signs it"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_that_lost_the_race_for_timestamp_json_is_made_again_a_few_times() {
        let lost = || {
            Err(anyhow::Error::new(TransferError::Changed {
                path: "fleet/metadata/timestamp.json".into(),
            })
            .context("uploading to s3://models/fleet/"))
        };
        assert!(sign_again(lost(), 1).unwrap());
        assert!(sign_again(lost(), SIGNING_ATTEMPTS - 1).unwrap());
        assert!(sign_again(lost(), SIGNING_ATTEMPTS).is_err());
        assert!(!sign_again(Ok(()), 1).unwrap());
        assert!(sign_again(Err(anyhow::anyhow!("the bucket is gone")), 1).is_err());
    }
}
