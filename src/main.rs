//! `outpost`: the command line (crates/cli) with every runtime this build's features register,
//! in the order `backend = "auto"` tries them: ONNX Runtime (feature `ort`, its library loaded
//! at run time), then tract (feature `tract`).

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    outpost_cli::main(&[
        #[cfg(feature = "ort")]
        Arc::new(outpost_backend_ort::OrtRuntime),
        #[cfg(feature = "tract")]
        Arc::new(outpost_backend_tract::TractRuntime),
    ])
}
