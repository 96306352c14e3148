//! A bundle's control changed (`outpost_fleet::control`) and signed: by hand
//! (`fleet open|pause|resume|yank`) or by `fleet watch`'s verdicts. The fleet key signs
//! (`outpost_trust::fleet`) with the snapshot and timestamp keys, from a folder that holds no
//! targets or root key.

use anyhow::{bail, Context};
use outpost_fleet::{changed, Change};
use outpost_trust::listing::control_for;
use outpost_trust::Control;

use crate::fleet_args::Target;
use crate::repo_args::RepoArgs;

/// Changes `target`'s control: the bucket's newer metadata taken first (with `--upload`), the
/// control signed from the one before, the result uploaded.
pub(crate) async fn change_control(target: &Target, change: Change) -> anyhow::Result<()> {
    for attempt in 1..=crate::repo_cli::SIGNING_ATTEMPTS {
        let uploaded = change_once(target, change).await;
        if !crate::repo_cli::sign_again(uploaded, attempt)? {
            break;
        }
    }
    Ok(())
}

async fn change_once(target: &Target, change: Change) -> anyhow::Result<()> {
    let repo = &target.repo;
    let replacing = crate::repo_cli::take_published(repo).await?;
    let publisher = repo.publisher();
    let (bundles, controls) = publisher.published().await?;
    let Some(bundle) = bundles
        .iter()
        .find(|b| b.model == target.model && b.version == target.version)
    else {
        bail!(
            "{} version {} is not published in {}",
            target.model,
            target.version,
            repo.repo.display()
        );
    };
    let before = control_for(&controls, &target.model, target.version).cloned();
    let control = changed(
        change,
        &target.reason,
        before,
        bundle.rollout.as_ref(),
        &[],
        jiff::Timestamp::now(),
    )
    .with_context(|| format!("{} version {}", target.model, target.version))?;
    sign(repo, &target.model, target.version, &control).await?;
    crate::repo_cli::upload(repo, replacing).await
}

/// Signs `control` for `model`'s `version` into the folder, and says so.
pub(crate) async fn sign(
    repo: &RepoArgs,
    model: &str,
    version: u64,
    control: &Control,
) -> anyhow::Result<()> {
    repo.publisher()
        .sign_control(model, version, control, &repo.expiries())
        .await?;
    println!(
        "{model} version {version}: open to {} % of the fleet{}{}{}",
        control.open_percent,
        if control.paused { ", paused" } else { "" },
        if control.yanked { ", yanked" } else { "" },
        if control.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", control.reason)
        }
    );
    Ok(())
}
