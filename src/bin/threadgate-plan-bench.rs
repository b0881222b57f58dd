//! Measures the notification planner: how long it takes to plan and queue the emails for N
//! participants who each have an unread message (the scheduler's heaviest tick).
//!
//! ```text
//! cargo run --release --bin threadgate-plan-bench -- --participants 100000
//! cargo run --release --bin threadgate-plan-bench -- --participants 100000 \
//!     --database-url postgres://postgres@127.0.0.1:5432/planbench   # an EMPTY database
//! ```
//! It fills the database (people, conversations of `--per-conversation` clients and one agent,
//! one agent message in each), then times one full planner pass: due participants read, every
//! email composed (templates, headers), and every email queued with its mark moved, in batches
//! of one transaction each.

use clap::Parser;
use std::sync::Arc;
use std::time::{Duration, Instant};
use threadgate::domain::sending::{LiveDomains, SendingDomains};
use threadgate::domain::{
    EmailAddress, LinkSigner, MessageIds, MessageKind, Role, Source, SystemClock,
};
use threadgate::outbound::compose::Composer;
use threadgate::outbound::mailer::Mailer;
use threadgate::scheduler::notify::Planner;
use threadgate::store::{NewMessage, NewPerson, Store};

#[derive(Parser)]
#[command(about = "Time one notification-planner pass over N participants with unread messages")]
struct Args {
    /// Participants with an unread message.
    #[arg(long, default_value_t = 100_000)]
    participants: usize,
    /// Clients per conversation (each conversation also has one agent).
    #[arg(long, default_value_t = 100)]
    per_conversation: usize,
    /// An empty database to fill (default: a new SQLite file in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("threadgate-plan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let store = Store::connect(&url, Arc::new(SystemClock)).await?;
    println!(
        "threadgate-plan-bench: {} participants on {}",
        args.participants,
        store.backend_name()
    );

    let fill = Instant::now();
    let per = args.per_conversation.max(1);
    let conversations = args.participants.div_ceil(per);
    let run = threadgate::domain::random_base32(4);
    let agents = store
        .create_people(vec![NewPerson {
            email: EmailAddress::parse(&format!("agent-{run}@bench.test"))?,
            name: "Agent".into(),
            role: Role::Internal,
        }])
        .await?;
    let agent = &agents[0];
    let mut made = 0;
    for c in 0..conversations {
        let n = per.min(args.participants - made);
        let clients = store
            .create_people(
                (0..n)
                    .map(|i| {
                        Ok(NewPerson {
                            email: EmailAddress::parse(&format!(
                                "client-{run}-{}@bench.test",
                                made + i
                            ))?,
                            name: format!("Client {}", made + i),
                            role: Role::Client,
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
            )
            .await?;
        made += n;
        let ids: Vec<String> = clients.into_iter().map(|p| p.id).collect();
        let conversation = store
            .create_conversation(&format!("Topic {c}"), &agent.id, &ids)
            .await?;
        store
            .append_message(NewMessage {
                conversation_id: conversation.id,
                author_id: agent.id.clone(),
                kind: MessageKind::Message,
                body_text:
                    "The kickoff is on Monday at 10:00. Please bring the budget and the slides."
                        .into(),
                body_html: None,
                trimmed_text: None,
                source: Source::Api,
                email_message_id: None,
                attachments: Vec::new(),
            })
            .await?;
    }
    // As after any bulk import: let the database see what it now holds.
    store.refresh_statistics().await?;
    println!(
        "  filled {made} participants in {conversations} conversations in {:.1} s",
        fill.elapsed().as_secs_f64()
    );

    let composer = Composer::new(
        LiveDomains::new(SendingDomains::single(
            EmailAddress::parse("notifications@bench.test")?,
            "reply.bench.test",
        )),
        "https://bench.test".into(),
        MessageIds::new(b"bench".to_vec()),
        LinkSigner::new(b"bench".to_vec()),
    );
    let mailer = Mailer::new(composer, std::sync::Arc::new(tokio::sync::Notify::new()));
    let planner = Planner::new(store.clone(), mailer, Duration::from_secs(1800));
    let started = Instant::now();
    let planned = planner.run_once_counted().await?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "  planned {} participants, queued {} emails in {elapsed:.2} s ({:.0} emails/s)",
        planned.participants,
        planned.emails,
        planned.emails as f64 / elapsed
    );
    println!(
        "  reading {:.2} s, composing {:.2} s, committing {:.2} s",
        planned.reading.as_secs_f64(),
        planned.composing.as_secs_f64(),
        planned.committing.as_secs_f64()
    );
    store.close().await;
    if args.database_url.is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
    anyhow::ensure!(
        planned.emails == made,
        "expected {made} emails, queued {}",
        planned.emails
    );
    Ok(())
}
