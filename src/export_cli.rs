//! `threadgate export conversation ID --format mbox|json [--output FILE] [--as PERSON]` and
//! `threadgate person export ID --output FILE` and `threadgate person erase ID [--yes]`, backup
//! and restore, `threadgate blobs migrate --to URL` and `threadgate blobs sweep`: the admin's
//! commands beside the running gateway, on the same database (and flags) as `serve`
//! (`crate::export`, `crate::person_data`, `crate::backup`, `crate::blobs`).

use crate::config::{BlobsAction, ExportWhat, PersonAction, ServeArgs};
use crate::domain::SystemClock;
use crate::export::{Export, Format};
use crate::store::{ErasedBy, Store};
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(what: ExportWhat) -> ExitCode {
    match export(what).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("threadgate export: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn export(what: ExportWhat) -> Result<(), String> {
    let ExportWhat::Conversation {
        id,
        format,
        output,
        reader,
        serve,
    } = what;
    let format = Format::parse(&format)
        .ok_or_else(|| format!("--format: expected mbox or json, got {format:?}"))?;
    let (store, config) = open_store(serve).await?;
    let reader = match reader {
        Some(person) => Some(
            store
                .person(&person)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("--as: no person {person:?}"))?,
        ),
        None => None,
    };
    let (conversation, _) = store
        .conversation_for(&id, reader.as_ref().map(|p| p.id.as_str()))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no conversation {id:?} (that this person may read)"))?;
    let export = Export {
        store: &store,
        conversation: &conversation,
        reader: reader.as_ref(),
        reply_domain: &config.reply_domain,
    };
    match output {
        Some(path) => {
            let file = tokio::fs::File::create(&path)
                .await
                .map_err(|e| format!("creating {}: {e}", path.display()))?;
            let mut out = tokio::io::BufWriter::new(file);
            export
                .write(format, &mut out)
                .await
                .map_err(|e| e.to_string())?;
        }
        None => {
            let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
            export
                .write(format, &mut out)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

pub async fn person(action: PersonAction) -> ExitCode {
    let (what, done) = match action {
        PersonAction::Export { id, output, serve } => {
            ("export", export_person(id, output, serve).await)
        }
        PersonAction::Erase { id, yes, serve } => ("erase", erase_person(id, yes, serve).await),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("threadgate person {what}: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(serve: ServeArgs) -> Result<(Store, crate::config::Config), String> {
    let config = serve.into_config().map_err(|e| e.to_string())?;
    let store = Store::connect(&config.database_url, Arc::new(SystemClock))
        .await
        .map_err(|e| format!("opening the database: {e}"))?;
    Ok((store, config))
}

/// The blob store `--blob-store` names.
fn blob_store(
    config: &crate::config::Config,
    store: &Store,
) -> Result<crate::blobs::BlobStore, String> {
    crate::blobs::BlobStore::from_setting(&config.blob_store, &config.data_dir, store)
        .map_err(|e| format!("opening the blob store (--blob-store): {e}"))
}

/// `threadgate blobs migrate|sweep`.
pub async fn blobs(action: BlobsAction) -> ExitCode {
    let done = match action {
        BlobsAction::Migrate { to, serve } => migrate_blobs(&to, serve).await,
        BlobsAction::Sweep { older_than, serve } => sweep_blobs(older_than, serve).await,
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("threadgate: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate_blobs(to: &str, serve: ServeArgs) -> Result<(), String> {
    let (store, config) = open_store(serve).await?;
    let from = blob_store(&config, &store)?;
    let setting = crate::config::BlobStoreSetting::parse("to", to, &config.database_url)
        .map_err(|e| e.to_string())?;
    if setting == config.blob_store {
        return Err(format!("--to {to} is where the files are already"));
    }
    let target = crate::blobs::BlobStore::from_setting(&setting, &config.data_dir, &store)
        .map_err(|e| format!("opening {to}: {e}"))?;
    println!(
        "copying files from {} to {}",
        from.describe(),
        target.describe()
    );
    let report = crate::blobs::migrate::migrate(&store, &from, &target)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{} files copied, {} there already, {} referenced files checked in {}",
        report.copied,
        report.present,
        report.referenced,
        target.describe()
    );
    for sha in &report.damaged {
        eprintln!(
            "damaged in {}: {sha} (its bytes do not match its name; not copied)",
            from.describe()
        );
    }
    for sha in &report.missing {
        eprintln!(
            "missing: {sha} is referenced by an attachment but is not in the target (arrived \
             after the copy began? run the migration again)"
        );
    }
    if report.damaged.is_empty() && report.missing.is_empty() {
        println!("every file verified; start the gateway with --blob-store {setting}");
        Ok(())
    } else {
        Err(format!(
            "{} damaged, {} missing: see above (a file received by email can be extracted \
             again from its raw email by downloading it once)",
            report.damaged.len(),
            report.missing.len()
        ))
    }
}

async fn sweep_blobs(older_than: std::time::Duration, serve: ServeArgs) -> Result<(), String> {
    let (store, config) = open_store(serve).await?;
    let blobs = blob_store(&config, &store)?;
    let removed = crate::blobs::removal::sweep(&store, &blobs, older_than.as_millis() as i64)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{removed} unreferenced files removed from {}",
        blobs.describe()
    );
    Ok(())
}

/// Erases a person after the operator typed `yes` (unless `--yes`): there is no undo.
async fn erase_person(id: String, yes: bool, serve: ServeArgs) -> Result<(), String> {
    let (store, config) = open_store(serve).await?;
    let person = store
        .person(&id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no person {id:?} (or erased already)"))?;
    if !yes {
        eprint!(
            "Erase {} <{}> ({}): their address, name, what they wrote and sent? \
             This cannot be undone. Type yes to go on: ",
            person.name,
            person.email,
            person.role.as_str()
        );
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| format!("reading the answer: {e}"))?;
        if answer.trim() != "yes" {
            return Err("not confirmed: nothing was erased".into());
        }
    }
    let blobs = blob_store(&config, &store)?;
    let erasure =
        crate::person_data::erase_person(&store, &blobs, &person.id, ErasedBy::CommandLine)
            .await
            .map_err(|e| e.to_string())?;
    println!(
        "{} erased ({}): {} messages, {} files, {} emails received, {} emails sent",
        erasure.person_id,
        erasure.pseudonym,
        erasure.removed.messages,
        erasure.removed.attachments,
        erasure.removed.inbound_emails,
        erasure.removed.outbox_emails
    );
    Ok(())
}

async fn export_person(
    id: String,
    output: std::path::PathBuf,
    serve: ServeArgs,
) -> Result<(), String> {
    let (store, config) = open_store(serve).await?;
    let person = store
        .person(&id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no person {id:?}"))?;
    let file = std::fs::File::create(&output)
        .map_err(|e| format!("creating {}: {e}", output.display()))?;
    let blobs = blob_store(&config, &store)?;
    let reply_domain = config.reply_domain.clone();
    crate::person_data::export_person(&store, &blobs, &person, |_| reply_domain.clone(), file)
        .await
        .map_err(|e| e.to_string())
}

/// `threadgate backup --output FILE`.
pub async fn backup(output: std::path::PathBuf, serve: ServeArgs) -> ExitCode {
    let done = async {
        let config = serve.into_config().map_err(|e| e.to_string())?;
        // Opening a SQLite database that is not there would create an empty one, and back it
        // up: a mistyped --data-dir must fail instead.
        if let Some(path) = config.database_url.strip_prefix("sqlite://") {
            let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
            if !path.exists() {
                return Err(format!(
                    "no database at {} (is --data-dir or --database-url right?)",
                    path.display()
                ));
            }
        }
        let store = Store::connect(&config.database_url, Arc::new(SystemClock))
            .await
            .map_err(|e| format!("opening the database: {e}"))?;
        let blobs = blob_store(&config, &store)?;
        crate::backup::backup(&store, &blobs, &config.data_dir, &output)
            .await
            .map_err(|e| e.to_string())
    };
    match done.await {
        Ok(manifest) => {
            println!(
                "backup written to {}: {} ({} schema {}), {} people, {} conversations, {} messages, {} files",
                output.display(),
                manifest.created_at,
                manifest.backend,
                manifest.schema_version,
                manifest.counts.people,
                manifest.counts.conversations,
                manifest.counts.messages,
                manifest
                    .files
                    .iter()
                    .filter(|f| f.path.starts_with("attachments/"))
                    .count()
            );
            if manifest.backend == "postgres" {
                println!(
                    "the database is not in it: dump it with pg_dump (README, Backup and restore)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("threadgate backup: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `threadgate restore FILE --data-dir DIR`.
pub async fn restore(file: &std::path::Path, data_dir: &std::path::Path) -> ExitCode {
    match crate::backup::restore(file, data_dir).await {
        Ok(manifest) => {
            println!(
                "restored {} ({}) into {}: {} people, {} conversations, {} messages; start `threadgate serve --data-dir {}`",
                file.display(),
                manifest.created_at,
                data_dir.display(),
                manifest.counts.people,
                manifest.counts.conversations,
                manifest.counts.messages,
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("threadgate restore: {err}");
            ExitCode::FAILURE
        }
    }
}
