//! The type a file is stored and served with: one rule for attachments from email and files
//! uploaded from the web or the API. What the bytes are wins over what the sender declared: a
//! mail client that calls every file `application/octet-stream`, or a form that calls a PNG
//! `image/jpeg`, should not decide how the file is shown or named in a download.

/// What a file is when nothing better is known (RFC 2046 §4.5.1).
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Containers that many formats share: recognising one says less than a declared format that
/// lives in it (an OpenDocument or EPUB is a ZIP, an Outlook `.msg` an OLE compound file).
const CONTAINERS: &[&str] = &["application/zip", "application/x-ole-storage"];

/// The type to store for a file declared as `declared` (a Content-Type value, parameters and
/// all, or empty) whose bytes are `data`: the type its magic bytes say, else the declared
/// type when it is a valid `type/subtype` (lowercased, parameters dropped), else
/// [`OCTET_STREAM`].
pub fn stored_type(declared: &str, data: &[u8]) -> String {
    let declared = media_type(declared);
    match sniffed(data) {
        Some(found) if CONTAINERS.contains(&found) => match declared {
            Some(d) if is_specific_archive(&d) => d,
            _ => found.to_string(),
        },
        Some(found) => found.to_string(),
        None => declared.unwrap_or_else(|| OCTET_STREAM.to_string()),
    }
}

/// The type named by magic bytes. infer's text matchers are left out: "starts with `<a`" or
/// `#!` is a guess about text, not a signature, and a text file quoting HTML stays the type
/// its sender gave it (served files never render as pages anyway, see `web::service::files`).
fn sniffed(data: &[u8]) -> Option<&'static str> {
    infer::get(data)
        .filter(|t| t.matcher_type() != infer::MatcherType::Text)
        .map(|t| t.mime_type())
}

/// A declared `application/` type that names a format of its own, possibly inside a generic
/// container: vendor (`vnd.`) and unregistered (`x-`) types, `+zip` suffixes (RFC 6839), Java
/// archives.
fn is_specific_archive(declared: &str) -> bool {
    declared.strip_prefix("application/").is_some_and(|sub| {
        sub.starts_with("vnd.")
            || sub.starts_with("x-")
            || sub.ends_with("+zip")
            || sub == "java-archive"
    })
}

/// `type/subtype` of a Content-Type value (RFC 2045 §5.1), lowercased, without parameters;
/// None unless both names are RFC 6838 §4.2 restricted names, so the stored value is always
/// safe to send back in a header.
pub fn media_type(value: &str) -> Option<String> {
    let essence = value.split(';').next().unwrap_or("").trim();
    let (kind, subtype) = essence.split_once('/')?;
    (is_restricted_name(kind) && is_restricted_name(subtype)).then(|| essence.to_ascii_lowercase())
}

/// RFC 6838 §4.2: 1 to 127 characters, a letter or digit first, then letters, digits and
/// `!#$&-^_.+`.
fn is_restricted_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 127
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.4\n%\xc4\xe5\xf2\xe5\xeb\xa7\xf3\xa0\xd0\xc4\xc6\n";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn a_pdf_declared_as_octet_stream_is_stored_as_a_pdf() {
        assert_eq!(stored_type(OCTET_STREAM, PDF), "application/pdf");
        assert_eq!(stored_type("", PDF), "application/pdf");
    }

    #[test]
    fn a_png_declared_as_jpeg_is_stored_as_a_png() {
        assert_eq!(stored_type("image/jpeg", PNG), "image/png");
    }

    #[test]
    fn a_garbage_declared_type_with_unknown_bytes_is_octet_stream() {
        for declared in [
            "",
            "pdf",
            "text/",
            "/plain",
            "text/pl ain",
            "text/plain/x",
            "image/png\r\nX-Evil: 1",
            "ima\u{e9}ge/png",
            "*/*",
        ] {
            assert_eq!(
                stored_type(declared, b"hello"),
                OCTET_STREAM,
                "{declared:?}"
            );
        }
    }

    #[test]
    fn unknown_bytes_keep_a_valid_declared_type_lowercased_without_parameters() {
        assert_eq!(
            stored_type("Text/Plain; charset=utf-8", b"hello"),
            "text/plain"
        );
        assert_eq!(stored_type(" text/csv ", b"a,b\n1,2\n"), "text/csv");
        assert_eq!(
            stored_type("application/vnd.api+json", b"{}"),
            "application/vnd.api+json"
        );
    }

    #[test]
    fn text_that_looks_like_html_keeps_its_declared_type() {
        assert_eq!(
            stored_type("text/plain", b"<html><body>hi</body></html>"),
            "text/plain"
        );
        assert_eq!(
            stored_type("text/x-sh", b"#!/bin/sh\necho hi\n"),
            "text/x-sh"
        );
    }

    #[test]
    fn a_zip_keeps_a_specific_declared_format_but_not_a_wrong_one() {
        let zip = b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0mimetypex";
        assert_eq!(stored_type(OCTET_STREAM, zip), "application/zip");
        assert_eq!(stored_type("image/png", zip), "application/zip");
        assert_eq!(
            stored_type("application/vnd.oasis.opendocument.text", zip),
            "application/vnd.oasis.opendocument.text"
        );
    }

    #[test]
    fn empty_files_keep_their_declared_type() {
        assert_eq!(stored_type("text/plain", b""), "text/plain");
        assert_eq!(stored_type("", b""), OCTET_STREAM);
    }
}
