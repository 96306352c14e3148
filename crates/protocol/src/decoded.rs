//! What decoding a request yields, whichever codec did it (JSON, binary, streaming, gRPC): the
//! request, how its answer is to be encoded, and the limits checked on the way.

use std::collections::HashMap;

use outpost_core::InferRequest;

/// Limits applied while decoding, before any tensor memory is allocated.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// The most elements one tensor may declare.
    pub max_elements_per_tensor: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_elements_per_tensor: 64 * 1024 * 1024,
        }
    }
}

/// Which outputs the caller wants in binary form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputEncoding {
    /// `parameters.binary_data_output` of the request.
    pub binary_by_default: bool,
    /// `parameters.binary_data` of individual outputs.
    pub per_output: HashMap<String, bool>,
}

impl OutputEncoding {
    /// Whether `output` is answered as binary data.
    pub fn is_binary(&self, output: &str) -> bool {
        self.per_output
            .get(output)
            .copied()
            .unwrap_or(self.binary_by_default)
    }
}

/// A decoded request and how to encode its answer.
#[derive(Debug)]
pub struct DecodedInfer {
    /// The request.
    pub request: InferRequest,
    /// How to encode its answer.
    pub output_encoding: OutputEncoding,
}
