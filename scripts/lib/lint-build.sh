# The `ci` profile's builds lint as they compile (sourced, not run). `lint_while_building` makes
# cargo compile the workspace's own crates with clippy-driver, which runs clippy's lints (the
# workspace's [lints] table, every target) and then compiles as rustc does, with warnings denied:
# the build is `cargo clippy --all-targets -- -D warnings`, without compiling every crate a
# second time in check mode. Dependencies compile with plain rustc.
#
# The wrapper is part of what cargo remembers about each crate: every cargo command over the
# `ci` artifacts (scripts/build.sh, the Rust tests, scripts/arm64-check.sh's host tests, the
# server image's binary) calls this first, or cargo compiles the workspace's crates again.
# (clippy-driver leaves MIR optimisations off; LLVM's are the profile's.)

lint_while_building() {
  local driver
  driver="$(rustc --print sysroot)/bin/clippy-driver"
  if [[ ! -x "$driver" ]]; then
    echo "lint-build: $driver not found: rustup component add clippy" >&2
    return 1
  fi
  export RUSTC_WORKSPACE_WRAPPER="$driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
}
