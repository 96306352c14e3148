//! Generates the gRPC messages, server trait and client from `proto/inference.proto`, with the
//! `protoc` that the protoc-bin-vendored crate ships (no system install needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/inference.proto");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .bytes(".")
        .compile_protos(&["proto/inference.proto"], &["proto"])?;
    Ok(())
}
