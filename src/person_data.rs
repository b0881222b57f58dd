//! A person's data, as the GDPR gives them the right to it. Export (articles 15 and 20): one zip with
//! `person.json` (profile, settings, addresses, companies, the conversations they may read, the
//! emails they sent), every conversation they may read as JSON and mbox exactly as they may see
//! it (`crate::export`), the raw emails they sent (`sent/<inbound id>.eml`) and the files they
//! sent (`files/<attachment id>-<name>`). The API and `threadgate person export` write it to a
//! file, a conversation at a time. Erasure (article 17): [`erase_person`].

use crate::blobs::BlobStore;
use crate::domain::rfc3339;
use crate::export::{Export, ExportError, Format};
use crate::store::{ErasedBy, Erasure, ListScope, Person, Shelf, Store, StoreError};
use serde_json::json;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum PersonDataError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("writing the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the archive: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// A name safe inside a zip: no directories, no control characters, bounded.
fn entry_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(100)
        .collect();
    match clean.trim_matches('.').is_empty() {
        true => "file".to_string(),
        false => clean,
    }
}

/// Writes `person`'s data to `file` as a zip. `reply_domain_of` names a conversation's reply
/// domain (composed Message-IDs in the mbox files).
pub async fn export_person(
    store: &Store,
    blobs: &BlobStore,
    person: &Person,
    reply_domain_of: impl Fn(Option<&str>) -> String,
    file: std::fs::File,
) -> Result<(), PersonDataError> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut zip = zip::ZipWriter::new(file);
    let settings = store.person_settings(&person.id).await?;
    let addresses = store.addresses(&person.id).await?;
    let companies = store.followed_companies(&person.id).await?;
    let readable = store
        .conversation_list(
            ListScope::Person {
                person_id: &person.id,
                internal: person.role == crate::domain::Role::Internal,
            },
            Shelf::Both,
            i64::MAX,
        )
        .await?;
    let mut conversations = Vec::new();
    for summary in &readable {
        let Some((conversation, _)) = store
            .conversation_for(&summary.id, Some(&person.id))
            .await?
        else {
            continue;
        };
        let export = Export {
            store,
            conversation: &conversation,
            reader: Some(person),
            reply_domain: &reply_domain_of(conversation.domain.as_deref()),
        };
        for format in [Format::Json, Format::Mbox] {
            let mut bytes = Vec::new();
            export.write(format, &mut bytes).await?;
            zip.start_file(
                format!("conversations/{}.{}", conversation.id, format.extension()),
                options,
            )?;
            zip.write_all(&bytes)?;
        }
        conversations.push(json!({"id": conversation.id, "subject": conversation.subject}));
    }
    let sent = store.sent_emails(&person.id).await?;
    for inbound_id in &sent {
        if let Some(raw) = store.raw_email(inbound_id).await? {
            zip.start_file(format!("sent/{}.eml", entry_name(inbound_id)), options)?;
            zip.write_all(&raw)?;
        }
    }
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for a in store.attachments_by_author(&person.id).await? {
        if a.omitted.is_some() {
            continue;
        }
        match blobs.get(&a.sha256).await? {
            Some(data) => {
                let name = format!("files/{}-{}", a.id, entry_name(&a.filename));
                zip.start_file(name.as_str(), options)?;
                zip.write_all(&data)?;
                files.push(
                    json!({"path": name, "filename": a.filename, "content_type": a.content_type,
                                  "size": a.size, "conversation_id": a.conversation_id}),
                );
            }
            // Its email is in `sent/` when it came by email.
            None => missing.push(json!({"id": a.id, "filename": a.filename})),
        }
    }
    let summary = json!({
        "exported_at": rfc3339(store.now()),
        "person": {
            "id": person.id, "email": person.email, "name": person.name,
            "role": person.role.as_str(), "created_at": rfc3339(person.created_at),
            "email_status": person.email_status.as_str(),
        },
        "settings": settings.map(|s| json!({
            "notifications": s.notifications.as_str(), "locale": s.locale.as_str(),
            "time_zone": s.time_zone.map(|z| z.name()), "blocked": s.blocked,
            "verified_at": s.verified_at.map(rfc3339),
        })),
        "addresses": addresses.iter().map(|a| json!({
            "email": a.email, "verified_at": a.verified_at.map(rfc3339),
            "created_at": rfc3339(a.created_at),
        })).collect::<Vec<_>>(),
        "companies": companies.iter().map(|c| json!({"id": c.id, "name": c.name})).collect::<Vec<_>>(),
        "conversations": conversations,
        "sent_emails": sent.iter().map(|id| format!("sent/{}.eml", entry_name(id))).collect::<Vec<_>>(),
        "files": files,
        "files_not_kept": missing,
    });
    zip.start_file("person.json", options)?;
    zip.write_all(&serde_json::to_vec_pretty(&summary).map_err(std::io::Error::from)?)?;
    zip.finish()?;
    Ok(())
}

/// Erases person `id` (GDPR article 17; what goes is listed in `store::erasure`): the
/// database part in one transaction, then made physical (zeroed, index merged, WAL truncated
/// or tables vacuumed), then the files it left unreferenced unlinked. A crash after the commit
/// leaves those files listed in the database: `blobs::removal::remove_pending` at the next
/// start removes them (as it does when removing fails now). `NotFound` when there is no such person
/// or they were erased already.
pub async fn erase_person(
    store: &Store,
    blobs: &BlobStore,
    id: &str,
    by: ErasedBy,
) -> Result<Erasure, StoreError> {
    let erasure = store.erase_person(id, by).await?;
    match store.compact_after_erasure().await {
        Ok(true) => {}
        // The rows are gone either way; the next checkpoint or vacuum finishes the job.
        Ok(false) => tracing::warn!(
            erasure = %erasure.id,
            "after an erasure, the database's log could not be truncated yet (a long reader)"
        ),
        Err(err) => {
            tracing::warn!(erasure = %erasure.id, error = %err, "compacting after an erasure failed")
        }
    }
    if let Err(err) = crate::blobs::removal::remove_pending(store, blobs).await {
        // Committed: the files stay listed, and the next start unlinks them.
        tracing::warn!(erasure = %erasure.id, error = %err, "unlinking an erased person's files failed");
    }
    tracing::info!(erasure = %erasure.id, person = %erasure.person_id, by = erasure.erased_by, "person erased");
    Ok(erasure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_inside_the_zip_stay_inside_it() {
        assert_eq!(entry_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(entry_name("a\\b:c\u{0}.pdf"), "a_b_c_.pdf");
        assert_eq!(entry_name(".."), "file");
        assert_eq!(entry_name(&"x".repeat(300)).len(), 100);
    }
}
