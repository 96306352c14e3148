//! What the server says about itself on every front end: its name, its version, and the
//! protocol extensions it implements (only those are advertised).

/// Protocol extensions that are implemented.
pub const EXTENSIONS: &[&str] = &[
    "binary_tensor_data",
    "model_configuration",
    "model_repository",
    "statistics",
];

/// The server's name in the server metadata.
pub const NAME: &str = "outpost";

/// The server's version in the server metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// [`EXTENSIONS`] as the owned strings both front ends answer with.
pub fn extensions() -> Vec<String> {
    EXTENSIONS.iter().map(|e| (*e).to_string()).collect()
}
