//! The outbox's records, from the answer to the uploaded batch: records (JSON objects, as the
//! engine writes them, holding what clients sent: ids, names, BYTES elements, photos) are
//! appended to a real store (SQLite, in a temporary folder), taken as batches under small
//! bounds, encoded as uploaded, decoded as a consumer reads them, and confirmed. The input is
//! the records separated by 0xFF bytes (never inside UTF-8 text); a part that is not a JSON
//! object, or that has a `seq` of its own (the engine's never do), is left out. What must
//! hold: no panic; every record comes back exactly once, in order, as the same object with its
//! `seq`; batches keep their bounds; the store is empty at the end.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use outpost_outbox::batch_format::{decode_batch, encode_batch};
use outpost_outbox::store::{Bounds, OutboxStore, Record};
use serde_json::{Map, Value};

const MAX_RECORDS: usize = 3;
const MAX_BYTES: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let records: Vec<(String, Map<String, Value>)> = data
        .split(|&b| b == 0xFF)
        .filter_map(|part| std::str::from_utf8(part).ok())
        .filter_map(|text| match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) if !object.contains_key("seq") => {
                Some((text.to_string(), object))
            }
            _ => None,
        })
        .collect();
    if records.is_empty() {
        return;
    }
    let folder = tempfile::tempdir().expect("a temporary folder");
    let bounds = Bounds {
        max_bytes: 64 << 20,
        max_age: Duration::from_secs(3600),
    };
    let mut store = OutboxStore::open(&folder.path().join("outbox.db"), bounds).expect("a store");
    let at_ms = 1_764_633_600_000;
    let appended: Vec<Record> = records
        .iter()
        .map(|(json, _)| Record {
            at_ms,
            json: json.clone(),
        })
        .collect();
    assert_eq!(store.append(&appended, at_ms).expect("appended"), 0, "nothing dropped");

    let mut back: Vec<Map<String, Value>> = Vec::new();
    while let Some(batch) = store.next_batch(MAX_RECORDS, MAX_BYTES).expect("a batch") {
        assert!(!batch.records.is_empty() && batch.records.len() <= MAX_RECORDS);
        let bytes: usize = batch.records.iter().map(|(_, json)| json.len()).sum();
        assert!(batch.records.len() == 1 || bytes <= MAX_BYTES, "a batch over its bounds");
        let encoded = encode_batch(&batch).expect("encoded");
        let decoded = decode_batch(&encoded, 1 << 30).expect("an uploaded batch reads back");
        assert_eq!(decoded.len(), batch.records.len(), "one line per record");
        for (object, (seq, _)) in decoded.iter().zip(&batch.records) {
            assert_eq!(object["seq"], Value::from(*seq));
        }
        back.extend(decoded);
        store.confirm(&batch).expect("confirmed");
        assert!(back.len() <= records.len(), "a record came back twice");
    }
    assert_eq!(back.len(), records.len(), "every record comes back");
    for (mut object, (_, original)) in back.into_iter().zip(&records) {
        object.remove("seq");
        assert_eq!(&object, original, "a record came back changed");
    }
    assert_eq!(store.backlog().expect("the backlog").records, 0);
});
