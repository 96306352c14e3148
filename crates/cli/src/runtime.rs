//! The single-threaded async runtime the repository and fleet commands run on: their work is
//! I/O to object storage and signing, one step after another.

use anyhow::Context;

/// Runs `work` to its end on a runtime of its own.
pub(crate) fn block_on<F: std::future::Future>(work: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(work))
}
