//! Link settings of the `outpost` binary.
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): a position-independent
//! Rust binary carries tens of thousands of relative relocations (vtables, static tables), and
//! the dynamic loader reads all of them at start, so their table stays resident (about 1.5 MiB
//! of this binary's idle memory, docs/benchmarks.md "Memory"). Packed, the table is a few KiB.
//! The loader must understand them (glibc 2.36 or later), so they are used where the build
//! machine is the target and its glibc is new enough; `OUTPOST_PACK_RELOCATIONS=1` or `=0`
//! decides otherwise (cross builds for an older target set `0`, or leave it unset).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=OUTPOST_PACK_RELOCATIONS");
    if pack_relative_relocations() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

fn pack_relative_relocations() -> bool {
    match std::env::var("OUTPOST_PACK_RELOCATIONS").as_deref() {
        Ok("1") => return true,
        Ok("0") => return false,
        _ => {}
    }
    let target_is_linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    target_is_linux_gnu && native && host_glibc_at_least(2, 36)
}

/// Whether the build machine's glibc (`getconf GNU_LIBC_VERSION`, e.g. "glibc 2.36") is at
/// least `major.minor`.
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}
