//! What the fuzz targets share: the limits they decode under (smaller than the server's
//! defaults, so that each run stays fast; the checks are the same) and the comparisons that
//! say two requests carry the same tensors, bit for bit (NaN included).

use outpost_core::tensor::element_count;
use outpost_core::{InferRequest, NamedTensor, Tensor};
use outpost_protocol::DecodeLimits;

/// The decode limits every request target uses.
pub const LIMITS: DecodeLimits = DecodeLimits {
    max_elements_per_tensor: 1 << 20,
};

/// A tensor as its name, datatype, shape and little-endian bytes.
pub fn tensor_bits(tensor: &NamedTensor) -> (String, String, Vec<usize>, Vec<u8>) {
    let mut bytes = Vec::new();
    tensor.tensor.data().write_le_bytes(&mut bytes);
    (
        tensor.name.clone(),
        tensor.tensor.datatype().to_string(),
        tensor.tensor.shape().to_vec(),
        bytes,
    )
}

/// Asserts that `a` and `b` carry the same inputs, bit for bit.
pub fn assert_same_inputs(a: &InferRequest, b: &InferRequest) {
    let a_inputs: Vec<_> = a.inputs.iter().map(tensor_bits).collect();
    let b_inputs: Vec<_> = b.inputs.iter().map(tensor_bits).collect();
    assert_eq!(
        a_inputs, b_inputs,
        "the re-encoded request carries other tensors"
    );
}

/// Asserts that `tensor` is as long as its shape says, and returns that length.
pub fn assert_shaped(name: &str, tensor: &Tensor) -> usize {
    let elements = element_count(tensor.shape())
        .unwrap_or_else(|| panic!("'{name}': a decoded shape's element count fits in usize"));
    assert_eq!(tensor.data().len(), elements, "'{name}'");
    elements
}

/// Asserts what every decoded request must respect: no tensor over the element limit, and
/// each tensor's data as long as its shape.
pub fn assert_within_limits(request: &InferRequest) {
    for input in &request.inputs {
        let elements = assert_shaped(&input.name, &input.tensor);
        assert!(
            elements <= LIMITS.max_elements_per_tensor,
            "input '{}' has {elements} elements, over the limit",
            input.name
        );
    }
}
