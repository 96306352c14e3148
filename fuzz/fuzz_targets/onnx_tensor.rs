//! An ONNX `TensorProto` (`.pb`), as golden cases and test data carry their tensors. What must
//! hold: no panic, no allocation the bytes do not pay for (the run's memory limit), and a tensor
//! read is as long as its shape says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_bundle::read_tensor;
use outpost_fuzz::assert_shaped;

fuzz_target!(|data: &[u8]| {
    let Ok((name, tensor)) = read_tensor(data) else {
        return;
    };
    assert_shaped(&name, &tensor);
});
