//! `outpost repo refresh --due` and `--loop`: takes what was published since from the bucket
//! (`crate::repo_sync`), re-signs what is about to lapse (the plan is
//! `outpost_trust::renewal`'s), uploads just the files it wrote, and, looping, sleeps until the
//! next role is due (looking at least every 15 minutes). A failed signing or upload is
//! reported and tried again a minute later; files signed but not uploaded yet go up with the
//! next attempt, timestamp.json last, and nothing goes up before the bucket was read.

use std::time::Duration;

use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use outpost_storage::upload::Replacing;
use outpost_storage::{RepositoryLocation, StorageSettings};
use outpost_trust::{Expiries, Publisher, Renewal, RenewalPlan};

use crate::repo_args::RepoArgs;
use crate::repo_sync::take_published;

/// How soon a loop tries again after a failed signing or upload.
const RETRY: SignedDuration = SignedDuration::from_secs(60);

/// The longest a loop sleeps at once: the wall clock may jump (a suspended machine) while the
/// sleep's clock does not, and each look also takes what was published meanwhile.
const MAX_NAP: Duration = Duration::from_secs(15 * 60);

/// Renews what is due once (`keep_fresh` false) or until stopped.
pub(crate) async fn renew(args: &RepoArgs, keep_fresh: bool) -> anyhow::Result<()> {
    let lifetimes = args.expiries();
    for (flag, lifetime) in [
        ("--targets-expiry", lifetimes.targets),
        ("--snapshot-expiry", lifetimes.snapshot),
        ("--timestamp-expiry", lifetimes.timestamp),
    ] {
        anyhow::ensure!(
            lifetime.is_positive(),
            "{flag} must be longer than zero for signatures to be kept fresh"
        );
    }
    let publisher = args.publisher();
    let location = args
        .upload
        .as_deref()
        .map(|url| RepositoryLocation::open(url, &StorageSettings::default()))
        .transpose()?;
    let mut not_uploaded: Vec<String> = Vec::new();
    // What the bucket held when the folder was last in step with it.
    let mut known: Option<Replacing> = None;
    loop {
        if let Some(location) = &location {
            // What was published elsewhere since (a `publish` from another machine) is what
            // gets renewed: never a timestamp naming an older snapshot.
            match take_published(&publisher, location, known.as_ref()).await {
                Ok(synced) => {
                    if synced.took {
                        not_uploaded.clear();
                    }
                    known = Some(synced.replacing);
                }
                Err(error) if keep_fresh => eprintln!("{error:#}; renewing the folder as it is"),
                Err(error) => return Err(error),
            }
        }
        let mut wake = match publisher.renew_due(&lifetimes).await {
            Ok((plan, written)) => {
                println!("{}", describe(&plan));
                warn_if_fleet_role_lapses(&publisher, &lifetimes).await;
                for file in written {
                    if !not_uploaded.contains(&file) {
                        not_uploaded.push(file);
                    }
                }
                plan.next_check
            }
            Err(error) if keep_fresh => {
                eprintln!(
                    "renewing {}: {error}; trying again in {RETRY:#}",
                    args.repo.display()
                );
                Timestamp::now() + RETRY
            }
            Err(error) => {
                return Err(error).with_context(|| format!("renewing {}", args.repo.display()))
            }
        };
        match &location {
            Some(_) if !not_uploaded.is_empty() && known.is_none() => {
                // Nothing goes up before the bucket was read: it may hold a newer signing.
                eprintln!(
                    "not uploading before the bucket could be read; trying again in {RETRY:#}"
                );
                wake = wake.min(Timestamp::now() + RETRY);
            }
            Some(location) if !not_uploaded.is_empty() => {
                // timestamp.json, which names the others, last.
                not_uploaded.sort_by_key(|file| file == "timestamp.json");
                let replacing = known.clone().unwrap_or(Replacing::Nothing);
                match upload(&publisher, args, location, &not_uploaded, &replacing).await {
                    Ok(()) => {
                        println!("uploaded {}", not_uploaded.join(", "));
                        not_uploaded.clear();
                    }
                    Err(error) if keep_fresh => {
                        eprintln!("{error:#}; trying again in {RETRY:#}");
                        wake = wake.min(Timestamp::now() + RETRY);
                    }
                    Err(error) => return Err(error),
                }
            }
            Some(_) => {}
            None => not_uploaded.clear(),
        }
        if !keep_fresh {
            return Ok(());
        }
        let nap = Timestamp::now().duration_until(wake);
        let nap = Duration::try_from(nap)
            .unwrap_or(Duration::ZERO)
            .min(MAX_NAP);
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = outpost_agent::cli::shutdown_signal() => return Ok(()),
        }
    }
}

/// Uploads `files` of the repository's metadata folder, holding the repository meanwhile.
async fn upload(
    publisher: &outpost_trust::Publisher,
    args: &RepoArgs,
    location: &RepositoryLocation,
    files: &[String],
    replacing: &Replacing,
) -> anyhow::Result<()> {
    let _lock = publisher.lock().await?;
    let shown = location.shown_url();
    let bar = crate::progress_bar::TransferBar::new(format!("uploading to {shown}"));
    let sent =
        outpost_storage::upload::upload_metadata(&args.repo, location, files, replacing, &bar)
            .await
            .with_context(|| format!("uploading {} to {shown}", files.join(", ")))?;
    crate::repo_sync::warn_if_unguarded(&sent, &shown);
    Ok(())
}

/// One line on what a renewal did and when it looks again.
fn describe(plan: &RenewalPlan) -> String {
    let at = |t: Timestamp| t.round(jiff::Unit::Second).unwrap_or(t);
    let after = &plan.after;
    let done = match plan.renew {
        Renewal::Nothing => format!(
            "nothing due (timestamp valid until {})",
            at(after.timestamp)
        ),
        Renewal::Timestamp => format!(
            "timestamp.json re-signed, valid until {}",
            at(after.timestamp)
        ),
        Renewal::All => format!(
            "targets, snapshot and timestamp re-signed, valid until {}, {} and {}",
            at(after.targets),
            at(after.snapshot),
            at(after.timestamp)
        ),
    };
    format!("{done}; next renewal due at {}", at(plan.next_check))
}

/// Warns when the fleet role has less than half of its lifetime (--root-expiry) left: a
/// renewal here cannot sign it (only the fleet key can), `outpost fleet watch` renews it.
async fn warn_if_fleet_role_lapses(publisher: &Publisher, lifetimes: &Expiries) {
    let Ok(expiry) = publisher.fleet_role_expiry().await else {
        return;
    };
    if Timestamp::now().duration_until(expiry) < lifetimes.root / 2 {
        eprintln!(
            "warning: the fleet role's signature lapses at {expiry} and only the fleet key renews it: \
             run `outpost fleet watch` (it re-signs the role once half of its life has passed) or any \
             `outpost fleet` command where that key is"
        );
    }
}
