//! `outpost fleet watch` and `outpost fleet status`: the devices' reports read from the status
//! location and tallied per bundle (`outpost_fleet`); `watch` signs what the rollouts' schedules
//! and abort criteria call for (a wave opened, an automatic halt) with the fleet key, `status`
//! shows where the fleet stands, as tables or JSON.

use anyhow::Context;
use outpost_fleet::{decide, read_reports, Tally, Verdict};
use outpost_storage::{RepositoryLocation, StorageSettings, StoreTransport};
use outpost_trust::listing::control_for;
use outpost_trust::TrustedRepository;

use crate::fleet_args::{StatusArgs, WatchArgs};
use crate::fleet_control::sign;

/// Rounds until stopped (or one, with --once); a failed round is reported and tried again
/// at the next.
pub(crate) async fn watch(args: &WatchArgs) -> anyhow::Result<()> {
    let status = RepositoryLocation::open(&args.status, &StorageSettings::default())?;
    loop {
        let round = watch_once(args, &status).await;
        if args.once {
            return round;
        }
        if let Err(error) = round {
            eprintln!("outpost fleet watch: {error:#}; trying again at the next round");
        }
        let nap = std::time::Duration::try_from(args.interval).unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = outpost_agent::cli::shutdown_signal() => return Ok(()),
        }
    }
}

async fn watch_once(args: &WatchArgs, status: &RepositoryLocation) -> anyhow::Result<()> {
    for attempt in 1..=crate::repo_cli::SIGNING_ATTEMPTS {
        if !crate::repo_cli::sign_again(judge_and_sign(args, status).await, attempt)? {
            break;
        }
    }
    Ok(())
}

/// One round: the reports judged against the folder's repository (taken from the bucket first),
/// what they call for signed and uploaded.
async fn judge_and_sign(args: &WatchArgs, status: &RepositoryLocation) -> anyhow::Result<()> {
    let repo = &args.repo;
    let replacing = crate::repo_cli::take_published(repo).await?;
    let (bundles, controls) = repo.publisher().published().await?;
    let read = read_reports(status)
        .await
        .with_context(|| format!("reading the reports under {}", status.shown_url()))?;
    let now = jiff::Timestamp::now();
    let mut signed = false;
    for decision in decide(&bundles, &controls, &read.reports, now)? {
        let (model, version) = (&decision.model, decision.version);
        if let Verdict::Halt(reason) = &decision.verdict {
            eprintln!("{model} version {version}: {reason}");
        }
        sign(repo, model, version, &decision.control).await?;
        signed = true;
    }
    // The fleet role lapses with its own signature, which only this key renews: again once
    // half of its lifetime (--root-expiry) has passed.
    let publisher = repo.publisher();
    let lifetimes = repo.expiries();
    if !signed && now.duration_until(publisher.fleet_role_expiry().await?) < lifetimes.root / 2 {
        publisher.renew_fleet_role(&lifetimes).await?;
        println!(
            "fleet role re-signed, valid until {}",
            publisher.fleet_role_expiry().await?
        );
        signed = true;
    }
    if signed {
        crate::repo_cli::upload(repo, replacing).await?;
    }
    Ok(())
}

/// Shows the fleet's standing.
pub(crate) async fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let root = std::fs::read(&args.trusted_root)
        .with_context(|| format!("reading {}", args.trusted_root.display()))?;
    let datastore = tempfile::tempdir().context("making a datastore folder")?;
    let location = RepositoryLocation::open(&args.repository, &StorageSettings::default())?;
    let repository = TrustedRepository::load(
        &root,
        location.join("metadata/"),
        location.join("targets/"),
        datastore.path(),
        StoreTransport::new(location.clone()),
    )
    .await
    .with_context(|| format!("{} is not trusted", args.repository))?;
    let status = RepositoryLocation::open(&args.status, &StorageSettings::default())?;
    let read = read_reports(&status)
        .await
        .with_context(|| format!("reading the reports under {}", status.shown_url()))?;
    let bundles = repository.bundles();
    let controls = repository.controls();
    let tally = Tally::of(
        &bundles,
        &read.reports,
        jiff::Timestamp::now(),
        args.silent_after,
    );
    if args.json {
        let versions: Vec<serde_json::Value> = tally
            .versions
            .iter()
            .map(|v| {
                let control = control_for(&controls, &v.model, v.version);
                serde_json::json!({
                    "model": v.model,
                    "version": v.version,
                    "control": control,
                    "installed": v.installed,
                    "updating": v.updating,
                    "failed": v.failed,
                    "waiting": v.waiting,
                    "waves": v.waves,
                })
            })
            .collect();
        let out = serde_json::json!({
            "devices": tally.devices,
            "versions": versions,
            "silent": tally.silent,
            "unreadable": read.unreadable,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{} devices reported", tally.devices);
    for v in &tally.versions {
        let control = control_for(&controls, &v.model, v.version);
        let standing = match control {
            Some(c) if c.yanked => "yanked".to_string(),
            Some(c) if c.paused => format!("paused at {} %", c.open_percent),
            Some(c) => format!("open to {} %", c.open_percent),
            None => "no control signed".to_string(),
        };
        println!(
            "\n{} version {}: {standing}; on it {}, installing {}, failed {}, waiting {}",
            v.model,
            v.version,
            v.installed.len(),
            v.updating.len(),
            v.failed.len(),
            v.waiting.len()
        );
        if !v.waves.is_empty() {
            println!("  wave  fleet %  devices  on it  failed");
            for w in &v.waves {
                println!(
                    "  {:>4}  {:>7}  {:>7}  {:>5}  {:>6}",
                    w.wave, w.fleet_percent, w.devices, w.installed, w.failed
                );
            }
        }
        for (device, reason) in &v.failed {
            println!("  failed on {device}: {reason}");
        }
    }
    if !tally.silent.is_empty() {
        println!("\nsilent for longer than {:#}:", args.silent_after);
        for (device, at) in &tally.silent {
            println!("  {device} (last report {at})");
        }
    }
    for name in &read.unreadable {
        println!("not a report: {name}");
    }
    Ok(())
}
