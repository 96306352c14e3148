//! Converting the JSON `data` of a tensor (flat or nested, row-major) to typed elements and back.

use std::fmt;

use half::{bf16, f16};
use outpost_core::{DataType, TensorData};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// How one element type is read from a JSON scalar; `None` means the scalar does not fit.
trait JsonElement: Sized {
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_str(_: &str) -> Option<Self> {
        None
    }
}

macro_rules! json_ints {
    ($($t:ty),*) => {$(
        impl JsonElement for $t {
            fn from_i64(x: i64) -> Option<Self> {
                <$t>::try_from(x).ok()
            }
            fn from_u64(x: u64) -> Option<Self> {
                <$t>::try_from(x).ok()
            }
        }
    )*};
}
json_ints!(u8, u16, u32, u64, i8, i16, i32, i64);

macro_rules! json_floats {
    ($($t:ty => $convert:expr),*) => {$(
        impl JsonElement for $t {
            fn from_i64(x: i64) -> Option<Self> {
                Some($convert(x as f64))
            }
            fn from_u64(x: u64) -> Option<Self> {
                Some($convert(x as f64))
            }
            fn from_f64(x: f64) -> Option<Self> {
                Some($convert(x))
            }
        }
    )*};
}
json_floats!(f16 => f16::from_f64, bf16 => bf16::from_f64, f32 => |x: f64| x as f32, f64 => |x: f64| x);

impl JsonElement for bool {
    fn from_bool(x: bool) -> Option<Self> {
        Some(x)
    }
}

/// BYTES elements are JSON strings.
impl JsonElement for Vec<u8> {
    fn from_str(x: &str) -> Option<Self> {
        Some(x.as_bytes().to_vec())
    }
}

/// Appends the leaves of a JSON value (a scalar, or arrays nested to any depth), in row-major
/// order, to `out`. Nesting depth is bounded by serde_json's recursion limit.
struct Leaves<'v, T> {
    out: &'v mut Vec<T>,
    datatype: DataType,
}

impl<T> Leaves<'_, T> {
    fn push<E: de::Error>(self, value: Option<T>, shown: impl fmt::Display) -> Result<(), E> {
        match value {
            Some(v) => {
                self.out.push(v);
                Ok(())
            }
            None => Err(E::custom(format!(
                "{shown} is not a valid {} value{}",
                self.datatype,
                if self.datatype == DataType::Bytes {
                    " (BYTES elements are JSON strings)"
                } else {
                    ""
                }
            ))),
        }
    }
}

impl<'de, T: JsonElement> DeserializeSeed<'de> for Leaves<'_, T> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: JsonElement> Visitor<'de> for Leaves<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} values, flat or in nested arrays", self.datatype)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Leaves { out, datatype } = self;
        while seq
            .next_element_seed(Leaves {
                out: &mut *out,
                datatype,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.push(T::from_bool(v), v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.push(T::from_i64(v), v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.push(T::from_u64(v), v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.push(T::from_f64(v), v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.push(T::from_str(v), format_args!("{v:?}"))
    }
}

/// Parses the leaves of `text` as elements of one type. `expected` (the shape's element count)
/// only sizes the first allocation, and never beyond what the text could hold.
fn parse_leaves<T: JsonElement>(
    text: &str,
    datatype: DataType,
    expected: usize,
) -> Result<Vec<T>, String> {
    let mut out = Vec::with_capacity(expected.min(text.len() / 2 + 1));
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Leaves {
        out: &mut out,
        datatype,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(|e| {
        // Positions would point into the `data` text, not the request body: leave them out.
        let message = e.to_string();
        match message.rsplit_once(" at line ") {
            Some((head, _)) => head.to_string(),
            None => message,
        }
    })?;
    Ok(out)
}

/// Converts the JSON `data` of a tensor to elements of `datatype`, parsing its text straight
/// into typed storage. Returns the elements or a message for the caller.
pub(crate) fn from_json(
    data: &RawValue,
    datatype: DataType,
    expected: usize,
) -> Result<TensorData, String> {
    let text = data.get();
    Ok(match datatype {
        DataType::Bool => TensorData::Bool(parse_leaves(text, datatype, expected)?),
        DataType::Uint8 => TensorData::Uint8(parse_leaves(text, datatype, expected)?),
        DataType::Uint16 => TensorData::Uint16(parse_leaves(text, datatype, expected)?),
        DataType::Uint32 => TensorData::Uint32(parse_leaves(text, datatype, expected)?),
        DataType::Uint64 => TensorData::Uint64(parse_leaves(text, datatype, expected)?),
        DataType::Int8 => TensorData::Int8(parse_leaves(text, datatype, expected)?),
        DataType::Int16 => TensorData::Int16(parse_leaves(text, datatype, expected)?),
        DataType::Int32 => TensorData::Int32(parse_leaves(text, datatype, expected)?),
        DataType::Int64 => TensorData::Int64(parse_leaves(text, datatype, expected)?),
        DataType::Fp16 => TensorData::Fp16(parse_leaves(text, datatype, expected)?),
        DataType::Bf16 => TensorData::Bf16(parse_leaves(text, datatype, expected)?),
        DataType::Fp32 => TensorData::Fp32(parse_leaves(text, datatype, expected)?),
        DataType::Fp64 => TensorData::Fp64(parse_leaves(text, datatype, expected)?),
        DataType::Bytes => TensorData::Bytes(parse_leaves(text, datatype, expected)?),
    })
}

fn float(x: f64) -> Value {
    Number::from_f64(x).map_or(Value::Null, Value::Number)
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

    fn from_value(value: &Value, datatype: DataType) -> Result<TensorData, String> {
        let raw = RawValue::from_string(value.to_string()).unwrap();
        from_json(&raw, datatype, 0)
    }

    #[test]
    fn flat_and_nested_data_agree() {
        let flat = from_value(&json!([1, 2, 3, 4]), DataType::Int32).unwrap();
        let nested = from_value(&json!([[1, 2], [3, 4]]), DataType::Int32).unwrap();
        assert_eq!(flat, nested);
        assert_eq!(flat, TensorData::Int32(vec![1, 2, 3, 4]));
        assert_eq!(
            from_value(&json!(7), DataType::Int64).unwrap(),
            TensorData::Int64(vec![7])
        );
    }

    #[test]
    fn range_and_type_errors() {
        let error = |value: Value, datatype| from_value(&value, datatype).unwrap_err();
        assert_eq!(
            error(json!([1, 256]), DataType::Uint8),
            "256 is not a valid UINT8 value"
        );
        assert!(error(json!([-1]), DataType::Uint32).contains("-1 is not a valid UINT32"));
        assert!(error(json!([1.5]), DataType::Int64).contains("1.5 is not a valid INT64"));
        assert!(error(json!(["a"]), DataType::Fp32).contains("\"a\" is not a valid FP32"));
        assert!(error(json!([1]), DataType::Bool).contains("1 is not a valid BOOL"));
        assert!(error(json!([1]), DataType::Bytes).contains("JSON strings"));
        assert!(error(json!([null]), DataType::Fp32).contains("FP32 values"));
        assert!(error(json!([{"a": 1}]), DataType::Fp32).contains("FP32 values"));
        assert_eq!(
            from_value(&json!([-128, 127]), DataType::Int8).unwrap(),
            TensorData::Int8(vec![-128, 127])
        );
        assert_eq!(
            from_value(&json!([1, 0.5]), DataType::Fp32).unwrap(),
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
            TensorData::Bf16(vec![bf16::from_f32(-2.0)]),
            TensorData::Fp32(vec![0.25, -3.0]),
            TensorData::Fp64(vec![std::f64::consts::E]),
            TensorData::Bytes(vec![b"hello".to_vec(), b"\"q\"".to_vec()]),
        ] {
            assert_eq!(from_value(&to_json(&data), data.datatype()).unwrap(), data);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_leaves::<i32>(&text, DataType::Int32, 0).is_err());
        let shallow = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            parse_leaves::<i32>(&shallow, DataType::Int32, 0).unwrap(),
            vec![1]
        );
    }
}
