//! `outpost-ort`: the `outpost` command line with ONNX Runtime as its one runtime, tract not
//! linked (about 40% smaller). The server images ship it as `/outpost`
//! (scripts/build-image-binary.sh); a model with `backend = "tract"` fails its load there,
//! saying which runtimes the binary has.

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    outpost_cli::main(&[Arc::new(outpost_backend_ort::OrtRuntime)])
}
