//! `outpost-ort`: the `outpost` command line with ONNX Runtime as its one runtime, tract not
//! linked (about 40% smaller). The server images ship it as `/outpost`
//! (scripts/build-image-binary.sh); a model with `backend = "tract"` fails its load there,
//! saying so.

use std::process::ExitCode;

use outpost_cli::LinkedRuntimes;

fn main() -> ExitCode {
    outpost_cli::main(LinkedRuntimes::default())
}
