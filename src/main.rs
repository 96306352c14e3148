//! `outpost`: the command line (crates/cli) with every runtime this build's features link:
//! ONNX Runtime (feature `ort`, its library loaded at run time) and tract (feature `tract`).

use std::process::ExitCode;

use outpost_cli::LinkedRuntimes;

fn main() -> ExitCode {
    outpost_cli::main(LinkedRuntimes {
        #[cfg(feature = "tract")]
        tract: Some(|| std::sync::Arc::new(outpost_backend_tract::TractBackend::new())),
        #[cfg(not(feature = "tract"))]
        tract: None,
    })
}
