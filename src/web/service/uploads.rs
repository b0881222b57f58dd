//! Messages posted as `multipart/form-data` (RFC 7578) from the API and the web form: the text
//! fields and the files read within their limits, then the files written to the blob store
//! with the type their bytes say ([`crate::domain::file_type`]) and a clean name.
//!
//! Nothing of a form is kept when any of it is refused: a file over the limit is refused
//! (413, the uploader told at once) rather than kept as "omitted" the way an email's is, since
//! an email cannot be asked again and an uploader can.

use crate::blobs::BlobStore;
use crate::domain::text::{self, FILE_NAME};
use crate::domain::{Id, IdKind, file_type};
use crate::store::NewAttachment;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};

/// The part name files are sent under (`<input type="file" name="file" multiple>`, curl's
/// `-F file=@report.pdf`).
pub const FILE_FIELD: &str = "file";

/// The longest text field other than the message body (ids, `kind`, the CSRF token).
pub const MAX_SHORT_FIELD: usize = 1024;

/// How a request body is sent, by its Content-Type: what the two posting routes dispatch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    UrlEncoded,
    Multipart,
    Other,
}

impl BodyKind {
    pub fn of(headers: &HeaderMap) -> BodyKind {
        let value = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = value.split(';').next().unwrap_or("").trim();
        let essence = essence.to_ascii_lowercase();
        match essence.as_str() {
            "multipart/form-data" => BodyKind::Multipart,
            "application/x-www-form-urlencoded" => BodyKind::UrlEncoded,
            // As axum's `Json` accepts them (RFC 6839 §3.1 `+json`).
            e if e == "application/json"
                || (e.starts_with("application/") && e.ends_with("+json")) =>
            {
                BodyKind::Json
            }
            _ => BodyKind::Other,
        }
    }
}

/// The body limit of a JSON or urlencoded post: axum's default, kept on a posting route whose
/// own limit allows files.
const TEXT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// `request` with its body limited as a text-only post's (a larger one is the extractor's 413).
pub fn text_only(request: Request) -> Request {
    let (parts, body) = request.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, TEXT_BODY_LIMIT));
    Request::from_parts(parts, limited)
}

/// The whole-request limit of a posting route: several files at the per-file limit, and the
/// text beside them.
pub fn request_limit(max_file: usize) -> usize {
    max_file.saturating_mul(4).saturating_add(1024 * 1024)
}

/// A file as uploaded: its name as given (not yet cleaned), its declared type, its bytes.
#[derive(Debug)]
pub struct Upload {
    pub name: String,
    pub declared_type: String,
    pub data: Vec<u8>,
}

impl Upload {
    /// A browser sends a file input left empty as a part with no file name and no bytes
    /// (RFC 7578 §4.2 names are optional): nothing was chosen.
    fn is_unchosen(&self) -> bool {
        self.name.is_empty() && self.data.is_empty()
    }
}

/// A form read from a multipart body: the text fields asked for, and the files.
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(&'static str, String)>,
    pub files: Vec<Upload>,
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a form was refused; each adapter turns it into its answer (JSON or a page).
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// One file over the per-file limit: named, so the uploader knows which.
    #[error("`{name}` is larger than {limit} bytes")]
    FileTooLarge { name: String, limit: usize },
    /// The whole body over the route's limit.
    #[error("the request is larger than {0} bytes")]
    TooLarge(usize),
    /// Not multipart/form-data that can be read: no boundary, a body that never reaches its
    /// boundary (RFC 2046 §5.1.1), broken part headers, a file under another name.
    #[error("{0}")]
    Malformed(String),
    /// A text field that cannot be taken as it is.
    #[error("`{field}` {why}")]
    Field {
        field: &'static str,
        why: &'static str,
    },
}

impl FormError {
    /// 413 for sizes, 400 for a body that is not a readable form, 422 for a field.
    pub fn status(&self) -> StatusCode {
        match self {
            FormError::FileTooLarge { .. } | FormError::TooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            FormError::Malformed(_) => StatusCode::BAD_REQUEST,
            FormError::Field { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn from_multipart(err: MultipartError, request_limit: usize) -> FormError {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            FormError::TooLarge(request_limit)
        } else {
            let why = err.body_text();
            FormError::Malformed(format!("not a readable multipart/form-data body: {why}"))
        }
    }
}

/// What a form may carry: its text fields (name, longest value in bytes) and the file limit.
pub struct FormShape<'a> {
    pub fields: &'a [(&'static str, usize)],
    pub max_file: usize,
}

/// Reads a multipart body: the text fields of `shape` (UTF-8, bounded, each once), the parts
/// named [`FILE_FIELD`] as files (each within `shape.max_file`), other text parts ignored as
/// unknown JSON keys are. A file part under another name is refused rather than dropped: its
/// sender believes it attached something.
pub async fn read_form(mut multipart: Multipart, shape: &FormShape<'_>) -> Result<Form, FormError> {
    let limit = request_limit(shape.max_file);
    let mut form = Form::default();
    while let Some(mut part) = multipart
        .next_field()
        .await
        .map_err(|e| FormError::from_multipart(e, limit))?
    {
        let name = part.name().unwrap_or("").to_string();
        if name == FILE_FIELD {
            match read_file(&mut part, shape.max_file, limit).await? {
                Some(file) if file.is_unchosen() => {}
                Some(file) => form.files.push(file),
                None => {
                    let name = file_name(part.file_name().unwrap_or(""), form.files.len());
                    drop(part);
                    drain(&mut multipart).await;
                    return Err(FormError::FileTooLarge {
                        name,
                        limit: shape.max_file,
                    });
                }
            }
        } else if let Some(&(field, max)) = shape.fields.iter().find(|(n, _)| *n == name) {
            if form.field(field).is_some() {
                return Err(FormError::Field {
                    field,
                    why: "is given more than once",
                });
            }
            let value = read_text(&mut part, field, max, limit).await?;
            form.fields.push((field, value));
        } else if part.file_name().is_some() {
            return Err(FormError::Malformed(format!(
                "a file in part `{name}`: files go in parts named `{FILE_FIELD}`"
            )));
        } else {
            while next_chunk(&mut part, limit).await?.is_some() {}
        }
    }
    Ok(form)
}

/// One file part; None when it is larger than `max` (what was read of it is dropped).
async fn read_file(
    part: &mut Field<'_>,
    max: usize,
    limit: usize,
) -> Result<Option<Upload>, FormError> {
    let mut data = Vec::new();
    while let Some(chunk) = next_chunk(part, limit).await? {
        if data.len() + chunk.len() > max {
            return Ok(None);
        }
        data.extend_from_slice(&chunk);
    }
    let name = part.file_name().unwrap_or("").to_string();
    let declared_type = part
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Ok(Some(Upload {
        name,
        declared_type,
        data,
    }))
}

async fn read_text(
    part: &mut Field<'_>,
    field: &'static str,
    max: usize,
    limit: usize,
) -> Result<String, FormError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(part, limit).await? {
        if bytes.len() + chunk.len() > max {
            return Err(FormError::Field {
                field,
                why: "is too long",
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    // RFC 7578 §5.1: a form's text comes in the page's charset, UTF-8 on our pages; the API
    // takes UTF-8 as its JSON does.
    String::from_utf8(bytes).map_err(|_| FormError::Field {
        field,
        why: "is not UTF-8 text",
    })
}

async fn next_chunk(
    part: &mut Field<'_>,
    limit: usize,
) -> Result<Option<axum::body::Bytes>, FormError> {
    part.chunk()
        .await
        .map_err(|e| FormError::from_multipart(e, limit))
}

/// Reads the rest of the body (within the route's limit) without keeping it, so the client,
/// still sending, reads our 413 instead of a reset connection.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut part)) = multipart.next_field().await {
        while let Ok(Some(_)) = part.chunk().await {}
    }
}

/// The name the `index`th file (from 0) is stored and named under: cleaned by the text rule,
/// `attachment-N` when nothing is left (as an email's unnamed attachments are).
fn file_name(given: &str, index: usize) -> String {
    let name = text::clean(given, &FILE_NAME);
    if name.is_empty() {
        format!("attachment-{}", index + 1)
    } else {
        name
    }
}

/// Writes each file to the blob store (before the message's commit, so a committed row always
/// has its file) and returns the rows to insert with the message: a clean name, the type from
/// the bytes.
pub async fn store(blobs: &BlobStore, files: &[Upload]) -> std::io::Result<Vec<NewAttachment>> {
    let mut stored = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let filename = file_name(&file.name, i);
        let sha256 = blobs.put(&file.data).await?;
        stored.push(NewAttachment {
            id: Id::generate(IdKind::Attachment),
            filename,
            content_type: file_type::stored_type(&file.declared_type, &file.data),
            size: file.data.len() as i64,
            sha256,
            content_id: None,
            inline: false,
            omitted: None,
        });
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        h
    }

    #[test]
    fn bodies_are_told_apart_by_their_content_type() {
        assert_eq!(BodyKind::of(&headers("application/json")), BodyKind::Json);
        assert_eq!(
            BodyKind::of(&headers("Application/JSON; charset=utf-8")),
            BodyKind::Json
        );
        assert_eq!(
            BodyKind::of(&headers("application/merge-patch+json")),
            BodyKind::Json
        );
        assert_eq!(
            BodyKind::of(&headers("multipart/form-data; boundary=x")),
            BodyKind::Multipart
        );
        assert_eq!(
            BodyKind::of(&headers("multipart/form-data")),
            BodyKind::Multipart
        );
        assert_eq!(
            BodyKind::of(&headers("application/x-www-form-urlencoded")),
            BodyKind::UrlEncoded
        );
        assert_eq!(BodyKind::of(&headers("text/plain")), BodyKind::Other);
        assert_eq!(BodyKind::of(&HeaderMap::new()), BodyKind::Other);
    }

    #[test]
    fn the_request_limit_holds_several_files_and_never_overflows() {
        assert_eq!(request_limit(1000), 4000 + 1024 * 1024);
        assert_eq!(request_limit(usize::MAX), usize::MAX);
    }

    #[test]
    fn an_empty_file_input_is_not_a_file_but_an_empty_named_file_is() {
        let file = |name: &str, data: &[u8]| Upload {
            name: name.into(),
            declared_type: "application/octet-stream".into(),
            data: data.to_vec(),
        };
        assert!(file("", b"").is_unchosen());
        assert!(!file("empty.txt", b"").is_unchosen());
        assert!(!file("", b"x").is_unchosen());
    }

    #[test]
    fn file_names_are_cleaned_and_an_empty_one_is_numbered() {
        assert_eq!(file_name("report.pdf", 0), "report.pdf");
        assert_eq!(file_name("Bob\u{202E}gnp.exe", 0), "Bobgnp.exe");
        assert_eq!(file_name(" \r\n ", 2), "attachment-3");
        assert_eq!(file_name("", 0), "attachment-1");
    }
}
