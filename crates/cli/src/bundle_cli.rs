//! `outpost bundle create` and `outpost bundle inspect`: packing a model version into a bundle
//! and checking and describing one (crates/bundle does the work).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use outpost_bundle::read::verify;
use outpost_bundle::{create, BundleSource, GoldenCases, Limits};

/// Model bundles: one model version, its files and golden cases in one file.
#[derive(Subcommand)]
pub(crate) enum BundleCommand {
    /// Pack one version of a model folder (repository layout) into a bundle.
    Create(CreateArgs),
    /// Check every file of a bundle against its manifest and describe it.
    Inspect(InspectArgs),
}

/// `outpost bundle create`.
#[derive(Args)]
pub(crate) struct CreateArgs {
    /// The model's folder: model.toml, labels and other side files at its top, the version in
    /// <VERSION>/.
    model_dir: PathBuf,
    /// The model's name in the repository.
    #[arg(long)]
    name: String,
    /// The version to pack (a positive integer; <MODEL_DIR>/<VERSION>/ is packed).
    #[arg(long)]
    version: u64,
    /// A folder with cases.toml and the files its golden cases name.
    #[arg(long)]
    golden: Option<PathBuf>,
    /// The oldest server version that can serve the bundle [default: this binary's version].
    #[arg(long)]
    min_server_version: Option<String>,
    /// The bundle file to write.
    #[arg(short, long)]
    output: PathBuf,
}

/// `outpost bundle inspect`.
#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The bundle file.
    file: PathBuf,
}

/// Runs a bundle command.
pub(crate) fn run(command: &BundleCommand) -> anyhow::Result<()> {
    match command {
        BundleCommand::Create(args) => create_bundle(args),
        BundleCommand::Inspect(args) => inspect(&args.file),
    }
}

fn create_bundle(args: &CreateArgs) -> anyhow::Result<()> {
    let min_server_version = args
        .min_server_version
        .clone()
        .unwrap_or_else(|| outpost_server::about::VERSION.to_string());
    let source = BundleSource {
        model_dir: &args.model_dir,
        name: &args.name,
        version: args.version,
        golden_dir: args.golden.as_deref(),
        min_server_version: &min_server_version,
    };
    // Written beside the destination and renamed into place once complete and synced.
    let partial = partial_path(&args.output);
    let written = (|| -> anyhow::Result<outpost_bundle::Manifest> {
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let mut out = BufWriter::new(file);
        let manifest = create(&source, &mut out)?;
        let file = out.into_inner().context("writing the bundle")?;
        file.sync_all().context("syncing the bundle")?;
        std::fs::rename(&partial, &args.output)
            .with_context(|| format!("renaming into {}", args.output.display()))?;
        Ok(manifest)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    let manifest = written?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "{}: {} version {}, {} files, {} bytes",
        args.output.display(),
        manifest.name,
        manifest.version,
        manifest.files.len(),
        bytes
    );
    Ok(())
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}

fn inspect(path: &Path) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let manifest = verify(BufReader::new(file), &Limits::default())
        .with_context(|| format!("{} is not a valid bundle", path.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "model:              {}", manifest.name)?;
    writeln!(out, "version:            {}", manifest.version)?;
    writeln!(out, "min server version: {}", manifest.min_server_version)?;
    writeln!(
        out,
        "golden cases:       {}",
        if GoldenCases::present_in(&manifest) {
            "yes"
        } else {
            "none"
        }
    )?;
    writeln!(out, "files ({}, every one checked):", manifest.files.len())?;
    for file in &manifest.files {
        writeln!(out, "  {:>12}  {}  {}", file.size, file.sha256, file.path)?;
    }
    Ok(())
}
