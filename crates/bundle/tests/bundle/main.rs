//! The bundle crate's integration tests, through its public API, in one executable: bundles made
//! from real model folders (`bundle_files`) and bundles made to attack the reader
//! (`hostile_bundles`).

mod bundle_files;
mod hostile_bundles;
