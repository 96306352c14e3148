//! A bundle's control changed and signed: by hand (`fleet open|pause|resume|yank`) or by
//! `fleet watch`'s verdicts. The fleet key signs (`outpost_trust::fleet`) with the snapshot
//! and timestamp keys, from a folder that holds no targets or root key.

use anyhow::{bail, Context};
use outpost_trust::listing::control_for;
use outpost_trust::{Control, Schedule};

use crate::fleet_args::Target;
use crate::repo_args::RepoArgs;

/// A change of a bundle's control.
pub(crate) enum Change {
    Open(u32),
    Pause,
    Resume,
    Yank,
}

/// The control after `change`, from the one signed before (none yet: nothing open beyond the
/// waves that start at publishing).
fn next(
    change: &Change,
    reason: &str,
    before: Option<Control>,
    schedule: Option<&Schedule>,
) -> anyhow::Result<Control> {
    let mut control = before.unwrap_or(Control {
        open_percent: schedule.map_or(100, Schedule::open_from_start),
        paused: false,
        yanked: false,
        reason: String::new(),
        signed_at: jiff::Timestamp::now(),
    });
    if control.yanked {
        bail!("it was yanked, for good: publish a new version to go forward");
    }
    match change {
        Change::Open(percent) => {
            if !(1..=100).contains(percent) {
                bail!("--percent must be 1 to 100");
            }
            control.open_percent = *percent;
        }
        Change::Pause => control.paused = true,
        Change::Resume => control.paused = false,
        Change::Yank => control.yanked = true,
    }
    control.reason = reason.to_string();
    control.signed_at = jiff::Timestamp::now();
    Ok(control)
}

/// Changes `target`'s control: the bucket's newer metadata taken first (with `--upload`), the
/// control signed from the one before, the result uploaded.
pub(crate) async fn change_control(target: &Target, change: Change) -> anyhow::Result<()> {
    for attempt in 1..=crate::repo_cli::SIGNING_ATTEMPTS {
        let uploaded = change_once(target, &change).await;
        if !crate::repo_cli::sign_again(uploaded, attempt)? {
            break;
        }
    }
    Ok(())
}

async fn change_once(target: &Target, change: &Change) -> anyhow::Result<()> {
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
    let control = next(change, &target.reason, before, bundle.rollout.as_ref())
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

/// The control `fleet watch` signs for a verdict, from the one before.
pub(crate) fn watched(
    verdict: &outpost_fleet::Verdict,
    before: Option<Control>,
    schedule: &Schedule,
) -> anyhow::Result<Option<Control>> {
    Ok(match verdict {
        outpost_fleet::Verdict::Nothing => None,
        outpost_fleet::Verdict::Open(percent) => Some(next(
            &Change::Open(*percent),
            &format!("opened to {percent} % by fleet watch"),
            before,
            Some(schedule),
        )?),
        outpost_fleet::Verdict::Halt(reason) => {
            Some(next(&Change::Pause, reason, before, Some(schedule))?)
        }
    })
}
