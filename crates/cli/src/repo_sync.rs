//! With `--upload URL` the bucket is the repository and the publisher's folder a copy of it:
//! before `publish`, `refresh` or a `fleet` command signs, the bucket's newer metadata (signed
//! elsewhere: another publisher's machine, a renewal loop, the fleet role's machine) is taken
//! into the folder, so that nothing is signed from old versions; and the upload after replaces
//! timestamp.json only if the bucket's is still the one read here
//! (`outpost_storage::upload::Replacing`), so that two signers never overwrite each other. Loading the taken metadata for signing checks it as a device would.

use anyhow::Context;
use outpost_storage::upload::{read_metadata, Replacing, Uploaded};
use outpost_storage::RepositoryLocation;
use outpost_trust::{versions_named, Publisher};

/// Where the folder stands against the bucket.
pub(crate) struct Synced {
    /// What the upload after the signing may replace.
    pub(crate) replacing: Replacing,
    /// The folder's metadata was replaced by the bucket's.
    pub(crate) took: bool,
}

/// Takes the bucket's metadata into `publisher`'s folder unless the folder is the same or
/// ahead. Ahead means: the bucket is still what the folder was last synced from (`known`, a
/// renewal loop's previous round whose upload failed) or, with nothing known, a higher
/// timestamp version than the bucket's.
pub(crate) async fn take_published(
    publisher: &Publisher,
    location: &RepositoryLocation,
    known: Option<&Replacing>,
) -> anyhow::Result<Synced> {
    let shown = location.shown_url();
    let shown = shown.as_str();
    let read = |name: String| async move {
        read_metadata(location, &name)
            .await
            .with_context(|| format!("reading {name} from {shown}"))
    };
    let _lock = publisher.lock().await?;
    let Some(remote) = read("timestamp.json".into()).await? else {
        return Ok(Synced {
            replacing: Replacing::Nothing,
            took: false,
        });
    };
    let metadata = publisher.metadata_dir();
    let local = std::fs::read(metadata.join("timestamp.json")).ok();
    let in_step = Synced {
        replacing: remote.replacing.clone(),
        took: false,
    };
    if local.as_deref() == Some(remote.bytes.as_slice()) {
        return Ok(in_step);
    }
    let (remote_version, snapshot) = versions_named(&remote.bytes, "snapshot.json")?;
    let local_version = local
        .as_deref()
        .and_then(|bytes| versions_named(bytes, "snapshot.json").ok())
        .map(|(version, _)| version);
    let folder_ahead = match known {
        Some(known) => *known == remote.replacing,
        None => local_version.is_some_and(|local| local > remote_version),
    };
    if folder_ahead {
        return Ok(in_step);
    }
    let snapshot_name = format!("{snapshot}.snapshot.json");
    let missing = |name: &str| format!("{shown} has timestamp.json but no metadata/{name}");
    let remote_snapshot = read(snapshot_name.clone())
        .await?
        .with_context(|| missing(&snapshot_name))?;
    let (_, targets) = versions_named(&remote_snapshot.bytes, "targets.json")?;
    let targets_name = format!("{targets}.targets.json");
    let write = |name: &str, bytes: &[u8]| {
        let path = metadata.join(name);
        let partial = metadata.join(format!("{name}.partial"));
        std::fs::write(&partial, bytes)
            .and_then(|()| std::fs::rename(&partial, &path))
            .with_context(|| format!("writing {}", path.display()))
    };
    std::fs::create_dir_all(&metadata)
        .with_context(|| format!("creating {}", metadata.display()))?;
    let remote_targets = read(targets_name.clone())
        .await?
        .with_context(|| missing(&targets_name))?;
    write(&targets_name, &remote_targets.bytes)?;
    // The fleet role's controls (signed on the machine that runs `outpost fleet`).
    if let Ok((_, fleet)) = versions_named(&remote_snapshot.bytes, "fleet.json") {
        let fleet_name = format!("{fleet}.fleet.json");
        let remote_fleet = read(fleet_name.clone())
            .await?
            .with_context(|| missing(&fleet_name))?;
        write(&fleet_name, &remote_fleet.bytes)?;
    }
    write(&snapshot_name, &remote_snapshot.bytes)?;
    write("timestamp.json", &remote.bytes)?;
    println!(
        "took timestamp v{remote_version}, snapshot v{snapshot} and targets v{targets} from {shown} (the folder had {})",
        local_version.map_or("no timestamp".to_string(), |v| format!("timestamp v{v}"))
    );
    Ok(Synced {
        replacing: remote.replacing,
        took: true,
    })
}

/// Says so when the store could not check that timestamp.json was unchanged before replacing
/// it.
pub(crate) fn warn_if_unguarded(sent: &Uploaded, shown_url: &str) {
    if sent.unguarded {
        eprintln!(
            "warning: {shown_url} has no conditional writes: timestamp.json was replaced without checking that no other publisher signed meanwhile"
        );
    }
}
