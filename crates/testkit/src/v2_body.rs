//! V2 infer request bodies with the binary tensor extension, as a client sends them: a JSON
//! header naming each input's `binary_data_size`, then the tensors' little-endian bytes.

use outpost_core::NamedTensor;
use serde_json::json;

/// A binary-extension body for `inputs` and the length of its JSON header (the
/// `Inference-Header-Content-Length` value). Outputs come back binary: the ones named in
/// `outputs`, or all of them when it is empty.
pub fn binary_infer_body(inputs: &[NamedTensor], outputs: &[&str]) -> (Vec<u8>, usize) {
    let mut header = json!({
        "inputs": inputs.iter().map(|input| json!({
            "name": input.name,
            "shape": input.tensor.shape(),
            "datatype": input.tensor.datatype().as_str(),
            "parameters": {"binary_data_size": input.tensor.data().byte_len()},
        })).collect::<Vec<_>>(),
        "parameters": {"binary_data_output": true},
    });
    if !outputs.is_empty() {
        header["outputs"] = outputs
            .iter()
            .map(|name| json!({"name": name, "parameters": {"binary_data": true}}))
            .collect();
    }
    let mut body = serde_json::to_vec(&header).expect("a JSON value serialises");
    let json_length = body.len();
    for input in inputs {
        input.tensor.data().write_le_bytes(&mut body);
    }
    (body, json_length)
}
