//! The camera endpoint's `multipart/form-data` body. The input is the `Content-Type` header's
//! value, a line break, then the body. What must hold: no panic; an image taken from a form is
//! never longer than the body it came from, and its media type is in lower case without
//! parameters. The same bytes are also sent as the file of a well-formed form (a note part
//! first, then the file, as `curl -F` and Home Assistant send them): the image read back is
//! exactly those bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use outpost_protocol::camera_form::{first_file, FormError};

/// A boundary that does not occur in `data`, made from the data's length and a counter.
fn boundary_for(data: &[u8]) -> String {
    (0u32..)
        .map(|n| format!("----outpost{}x{n}", data.len()))
        .find(|b| !data.windows(b.len()).any(|w| w == b.as_bytes()))
        .expect("some boundary is free")
}

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    if let Ok(content_type) = std::str::from_utf8(header) {
        match first_file(content_type, Bytes::copy_from_slice(body)) {
            Ok(file) => {
                assert!(file.bytes.len() <= body.len(), "the image outgrew its body");
                if let Some(media_type) = &file.media_type {
                    assert!(!media_type.contains(';'), "{media_type:?} keeps its parameters");
                    assert_eq!(media_type, &media_type.to_ascii_lowercase());
                }
            }
            Err(FormError::Invalid(_) | FormError::NoFile) => {}
        }
    }

    let boundary = boundary_for(data);
    let mut form = Vec::with_capacity(data.len() + 4 * boundary.len() + 256);
    form.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nfront door\r\n").as_bytes());
    form.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"snapshot.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
    form.extend_from_slice(data);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let file = first_file(&content_type, Bytes::from(form)).expect("a well-formed form is read");
    assert_eq!(&file.bytes[..], data, "the form's file came back changed");
    assert_eq!(file.media_type.as_deref(), Some("image/jpeg"));
});
