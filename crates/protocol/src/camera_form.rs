//! The camera endpoint's `multipart/form-data` body (what Home Assistant, NVRs and `curl -F`
//! send): the image is the form's first file part, a part with a file name or one named `image`
//! or `file`; other parts before it are skipped. Parsed with multer from the whole body, which
//! the server has already read within its limits, so parsing never waits on the network.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use thiserror::Error;

/// The form's first file part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormFile {
    /// The part's bytes, as sent.
    pub bytes: Bytes,
    /// The part's media type without parameters, in lower case, when it names one.
    pub media_type: Option<String>,
}

/// Why a form gives no image.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormError {
    /// The content type names no boundary, or the body is not a well-formed form.
    #[error("invalid multipart form: {0}")]
    Invalid(String),
    /// The form holds no file part.
    #[error("the form has no file part (name it 'image')")]
    NoFile,
}

/// Whether a part carries the image: it has a file name, or is named `image` or `file`.
fn is_file_part(field: &multer::Field<'_>) -> bool {
    field.file_name().is_some() || matches!(field.name(), Some("image" | "file"))
}

/// The first file part of the form in `body`, whose `Content-Type` header is `content_type`.
pub fn first_file(content_type: &str, body: Bytes) -> Result<FormFile, FormError> {
    let invalid = |e: multer::Error| FormError::Invalid(e.to_string());
    let boundary = multer::parse_boundary(content_type).map_err(invalid)?;
    let stream = futures_util::stream::iter([Ok::<Bytes, Infallible>(body)]);
    let mut form = multer::Multipart::new(stream, boundary);
    let parse = std::pin::pin!(async move {
        while let Some(field) = form.next_field().await.map_err(invalid)? {
            if !is_file_part(&field) {
                continue;
            }
            let media_type = field
                .content_type()
                .map(|m| m.essence_str().to_ascii_lowercase());
            let bytes = field.bytes().await.map_err(invalid)?;
            return Ok(FormFile { bytes, media_type });
        }
        Err(FormError::NoFile)
    });
    // The whole body is in the stream, so every step is ready at once: the parser reaches the
    // body's end, or an error, in this one poll.
    match parse.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(FormError::Invalid("the form ended early".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=XyZ";

    /// A part: its name, file name, media type and bytes.
    type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    fn form(parts: &[Part<'_>]) -> Bytes {
        let mut body = Vec::new();
        for (name, file_name, media_type, data) in parts {
            body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(name.as_bytes());
            body.push(b'"');
            if let Some(file_name) = file_name {
                body.extend_from_slice(format!("; filename=\"{file_name}\"").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            if let Some(media_type) = media_type {
                body.extend_from_slice(format!("Content-Type: {media_type}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        Bytes::from(body)
    }

    #[test]
    fn the_first_file_part_is_the_image() {
        let body = form(&[
            ("note", None, None, b"front door"),
            (
                "snapshot",
                Some("a.jpg"),
                Some("Image/JPEG; q=1"),
                b"\xff\xd8jpeg",
            ),
            ("image", None, None, b"second"),
        ]);
        let file = first_file(TYPE, body).unwrap();
        assert_eq!(&file.bytes[..], b"\xff\xd8jpeg");
        assert_eq!(file.media_type.as_deref(), Some("image/jpeg"));
        let named = first_file(TYPE, form(&[("image", None, None, b"png")])).unwrap();
        assert_eq!((&named.bytes[..], named.media_type), (&b"png"[..], None));
    }

    #[test]
    fn bad_forms_are_refused_with_their_reason() {
        let body = form(&[("note", None, None, b"no file")]);
        assert_eq!(first_file(TYPE, body), Err(FormError::NoFile));
        let no_boundary = first_file("multipart/form-data", form(&[])).unwrap_err();
        assert!(
            no_boundary.to_string().contains("boundary"),
            "{no_boundary}"
        );
        let cut = form(&[("image", None, None, b"data")]).slice(..30);
        assert!(matches!(first_file(TYPE, cut), Err(FormError::Invalid(_))));
        assert!(matches!(
            first_file(TYPE, Bytes::from_static(b"garbage")),
            Err(FormError::Invalid(_))
        ));
    }
}
