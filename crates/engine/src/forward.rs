//! The outbox records of answered requests, for models with `forward` set: when, which model
//! and version answered, who answered (local or upstream), the request's id, and the outputs
//! (V2 requests: each tensor's name, datatype, shape and elements) or the classes or boxes
//! (camera endpoint); with `results_and_inputs` also the inputs (each tensor's bytes, base64)
//! or the photo. The records go to the server's [`outpost_core::RecordSink`] (the outbox).

use base64::Engine as _;
use outpost_core::{InferResponse, NamedTensor, TensorData};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::images::ImageAnswer;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `at_ms` as an RFC 3339 time in UTC.
fn timestamp(at_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(at_ms).map_or_else(|_| at_ms.to_string(), |t| t.to_string())
}

/// A tensor's elements, serialized straight from their storage as a JSON array (BYTES
/// elements as base64 strings).
struct Elements<'a>(&'a TensorData);

impl Serialize for Elements<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            TensorData::Bool(v) => v.serialize(serializer),
            TensorData::Uint8(v) => v.serialize(serializer),
            TensorData::Uint16(v) => v.serialize(serializer),
            TensorData::Uint32(v) => v.serialize(serializer),
            TensorData::Uint64(v) => v.serialize(serializer),
            TensorData::Int8(v) => v.serialize(serializer),
            TensorData::Int16(v) => v.serialize(serializer),
            TensorData::Int32(v) => v.serialize(serializer),
            TensorData::Int64(v) => v.serialize(serializer),
            TensorData::Fp32(v) => v.serialize(serializer),
            TensorData::Fp64(v) => v.serialize(serializer),
            TensorData::Fp16(v) => serializer.collect_seq(v.iter().map(|x| x.to_f32())),
            TensorData::Bf16(v) => serializer.collect_seq(v.iter().map(|x| x.to_f32())),
            TensorData::Bytes(v) => serializer.collect_seq(
                v.iter()
                    .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            ),
        }
    }
}

#[derive(Serialize)]
struct OutputRecord<'a> {
    name: &'a str,
    datatype: String,
    shape: &'a [usize],
    data: Elements<'a>,
}

#[derive(Serialize)]
struct AnswerRecord<'a> {
    time: String,
    model: &'a str,
    version: &'a str,
    served_by: &'static str,
    id: Option<&'a str>,
    outputs: Vec<OutputRecord<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<Value>,
}

/// The inputs as kept with `results_and_inputs`: each tensor's little-endian bytes, base64.
pub(crate) fn inputs(inputs: &[NamedTensor]) -> Value {
    Value::Array(
        inputs
            .iter()
            .map(|input| {
                json!({
                    "name": input.name,
                    "datatype": input.tensor.datatype().to_string(),
                    "shape": input.tensor.shape(),
                    "data_base64": base64::engine::general_purpose::STANDARD
                        .encode(input.tensor.data().to_le_bytes()),
                })
            })
            .collect(),
    )
}

/// The record of a V2 answer.
pub(crate) fn record(response: &InferResponse, at_ms: i64, inputs: Option<Value>) -> String {
    let record = AnswerRecord {
        time: timestamp(at_ms),
        model: &response.model_name,
        version: &response.model_version,
        served_by: response.served_by.as_str(),
        id: response.id.as_deref(),
        outputs: response
            .outputs
            .iter()
            .map(|output| OutputRecord {
                name: &output.name,
                datatype: output.tensor.datatype().to_string(),
                shape: output.tensor.shape(),
                data: Elements(output.tensor.data()),
            })
            .collect(),
        inputs,
    };
    // Only strings, numbers and arrays: serializing cannot fail.
    serde_json::to_string(&record).unwrap_or_default()
}

/// The record of a camera answer: the classes or boxes, and with `photo` the photo itself.
pub(crate) fn image_record(answer: &ImageAnswer, at_ms: i64, photo: Option<&[u8]>) -> String {
    let mut record = json!({
        "time": timestamp(at_ms),
        "model": answer.model_name,
        "version": answer.model_version,
        "served_by": answer.served_by.as_str(),
        "endpoint": "image",
        "image": {"width": answer.image.width, "height": answer.image.height},
    });
    if let (Value::Object(fields), Ok(Value::Object(found))) =
        (&mut record, serde_json::to_value(&answer.answer))
    {
        fields.extend(found);
    }
    if let Some(photo) = photo {
        record["photo_base64"] = base64::engine::general_purpose::STANDARD
            .encode(photo)
            .into();
    }
    record.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::{ServedBy, Tensor};

    #[test]
    fn a_record_names_who_answered_and_holds_the_outputs() {
        let response = InferResponse {
            model_name: "classifier".into(),
            model_version: "2".into(),
            id: Some("frame-9".into()),
            outputs: vec![NamedTensor::new(
                "p",
                Tensor::new(vec![1, 2], TensorData::Fp32(vec![0.25, 0.75])).unwrap(),
            )],
            served_by: ServedBy::Upstream,
        };
        let input = NamedTensor::new(
            "x",
            Tensor::new(vec![2], TensorData::Uint8(vec![1, 2])).unwrap(),
        );
        let text = record(&response, 1_764_633_600_000, Some(inputs(&[input])));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["served_by"], "upstream");
        assert_eq!(value["id"], "frame-9");
        assert_eq!(value["time"], "2025-12-02T00:00:00Z");
        assert_eq!(value["outputs"][0]["data"], json!([0.25, 0.75]));
        assert_eq!(value["inputs"][0]["data_base64"], "AQI=");
    }
}
