//! Measures search and the person-scoped conversation list on a realistic volume.
//!
//! ```text
//! cargo run --release --bin threadgate-search-bench -- --messages 100000 --conversations 5000
//! cargo run --release --bin threadgate-search-bench -- \
//!     --database-url postgres://postgres@127.0.0.1:5432/searchbench   # an EMPTY database
//! ```
//! It fills the database: 50 companies, all followed by one agent; conversations of the three
//! types (a third each), each with that agent or another and a client; messages of French and
//! English text (a fixed vocabulary, a seeded generator), written in one transaction and then
//! indexed the way a database from before search is at start (which it times). Then it times
//! searches as a client and as staff — one word, two words, a phrase, a prefix — and the
//! conversation list of the agent who follows the 50 companies, and prints p50/p95/p99.

use clap::Parser;
use std::sync::Arc;
use std::time::{Duration, Instant};
use threadgate::domain::search_text::parse_query;
use threadgate::domain::{ConversationType, EmailAddress, Role, SystemClock};
use threadgate::store::{
    ConversationFilter, ConversationOptions, NewPerson, Person, SearchFilter, Store,
};

#[derive(Parser)]
#[command(about = "Time searches and conversation lists over N messages")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    #[arg(long, default_value_t = 5_000)]
    conversations: usize,
    /// Timed runs of each kind of query.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// An empty database to fill (default: a new SQLite file in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Also print the N slowest queries of each kind (to see which ones a percentile is).
    #[arg(long, default_value_t = 0)]
    slowest: usize,
    /// Time the database an earlier run filled (with the same sizes) instead of an empty one.
    #[arg(long)]
    reuse: bool,
}

const FRENCH: &[&str] = &[
    "bonjour",
    "merci",
    "facture",
    "factures",
    "livraison",
    "commande",
    "réunion",
    "été",
    "demain",
    "semaine",
    "prochaine",
    "contrat",
    "paiement",
    "devis",
    "client",
    "projet",
    "équipe",
    "rapport",
    "budget",
    "réponse",
    "question",
    "problème",
    "solution",
    "rendez-vous",
    "lundi",
    "mardi",
    "vendredi",
    "envoyé",
    "reçu",
    "urgent",
    "document",
    "signature",
    "prix",
    "remise",
    "abonnement",
    "annuel",
    "mensuel",
    "compte",
    "accès",
    "mot",
    "passe",
    "serveur",
    "retard",
    "colis",
    "adresse",
    "numéro",
    "téléphone",
    "société",
    "directeur",
    "comptable",
];

const ENGLISH: &[&str] = &[
    "hello",
    "thanks",
    "invoice",
    "invoices",
    "shipping",
    "shipped",
    "order",
    "meeting",
    "summer",
    "tomorrow",
    "week",
    "next",
    "contract",
    "payment",
    "quote",
    "customer",
    "project",
    "team",
    "report",
    "budget",
    "answer",
    "question",
    "issue",
    "solution",
    "appointment",
    "monday",
    "tuesday",
    "friday",
    "sent",
    "received",
    "urgent",
    "document",
    "signature",
    "price",
    "discount",
    "subscription",
    "yearly",
    "monthly",
    "account",
    "access",
    "password",
    "server",
    "delay",
    "parcel",
    "address",
    "number",
    "phone",
    "company",
    "manager",
    "accountant",
];

/// xorshift64*: the same text on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A language's words as text has them: the base words above with their usual endings and
/// numbered names (references, products), a few thousand in all, drawn with Zipf's law (the
/// k-th most common word k times rarer than the first), as in real text.
struct Vocabulary {
    words: Vec<String>,
    /// Cumulative weights, for drawing by Zipf's law.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new(base: &[&str], endings: &[&str], seed: u64) -> Vocabulary {
        let mut words: Vec<String> = Vec::new();
        for ending in endings {
            for b in base {
                words.push(format!("{b}{ending}"));
            }
        }
        let mut rng = Rng(seed);
        for i in 0..2000 {
            let b = base[rng.below(base.len())];
            words.push(format!("{b}{i}"));
        }
        // Shuffle the tail a little so that forms of one word are not all together.
        for i in (base.len()..words.len()).rev() {
            let j = base.len() + rng.below(i - base.len() + 1);
            words.swap(i, j);
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative[self.cumulative.len() - 1];
        let x = (rng.next() as f64 / u64::MAX as f64) * total;
        let i = self.cumulative.partition_point(|c| *c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    fn text(&self, rng: &mut Rng, words: usize) -> String {
        (0..words)
            .map(|_| self.draw(rng))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "  {label:<34} p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms",
        percentile(&times, 0.50),
        percentile(&times, 0.95),
        percentile(&times, 0.99)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("threadgate-search-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let store = Store::connect(&url, Arc::new(SystemClock)).await?;
    println!(
        "threadgate-search-bench: {} messages in {} conversations on {}",
        args.messages,
        args.conversations,
        store.backend_name()
    );
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let french = Vocabulary::new(FRENCH, &["", "s", "e", "es", "ment", "er", "ée"], 1);
    let english = Vocabulary::new(ENGLISH, &["", "s", "ed", "ing", "er", "ly"], 2);
    let text = |rng: &mut Rng, words: usize| match rng.below(2) {
        0 => french.text(rng, words),
        _ => english.text(rng, words),
    };

    let fill = Instant::now();
    let (agent, client, texts) = if args.reuse {
        // The same generator, drawn in the same order, gives the same texts; nothing written.
        for _ in 0..args.conversations {
            text(&mut rng, 4);
        }
        let texts: Vec<String> = (0..args.messages)
            .map(|_| {
                let words = 10 + rng.below(60);
                text(&mut rng, words)
            })
            .collect();
        let find = |email: &str| {
            let store = &store;
            let email = EmailAddress::parse(email);
            async move {
                store
                    .person_by_email(&email?)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("--reuse: the database was not filled"))
            }
        };
        (
            find("agent0@bench.test").await?,
            find("client0@bench.test").await?,
            texts,
        )
    } else {
        fill_database(&store, &args, &url, &mut rng, &text).await?
    };
    println!("  ready in {:.1} s", fill.elapsed().as_secs_f64());

    // What people search for: words neither the commonest nor the rarest (ranks 10 to 1,000),
    // two of them, a phrase that text has, a prefix.
    let pick = |rng: &mut Rng| {
        let v = if rng.below(2) == 0 { &french } else { &english };
        v.words[10 + rng.below(990)].clone()
    };
    let singles: Vec<String> = (0..200).map(|_| pick(&mut rng)).collect();
    let pairs: Vec<String> = (0..200)
        .map(|_| format!("{} {}", pick(&mut rng), pick(&mut rng)))
        .collect();
    let phrases: Vec<String> = texts
        .iter()
        .take(200)
        .map(|t| {
            let w: Vec<&str> = t.split(' ').collect();
            format!("\"{} {}\"", w[3], w[4])
        })
        .collect();
    let prefixes: Vec<String> = singles
        .iter()
        .map(|w| format!("{}*", w.chars().take(5).collect::<String>()))
        .collect();
    let queries: [(&str, Vec<String>); 4] = [
        ("one word", singles),
        ("two words", pairs),
        ("phrase", phrases),
        ("prefix", prefixes),
    ];
    for (who, person, staff) in [("client", &client, false), ("staff", &agent, true)] {
        for (label, texts) in &queries {
            let mut times = Vec::with_capacity(args.runs);
            let mut slowest: Vec<(Duration, &str)> = Vec::new();
            for run in 0..args.runs {
                let text = &texts[run % texts.len()];
                let query = parse_query(text)?;
                let filter = SearchFilter {
                    reader: Some(&person.id),
                    staff,
                    ..SearchFilter::default()
                };
                let started = Instant::now();
                // What a search request reads: the page, then its snippets' texts.
                let found = store.search(&query, &filter, 0, 20).await?;
                let ids: Vec<String> = found
                    .iter()
                    .flat_map(|h| h.documents.iter().filter_map(|(id, _)| id.clone()))
                    .collect();
                store.message_texts(&ids).await?;
                times.push(started.elapsed());
                slowest.push((started.elapsed(), text));
            }
            report(&format!("search as {who}, {label}"), times);
            slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            for (time, text) in slowest.iter().take(args.slowest) {
                println!("    {:>6.2} ms  {text}", time.as_secs_f64() * 1000.0);
            }
        }
    }
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let filter = ConversationFilter {
            reader: Some(&agent.id),
            ..ConversationFilter::default()
        };
        let started = Instant::now();
        store.conversation_page(&filter, None, 50).await?;
        times.push(started.elapsed());
    }
    report("list, agent following 50 companies", times);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Fills an empty database: people, companies, conversations, messages; then indexes it.
/// Returns the agent who follows every company, a client, and the messages' texts.
async fn fill_database(
    store: &Store,
    args: &Args,
    url: &str,
    rng: &mut Rng,
    text: &dyn Fn(&mut Rng, usize) -> String,
) -> anyhow::Result<(Person, Person, Vec<String>)> {
    let mut people = Vec::new();
    for (i, role) in [(0, Role::Internal), (1, Role::Internal)] {
        people.push(NewPerson {
            email: EmailAddress::parse(&format!("agent{i}@bench.test"))?,
            name: format!("Agent {i}"),
            role,
        });
    }
    for i in 0..200 {
        people.push(NewPerson {
            email: EmailAddress::parse(&format!("client{i}@bench.test"))?,
            name: format!("Client {i}"),
            role: Role::Client,
        });
    }
    let people = store.create_people(people).await?;
    let (agent, other_agent, clients) = (&people[0], &people[1], &people[2..]);
    let mut companies = Vec::new();
    for i in 0..50 {
        let company = store.create_company(&format!("Company {i}")).await?;
        store.follow_company(&company.id, &agent.id).await?;
        companies.push(company);
    }
    // Each client follows one company.
    for (i, client) in clients.iter().enumerate() {
        store
            .follow_company(&companies[i % companies.len()].id, &client.id)
            .await?;
    }
    let mut conversation_ids = Vec::with_capacity(args.conversations);
    for c in 0..args.conversations {
        let client = &clients[c % clients.len()];
        let author = if c % 2 == 0 { agent } else { other_agent };
        let kind = match c % 3 {
            0 => ConversationType::Private,
            1 => ConversationType::Company,
            _ => ConversationType::Confidential,
        };
        let company = kind
            .has_company()
            .then(|| companies[c % companies.len()].id.as_str());
        let options = ConversationOptions {
            domain: None,
            kind: Some(kind),
            company_id: company,
        };
        let subject = text(rng, 4);
        let conversation = store
            .create_conversation_with(
                &subject,
                &author.id,
                std::slice::from_ref(&client.id),
                &options,
            )
            .await?;
        conversation_ids.push((conversation.id, author.id.clone()));
    }
    let texts: Vec<(String, String, String)> = (0..args.messages)
        .map(|m| {
            let (conversation, author) = &conversation_ids[m % conversation_ids.len()];
            let words = 10 + rng.below(60);
            (conversation.clone(), author.clone(), text(rng, words))
        })
        .collect();
    store.import_messages(&texts).await?;
    let indexing = Instant::now();
    let written = store.rebuild_search_index().await?;
    println!(
        "  indexed {written} documents in {:.1} s (as at the first start of a database from before search)",
        indexing.elapsed().as_secs_f64()
    );
    if store.backend_name() == "postgres" {
        // A database in use is kept by autovacuum: its planner statistics current, and the
        // row versions that filling it left behind (each conversation updated with every
        // message) removed. One just filled has had neither, and a PostgreSQL run without
        // autovacuum never would (the conversation list's p95: 9.8 ms, 6.8 once vacuumed).
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query("VACUUM (ANALYZE)").execute(&pool).await?;
        pool.close().await;
    }

    let agent = agent.clone();
    let client = clients[0].clone();
    Ok((
        agent,
        client,
        texts.into_iter().map(|(_, _, t)| t).collect(),
    ))
}
