//! The server configuration's `[ort]` section (flags `--ort-*`, variables `OUTPOST_ORT_*`):
//! which ONNX Runtime library to load ([`OrtLibraryFlavour`] narrows the search to one build of
//! the project cache), its telemetry, and its shared CPU arena.

use std::path::PathBuf;

use outpost_settings::settings_section;
use serde::{Deserialize, Serialize};

use crate::execution_provider::ExecutionProviderKind;

/// Which ONNX Runtime build the server loads from the project cache, where
/// `scripts/fetch-onnxruntime.sh` puts each build in a folder of its own
/// (`.cache/onnxruntime/{cpu,gpu,openvino}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrtLibraryFlavour {
    /// The whole search order: next to the executable, the cache's GPU build, then its CPU
    /// build, then its OpenVINO build, then the system's library folders.
    #[default]
    Auto,
    /// The cache's CPU build, nothing else.
    Cpu,
    /// The cache's CUDA and TensorRT build, nothing else.
    Gpu,
    /// The cache's OpenVINO build, nothing else.
    Openvino,
}

impl OrtLibraryFlavour {
    /// The project cache's folders to look in, in order.
    pub fn cache_folders(self) -> &'static [&'static str] {
        match self {
            OrtLibraryFlavour::Auto => &["gpu", "cpu", "openvino"],
            OrtLibraryFlavour::Cpu => &["cpu"],
            OrtLibraryFlavour::Gpu => &["gpu"],
            OrtLibraryFlavour::Openvino => &["openvino"],
        }
    }

    /// The build that carries `provider`: the GPU build CUDA's and TensorRT's, the OpenVINO
    /// build OpenVINO's, the CPU build the CPU provider; for a provider no pinned build carries,
    /// the whole search order (a library the user installed).
    pub fn carrying(provider: ExecutionProviderKind) -> OrtLibraryFlavour {
        match provider {
            ExecutionProviderKind::Cpu => OrtLibraryFlavour::Cpu,
            ExecutionProviderKind::Cuda | ExecutionProviderKind::TensorRt => OrtLibraryFlavour::Gpu,
            ExecutionProviderKind::OpenVino => OrtLibraryFlavour::Openvino,
            _ => OrtLibraryFlavour::Auto,
        }
    }

    /// Whether a library outside the project cache (next to the executable, in the system's
    /// folders) may be loaded: only when no flavour was chosen.
    pub fn searches_beyond_the_cache(self) -> bool {
        self == OrtLibraryFlavour::Auto
    }
}

impl std::str::FromStr for OrtLibraryFlavour {
    type Err = outpost_settings::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(OrtLibraryFlavour::Auto),
            "cpu" => Ok(OrtLibraryFlavour::Cpu),
            "gpu" => Ok(OrtLibraryFlavour::Gpu),
            "openvino" => Ok(OrtLibraryFlavour::Openvino),
            other => Err(outpost_settings::UnknownChoice {
                what: "ONNX Runtime flavour",
                value: other.to_string(),
                expected: "auto, cpu, gpu or openvino",
            }),
        }
    }
}

impl std::fmt::Display for OrtLibraryFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OrtLibraryFlavour::Auto => "auto",
            OrtLibraryFlavour::Cpu => "cpu",
            OrtLibraryFlavour::Gpu => "gpu",
            OrtLibraryFlavour::Openvino => "openvino",
        })
    }
}

outpost_settings::setting_value_from_str!(OrtLibraryFlavour);

settings_section! {
    /// `[ort]`: the ONNX Runtime library and its shared CPU arena.
    #[derive(Debug)]
    pub struct OrtSettings {
        /// Path to libonnxruntime.so.
        library_path: Option<PathBuf> = None, flag "ort-library",
            shown "the search order in docs/configuration.md";
        /// Which build to load from the project cache when no path is given: auto (the whole
        /// search order), cpu, gpu or openvino (that folder of .cache/onnxruntime alone).
        flavour: OrtLibraryFlavour = OrtLibraryFlavour::Auto, flag "ort-flavour";
        /// Let ONNX Runtime upload usage telemetry to Microsoft. Off by default: the server then
        /// sets `ORT_DISABLE_TELEMETRY=1` before the library loads.
        telemetry: bool = false, flag "ort-telemetry";
        /// Most bytes of freed memory the shared CPU arena keeps for reuse.
        cpu_arena_max_kept_bytes: Option<u64> = None,
            shown "a quarter of the memory budget, else 256 MiB";
        /// The arena hands its free memory back to the system after this many milliseconds
        /// without an allocation.
        cpu_arena_idle_release_ms: u64 = 1000;
    }
}
