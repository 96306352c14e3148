//! An ONNX `TensorProto` (`.pb`), as golden cases and test data carry their tensors. What must
//! hold: no panic, no allocation the bytes do not pay for (the run's memory limit), and a tensor
//! read is as long as its shape says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_bundle::read_tensor;

fuzz_target!(|data: &[u8]| {
    let Ok((_name, tensor)) = read_tensor(data) else {
        return;
    };
    let elements = tensor
        .shape()
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .expect("a tensor's element count fits in usize");
    assert_eq!(tensor.data().len(), elements);
});
