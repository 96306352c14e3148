//! The uploaded batch's format: one JSON object per line (JSON Lines), each record's object
//! with its `seq` put first, the whole compressed with zstd. [`encode_batch`] writes it;
//! [`decode_batch`] reads it back as a consumer does.

use serde_json::{Map, Value};

use crate::store::Batch;

/// The batch as uploaded: JSON lines, each record with its `seq` first, zstd-compressed.
///
/// Each record is a JSON object without a `seq` of its own (the server's records are). Its
/// text is kept as it is, spliced after the `seq`; line breaks, which a JSON object can only
/// hold as whitespace between tokens, become spaces, so that every record stays on its line.
pub fn encode_batch(batch: &Batch) -> Result<Vec<u8>, std::io::Error> {
    let mut lines = Vec::with_capacity(batch.records.iter().map(|(_, j)| j.len() + 24).sum());
    for (seq, json) in &batch.records {
        lines.extend_from_slice(format!("{{\"seq\":{seq}").as_bytes());
        match json.trim_start().strip_prefix('{') {
            Some(rest) if rest.trim_start().starts_with('}') => lines.extend_from_slice(b"}"),
            Some(rest) => {
                lines.push(b',');
                let rest = rest.trim_end();
                let start = lines.len();
                lines.extend_from_slice(rest.as_bytes());
                for byte in &mut lines[start..] {
                    if matches!(*byte, b'\n' | b'\r') {
                        *byte = b' ';
                    }
                }
            }
            None => lines.extend_from_slice(b"}"),
        }
        lines.push(b'\n');
    }
    zstd::bulk::compress(&lines, 3)
}

/// Why an uploaded batch cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BatchFormatError {
    /// The zstd frame is damaged, or larger than allowed once decompressed.
    #[error("decompressing the batch: {0}")]
    Compression(std::io::Error),
    /// A line is not a JSON object.
    #[error("line {line}: {message}")]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// An uploaded batch's records, each a JSON object with its `seq`, in order; at most
/// `max_bytes` once decompressed.
pub fn decode_batch(
    compressed: &[u8],
    max_bytes: usize,
) -> Result<Vec<Map<String, Value>>, BatchFormatError> {
    let lines =
        zstd::bulk::decompress(compressed, max_bytes).map_err(BatchFormatError::Compression)?;
    lines
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            let fail = |message: String| BatchFormatError::Line {
                line: index + 1,
                message,
            };
            match serde_json::from_slice::<Value>(line) {
                Ok(Value::Object(object)) => Ok(object),
                Ok(_) => Err(fail("not a JSON object".into())),
                Err(e) => Err(fail(e.to_string())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(records: &[&str]) -> Batch {
        Batch {
            first: 7,
            last: 6 + records.len() as i64,
            first_at_ms: 0,
            records: (7..).zip(records.iter().map(ToString::to_string)).collect(),
        }
    }

    #[test]
    fn each_record_is_one_line_with_its_seq_first() {
        let encoded = encode_batch(&batch(&["{\"a\":1}", "{}"])).unwrap();
        let lines = zstd::bulk::decompress(&encoded, 1 << 20).unwrap();
        assert_eq!(
            String::from_utf8(lines).unwrap(),
            "{\"seq\":7,\"a\":1}\n{\"seq\":8}\n"
        );
        let decoded = decode_batch(&encoded, 1 << 20).unwrap();
        assert_eq!(decoded[0]["seq"], 7);
        assert_eq!(decoded[0]["a"], 1);
    }

    #[test]
    fn a_record_with_whitespace_around_or_line_breaks_inside_keeps_its_line_and_fields() {
        // Before: leading whitespace lost the record's fields, and a line break inside one
        // split it over two lines.
        let records = [" \n{\"a\": 1,\r\n \"b\": \"x\\ny\"}\n", "\t{ }  "];
        let decoded = decode_batch(&encode_batch(&batch(&records)).unwrap(), 1 << 20).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0]["seq"], 7);
        assert_eq!(decoded[0]["a"], 1);
        assert_eq!(decoded[0]["b"], "x\ny");
        assert_eq!(decoded[1].len(), 1);
    }

    #[test]
    fn a_damaged_or_oversized_batch_is_refused() {
        let encoded = encode_batch(&batch(&["{\"a\":1}"])).unwrap();
        assert!(decode_batch(&encoded[..encoded.len() - 2], 1 << 20).is_err());
        assert!(decode_batch(&encoded, 4).is_err());
    }
}
