//! ONNX Runtime's usage telemetry.
//!
//! Official ONNX Runtime builds from 1.29 on upload usage events to Microsoft (1DS) on Linux and
//! macOS as well as Windows. The runtime call that disables "telemetry events" leaves the
//! process-level uploader running; only the `ORT_DISABLE_TELEMETRY=1` environment variable, set
//! before the library initialises, turns it off entirely (no uploader, no device identifier, no
//! offline cache). An edge server must not make connections its operator did not ask for, so
//! Outpost sets that variable unless `ort.telemetry = true`.

/// The variable ONNX Runtime reads once, when it initialises.
pub const OPT_OUT_VARIABLE: &str = "ORT_DISABLE_TELEMETRY";

/// Turns ONNX Runtime's telemetry off for this process.
///
/// Call it at the top of `main`, before other threads start and before the library loads:
/// changing the environment races with threads that read it, and ONNX Runtime reads it only once.
pub fn opt_out() {
    if !is_opted_out() {
        std::env::set_var(OPT_OUT_VARIABLE, "1");
    }
}

/// Whether this process has opted out.
pub fn is_opted_out() -> bool {
    std::env::var(OPT_OUT_VARIABLE).is_ok_and(|v| v.trim() == "1")
}
