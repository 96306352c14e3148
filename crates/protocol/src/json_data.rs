//! Converting the JSON `data` of a tensor (flat or nested, row-major) to typed elements and back.

use half::{bf16, f16};
use outpost_core::{DataType, TensorData};
use serde_json::{Number, Value};

/// Flattens nested arrays into their leaves, in row-major order, without recursion.
fn leaves(data: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            leaf => out.push(leaf),
        }
    }
    out
}

fn expect_int<T: TryFrom<i64> + TryFrom<u64>>(v: &Value, datatype: DataType) -> Result<T, String> {
    let parsed = match v {
        Value::Number(n) if n.is_i64() => n.as_i64().and_then(|x| T::try_from(x).ok()),
        Value::Number(n) if n.is_u64() => n.as_u64().and_then(|x| T::try_from(x).ok()),
        _ => None,
    };
    parsed.ok_or_else(|| format!("{v} is not a valid {datatype} value"))
}

fn expect_float(v: &Value, datatype: DataType) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("{v} is not a valid {datatype} value"))
}

/// Converts `data` to elements of `datatype`. Returns the elements or a message for the caller.
pub(crate) fn from_json(data: &Value, datatype: DataType) -> Result<TensorData, String> {
    let values = leaves(data);
    macro_rules! ints {
        ($variant:ident) => {
            TensorData::$variant(
                values
                    .iter()
                    .map(|v| expect_int(v, datatype))
                    .collect::<Result<_, _>>()?,
            )
        };
    }
    macro_rules! floats {
        ($variant:ident, $convert:expr) => {
            TensorData::$variant(
                values
                    .iter()
                    .map(|v| expect_float(v, datatype).map($convert))
                    .collect::<Result<_, _>>()?,
            )
        };
    }
    Ok(match datatype {
        DataType::Bool => TensorData::Bool(
            values
                .iter()
                .map(|v| {
                    v.as_bool()
                        .ok_or_else(|| format!("{v} is not a valid BOOL value"))
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::Uint8 => ints!(Uint8),
        DataType::Uint16 => ints!(Uint16),
        DataType::Uint32 => ints!(Uint32),
        DataType::Uint64 => ints!(Uint64),
        DataType::Int8 => ints!(Int8),
        DataType::Int16 => ints!(Int16),
        DataType::Int32 => ints!(Int32),
        DataType::Int64 => ints!(Int64),
        DataType::Fp16 => floats!(Fp16, f16::from_f64),
        DataType::Bf16 => floats!(Bf16, bf16::from_f64),
        DataType::Fp32 => floats!(Fp32, |x| x as f32),
        DataType::Fp64 => floats!(Fp64, |x| x),
        DataType::Bytes => TensorData::Bytes(
            values
                .iter()
                .map(|v| {
                    v.as_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| {
                        format!("{v} is not a string; BYTES elements are JSON strings")
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn float(x: f64) -> Value {
    Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Converts elements to a flat JSON array. Non-finite floats become `null`; BYTES become
/// strings (invalid UTF-8 is replaced, as JSON cannot carry raw bytes: ask for binary output).
pub(crate) fn to_json(data: &TensorData) -> Value {
    let items: Vec<Value> = match data {
        TensorData::Bool(v) => v.iter().map(|x| Value::Bool(*x)).collect(),
        TensorData::Uint8(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Uint16(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Uint32(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Uint64(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Int8(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Int16(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Int32(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Int64(v) => v.iter().map(|x| Value::from(*x)).collect(),
        TensorData::Fp16(v) => v.iter().map(|x| float(x.to_f64())).collect(),
        TensorData::Bf16(v) => v.iter().map(|x| float(x.to_f64())).collect(),
        TensorData::Fp32(v) => v.iter().map(|x| float(f64::from(*x))).collect(),
        TensorData::Fp64(v) => v.iter().map(|x| float(*x)).collect(),
        TensorData::Bytes(v) => v
            .iter()
            .map(|b| Value::String(String::from_utf8_lossy(b).into_owned()))
            .collect(),
    };
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_and_nested_data_agree() {
        let flat = from_json(&json!([1, 2, 3, 4]), DataType::Int32).unwrap();
        let nested = from_json(&json!([[1, 2], [3, 4]]), DataType::Int32).unwrap();
        assert_eq!(flat, nested);
        assert_eq!(flat, TensorData::Int32(vec![1, 2, 3, 4]));
    }

    #[test]
    fn range_and_type_errors() {
        assert!(from_json(&json!([256]), DataType::Uint8).is_err());
        assert!(from_json(&json!([-1]), DataType::Uint32).is_err());
        assert!(from_json(&json!([1.5]), DataType::Int64).is_err());
        assert!(from_json(&json!(["a"]), DataType::Fp32).is_err());
        assert!(from_json(&json!([1]), DataType::Bool).is_err());
        assert!(from_json(&json!([1]), DataType::Bytes).is_err());
        assert_eq!(
            from_json(&json!([-128, 127]), DataType::Int8).unwrap(),
            TensorData::Int8(vec![-128, 127])
        );
        assert_eq!(
            from_json(&json!([1, 0.5]), DataType::Fp32).unwrap(),
            TensorData::Fp32(vec![1.0, 0.5])
        );
    }

    #[test]
    fn round_trips_through_json() {
        for data in [
            TensorData::Bool(vec![true, false]),
            TensorData::Uint64(vec![u64::MAX]),
            TensorData::Int64(vec![i64::MIN]),
            TensorData::Fp16(vec![f16::from_f32(0.5)]),
            TensorData::Fp32(vec![0.25, -3.0]),
            TensorData::Bytes(vec![b"hello".to_vec()]),
        ] {
            assert_eq!(from_json(&to_json(&data), data.datatype()).unwrap(), data);
        }
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut v = json!(1);
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(
            from_json(&v, DataType::Int32).unwrap(),
            TensorData::Int32(vec![1])
        );
        // Dropping a deeply nested Value recurses inside serde_json; leak it on purpose in this test.
        std::mem::forget(v);
    }
}
