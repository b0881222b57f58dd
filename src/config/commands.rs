//! The command line: `threadgate` and its commands, each taking the serve flags it needs
//! (`ServeArgs`, validated into a [`super::Config`]).

use super::{ServeArgs, parse_duration};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "threadgate",
    version,
    about = "Email-first conversation gateway"
)]
pub struct Cli {
    /// How log lines are written to stderr: `text` (for people) or `json` (one object per
    /// line: timestamp, level, target, the message and its fields, and the spans it happened
    /// in — the SMTP peer, the inbound email's id —, for a log collector).
    #[arg(long, global = true, env = "THREADGATE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: SMTP listener, HTTP API, scheduler and outbox worker.
    Serve(ServeArgs),
    /// Show how an email would be read: classification, route, kept text, trimmed part.
    Extract(ExtractArgs),
    /// Sending domains: add one (DKIM keys and the DNS records to publish), list, check,
    /// rotate keys. Takes the same flags and variables as `serve` (database, DNS server, MX
    /// host).
    Domain {
        #[command(subcommand)]
        action: DomainAction,
    },
    /// Export a conversation as an mbox (RFC 4155) or JSON, as the admin or a person sees it.
    /// Takes the same flags and variables as `serve` (database).
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// A person's data: `export` writes everything held about them as one zip. Takes the same
    /// flags and variables as `serve` (database, data directory).
    Person {
        #[command(subcommand)]
        action: PersonAction,
    },
    /// Writes a backup while the gateway runs: a consistent copy of the SQLite database, the
    /// attachment files it refers to and the admin token, in one zip with a manifest of
    /// checksums (readable by its owner only). On PostgreSQL the files and the token (dump the
    /// database with pg_dump). Takes the same flags and variables as `serve`.
    Backup {
        /// The zip to write (it must not exist).
        #[arg(long)]
        output: std::path::PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Attachment files: copy them to another store (`migrate`), or remove those nothing
    /// refers to (`sweep`). Take the same flags and variables as `serve` (database, data
    /// directory, `--blob-store` for where the files are now).
    Blobs {
        #[command(subcommand)]
        action: BlobsAction,
    },
    /// Restores a backup into a new, empty data directory, checking every file against the
    /// manifest and the database's rows against its counts.
    Restore {
        /// The backup zip.
        file: std::path::PathBuf,
        /// Where to restore (must not exist, or be empty).
        #[arg(long)]
        data_dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BlobsAction {
    /// Copies every file from the current `--blob-store` to `--to` (`local`, `postgres` or
    /// `s3://bucket[/prefix]`), verifying each one's SHA-256 in the target, then checks that
    /// every file an attachment refers to is there. Safe while the gateway runs; switch the
    /// gateway's `--blob-store` after it, then run it again to copy what arrived meanwhile.
    Migrate {
        #[arg(long)]
        to: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Removes files that nothing refers to and that were written longer ago than
    /// `--older-than` (an email that failed after its files were stored), safely beside
    /// running gateways.
    Sweep {
        #[arg(long, default_value = "1d", value_parser = parse_duration)]
        older_than: Duration,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonAction {
    /// Everything held about a person, as one zip (GDPR articles 15 and 20).
    Export {
        id: String,
        /// The zip to write.
        #[arg(long)]
        output: std::path::PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Erases a person (GDPR article 17): their address, name, what they wrote and sent, and
    /// every trace of them; the conversations keep a pseudonym. Cannot be undone.
    Erase {
        id: String,
        /// Do not ask to confirm.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// One conversation: every message as an email (mbox) or the messages, attachments'
    /// metadata and events (JSON), written as it is read.
    Conversation {
        id: String,
        /// `mbox` or `json`.
        #[arg(long, default_value = "mbox")]
        format: String,
        /// The file to write (default: standard output).
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        /// As this person may see it (default: everything, as the admin).
        #[arg(long = "as")]
        reader: Option<String>,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainAction {
    /// Create a sending domain with its reply subdomain and DKIM keys; prints the records.
    Add {
        name: String,
        /// Where replies and bounces for this domain go; default: reply.<name>.
        #[arg(long = "reply-subdomain", id = "reply_subdomain")]
        reply_domain: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// List the sending domains and their records.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Check every record in DNS now; exits 1 unless all are ok.
    Check {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Add the next pair of DKIM selectors (pending: publish their records, then activate).
    Rotate {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Sign with this selector's keys from now on; retire the previous ones.
    Activate {
        name: String,
        selector: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Set the domain's inbox address (`support` → support@<name>) and what it does with
    /// mail from people it does not know.
    Inbox {
        name: String,
        /// The local part of the inbox address.
        #[arg(long, conflicts_with = "none")]
        address: Option<String>,
        /// No inbox address: only replies are accepted.
        #[arg(long)]
        none: bool,
        /// Mail from strangers: refuse, verify (hold until they confirm their address), accept.
        #[arg(long, value_parser = ["refuse", "verify", "accept"])]
        strangers: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// How a domain's notifications present themselves: `From: "Ada via <display name>"
    /// <<local>@<domain>>`, and the language of people who first write to its inbox.
    Sender {
        name: String,
        /// After "via" in the From display name.
        #[arg(long)]
        display_name: Option<String>,
        /// The local part of the notifications address.
        #[arg(long)]
        notifications_local: Option<String>,
        /// en or fr.
        #[arg(long)]
        language: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Refuse mail from a sender domain (and its subdomains); `--remove` lifts the block;
    /// without a domain, lists the blocked ones.
    Block {
        domain: Option<String>,
        #[arg(long, requires = "domain")]
        remove: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// The email, as an .eml file (`-` reads standard input).
    pub file: PathBuf,
    /// Domain of the reply addresses, as given to `serve`.
    #[arg(
        long,
        env = "THREADGATE_REPLY_DOMAIN",
        default_value = "reply.localhost"
    )]
    pub reply_domain: String,
    /// Our From address, as given to `serve` (mail from it is a loop).
    #[arg(
        long,
        env = "THREADGATE_FROM_ADDRESS",
        default_value = "notifications@localhost"
    )]
    pub from_address: String,
    /// The envelope sender (MAIL FROM); default: the From address. `<>` for the null sender.
    #[arg(long)]
    pub envelope_from: Option<String>,
    /// A file holding the text of the notification the person answered (cut where quoted).
    #[arg(long)]
    pub sent: Option<PathBuf>,
}
