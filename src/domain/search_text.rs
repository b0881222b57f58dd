//! Search text, the same on both backends: what the index holds for a text, and what a query
//! asks. Pure.
//!
//! Words are folded (lowercase, accents off by canonical decomposition — "Réunion" is
//! "reunion", "ÉTÉ" is "ete"; ß, æ, œ, ø, ł, đ spelled out) and split on anything that is not a
//! letter or a digit. Each word is also indexed by its French and English Snowball stems
//! ("factures" and "facture" share "factur", "shipped" and "shipping" share "ship"). A query
//! is words (each matching itself or a shared stem), `"quoted phrases"` (folded words in a
//! row) and `prefix*`; everything else — operators, `:`, `-`, `NEAR`, SQL — is text. The
//! backends get only folded `[a-z0-9]` tokens, quoted: nothing a user types reaches a query
//! language.

use rust_stemmers::{Algorithm, Stemmer};
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest word kept (longer runs are not words people search for).
const MAX_WORD: usize = 64;
/// Most bytes of a text's words that are indexed (~20,000 words; what follows is not found).
/// PostgreSQL refuses a tsvector over 1 MiB (`string is too long for tsvector`): a reply of
/// 200,000 distinct words would have failed its email's write, every time it was retried.
/// Under this budget a document's words and their stems, with their positions, stay well
/// below it; both backends index the same words.
pub const MAX_INDEXED_BYTES: usize = 128 * 1024;
/// Most clauses in one query; more is refused (`TooLong`).
pub const MAX_CLAUSES: usize = 32;
/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;

/// Bump when folding or stemming changes: the index is rebuilt at start.
pub const ANALYZER_VERSION: i64 = 2;

/// BM25's term-frequency saturation and length normalisation (Robertson & Zaragoza, "The
/// Probabilistic Relevance Framework: BM25 and Beyond", 2009), with its usual constants.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// A word found through a shared stem counts this much of the word itself.
const STEM_WEIGHT: f64 = 0.5;

fn stemmers() -> &'static (Stemmer, Stemmer) {
    static STEMMERS: OnceLock<(Stemmer, Stemmer)> = OnceLock::new();
    STEMMERS.get_or_init(|| {
        (
            Stemmer::create(Algorithm::French),
            Stemmer::create(Algorithm::English),
        )
    })
}

/// One character folded: lowercase, without accents; letters with no decomposition spelled
/// out.
fn fold_char(c: char, out: &mut String) {
    // Most of a European text is ASCII, which only needs lowercasing (nothing to decompose, no
    // combining marks): it skips the Unicode tables.
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    match c {
        'ß' => out.push_str("ss"),
        'æ' | 'Æ' => out.push_str("ae"),
        'œ' | 'Œ' => out.push_str("oe"),
        'ø' | 'Ø' => out.push('o'),
        'ł' | 'Ł' => out.push('l'),
        'đ' | 'Đ' => out.push('d'),
        'ı' => out.push('i'),
        _ => {
            for d in c.to_lowercase().flat_map(|l| l.nfd()) {
                if !is_combining_mark(d) {
                    out.push(d);
                }
            }
        }
    }
}

/// The folded words of `text`, in order.
pub fn words(text: &str) -> Vec<String> {
    split_words(&fold(text)).map(str::to_string).collect()
}

/// `text` folded, character by character.
fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, &mut folded);
    }
    folded
}

/// The words of a folded text: runs of letters and digits, none longer than [`MAX_WORD`].
fn split_words(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_WORD)
}

/// The stems of a folded word, each once, the word itself excluded.
pub fn stems(word: &str) -> Vec<String> {
    let (fr, en) = stemmers();
    let mut out: Vec<String> = Vec::with_capacity(2);
    for stem in [fr.stem(word), en.stem(word)] {
        if stem != word && !stem.is_empty() && !out.iter().any(|s| *s == stem) {
            out.push(stem.into_owned());
        }
    }
    out
}

/// What the index holds for one text: its words, and their stems (space-separated).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Indexed {
    pub words: String,
    pub stems: String,
}

impl Indexed {
    /// The words and stems, split (once, for [`SearchQuery::score`]).
    pub fn tokens(&self) -> Tokens<'_> {
        fn split(s: &str) -> Vec<&str> {
            s.split(' ').filter(|w| !w.is_empty()).collect()
        }
        Tokens {
            words: split(&self.words),
            stems: split(&self.stems),
        }
    }
}

/// An indexed document's words, in order, and stems.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tokens<'a> {
    pub words: Vec<&'a str>,
    pub stems: Vec<&'a str>,
}

pub fn index_text(text: &str) -> Indexed {
    let folded = fold(text);
    // [`words`], joined as they are found (a string per word cost inbound mail).
    let mut words = String::with_capacity(folded.len());
    let mut stem_text = String::new();
    let mut push_stems = |stems: &[String]| {
        for stem in stems {
            if !stem_text.is_empty() {
                stem_text.push(' ');
            }
            stem_text.push_str(stem);
        }
    };
    // Two Snowball stemmers per word were most of what indexing a message cost (inbound
    // mail's CPU); text is mostly the same few thousand words, so their stems are kept.
    let mut cache = stem_cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for w in split_words(&folded) {
        if words.len() + 1 + w.len() > MAX_INDEXED_BYTES {
            break;
        }
        if !words.is_empty() {
            words.push(' ');
        }
        words.push_str(w);
        match cache.get(w) {
            Some(known) => push_stems(known),
            None => {
                let found = stems(w).into_boxed_slice();
                push_stems(&found);
                if cache.len() >= STEM_CACHE_WORDS {
                    cache.clear();
                }
                cache.insert(w.to_string(), found);
            }
        }
    }
    drop(cache);
    Indexed {
        words,
        stems: stem_text,
    }
}

/// Most words whose stems [`index_text`] keeps (a few MiB); past it the cache starts again.
const STEM_CACHE_WORDS: usize = 50_000;

fn stem_cache() -> &'static std::sync::Mutex<std::collections::HashMap<String, Box<[String]>>> {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Box<[String]>>>> =
        OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// One part of a query; all must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// A word, or one of its stems.
    Term { word: String, stems: Vec<String> },
    /// Words in a row.
    Phrase(Vec<String>),
    /// A word starting so.
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query has no words to search for")]
    Empty,
    #[error("the query is too long (at most {MAX_QUERY_BYTES} bytes and {MAX_CLAUSES} words)")]
    TooLong,
}

/// Reads what a person typed. Quotes left open close at the end; `*` alone, operators and
/// punctuation are separators.
pub fn parse_query(raw: &str) -> Result<SearchQuery, QueryError> {
    if raw.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong);
    }
    let mut clauses = Vec::new();
    for (i, part) in raw.split('"').enumerate() {
        if i % 2 == 1 {
            // Inside quotes: a phrase (one word is a term).
            let phrase = words(part);
            match phrase.len() {
                0 => {}
                1 => clauses.push(term(phrase.into_iter().next().unwrap_or_default())),
                _ => clauses.push(Clause::Phrase(phrase)),
            }
            continue;
        }
        for chunk in part.split_whitespace() {
            let prefix = chunk.ends_with('*');
            let mut found = words(chunk);
            let last = match (prefix, found.pop()) {
                (_, None) => continue,
                (true, Some(w)) => Clause::Prefix(w),
                (false, Some(w)) => term(w),
            };
            clauses.extend(found.into_iter().map(term));
            clauses.push(last);
        }
    }
    if clauses.is_empty() {
        return Err(QueryError::Empty);
    }
    if clauses.len() > MAX_CLAUSES {
        return Err(QueryError::TooLong);
    }
    Ok(SearchQuery { clauses })
}

fn term(word: String) -> Clause {
    Clause::Term {
        stems: stems(&word),
        word,
    }
}

impl SearchQuery {
    /// The FTS5 query over columns `words` and `stems`: every token quoted.
    pub fn fts5(&self) -> String {
        let clauses: Vec<String> = self
            .clauses
            .iter()
            .map(|c| match c {
                Clause::Term { word, stems } => {
                    // The word or one of its stems, as a word or as a stem: a text's stems
                    // leave out the word itself ("order" has no stem "order"), so "ordering"
                    // (stem "order") must look for the word "order" too.
                    let any: Vec<String> = std::iter::once(word)
                        .chain(stems)
                        .flat_map(|t| [format!("words : \"{t}\""), format!("stems : \"{t}\"")])
                        .collect();
                    format!("({})", any.join(" OR "))
                }
                Clause::Phrase(words) => format!("words : \"{}\"", words.join(" ")),
                Clause::Prefix(word) => format!("words : \"{word}\" *"),
            })
            .collect();
        clauses.join(" AND ")
    }

    /// The PostgreSQL `to_tsquery('simple', …)` text over the document of words and stems.
    pub fn tsquery(&self) -> String {
        self.tsquery_with(false)
    }

    /// [`SearchQuery::tsquery`] with each phrase's words together in any order: what the
    /// GIN index, which keeps no positions, finds for the query, and then checks in each
    /// document it gives.
    pub fn tsquery_words(&self) -> String {
        self.tsquery_with(true)
    }

    /// Whether the query holds a phrase of several words.
    pub fn has_phrase(&self) -> bool {
        self.clauses
            .iter()
            .any(|c| matches!(c, Clause::Phrase(words) if words.len() > 1))
    }

    fn tsquery_with(&self, phrase_as_words: bool) -> String {
        let clauses: Vec<String> = self
            .clauses
            .iter()
            .map(|c| match c {
                Clause::Term { word, stems } => {
                    let mut any = vec![word.clone()];
                    any.extend(stems.iter().cloned());
                    format!("({})", any.join(" | "))
                }
                Clause::Phrase(words) if phrase_as_words => format!("({})", words.join(" & ")),
                // Words (weight A) only, as on SQLite: the document's stems (B) follow its
                // last word, and "shipping" then "ship" would otherwise make a phrase.
                Clause::Phrase(words) => {
                    let words: Vec<String> = words.iter().map(|w| format!("{w}:A")).collect();
                    format!("({})", words.join(" <-> "))
                }
                Clause::Prefix(word) => format!("{word}:*"),
            })
            .collect();
        clauses.join(" & ")
    }

    /// How well a document the backend matched answers the query, higher better, the same on
    /// both backends. Per clause, its occurrences (a word itself 1, a word or stem it shares a
    /// stem with [`STEM_WEIGHT`], a phrase or a prefix 1 each) saturated and normalised by the
    /// document's length in words as BM25 does, `average_words` being the candidates' mean;
    /// summed. A subject is a document like a message (its shortness already counts). BM25's inverse document frequency is left
    /// out: every candidate holds every clause, and it would need the whole index's counts,
    /// which is what makes ranking every match slow.
    pub fn score(&self, document: &Tokens<'_>, average_words: f64) -> f64 {
        let (words, stems) = (&document.words, &document.stems);
        let length = words.len() as f64 / average_words.max(1.0);
        let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length);
        let mut total = 0.0;
        for clause in &self.clauses {
            let found = match clause {
                Clause::Term { word, stems: own } => {
                    let related = |t: &&&str| **t == word || own.iter().any(|s| s == **t);
                    let exact = words.iter().filter(|w| **w == word).count() as f64;
                    let shared = words.iter().filter(|w| own.iter().any(|s| s == *w)).count()
                        + stems.iter().filter(related).count();
                    exact + STEM_WEIGHT * shared as f64
                }
                Clause::Phrase(phrase) => words
                    .windows(phrase.len())
                    .filter(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
                    .count() as f64,
                Clause::Prefix(prefix) => words
                    .iter()
                    .filter(|w| w.starts_with(prefix.as_str()))
                    .count() as f64,
            };
            total += found * (BM25_K1 + 1.0) / (found + norm);
        }
        total
    }

    /// Whether a folded word of a text is one the query looks for (for snippets).
    pub fn highlights(&self, word: &str) -> bool {
        self.clauses.iter().any(|c| match c {
            Clause::Term { word: w, stems } => {
                w == word || {
                    let theirs = self::stems(word);
                    theirs.iter().any(|s| s == w || stems.contains(s))
                        || stems.iter().any(|s| s == word)
                }
            }
            Clause::Phrase(words) => words.iter().any(|w| w == word),
            Clause::Prefix(p) => word.starts_with(p.as_str()),
        })
    }
}

/// A piece of a text around its first match, and the byte ranges (in the piece) to mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    pub marks: Vec<(usize, usize)>,
    /// The text goes on before / after the piece.
    pub cut_before: bool,
    pub cut_after: bool,
}

/// Up to `max_chars` of `text` around the first word `query` looks for; None when none is
/// there.
pub fn snippet(text: &str, query: &SearchQuery, max_chars: usize) -> Option<Snippet> {
    // The words of the original text, with their byte ranges.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    let matched: Vec<(usize, usize)> = spans
        .into_iter()
        .filter(|(s, e)| {
            let folded = words(&text[*s..*e]);
            folded.iter().any(|w| query.highlights(w))
        })
        .collect();
    let (first, _) = *matched.first()?;
    // Start a few words before the first match, on a character boundary.
    let lead = max_chars / 4;
    let mut from = first;
    for (count, (i, _)) in text[..first].char_indices().rev().enumerate() {
        from = i;
        if count + 1 >= lead {
            break;
        }
    }
    let mut to = text.len();
    for (count, (i, _)) in text[from..].char_indices().enumerate() {
        if count == max_chars {
            to = from + i;
            break;
        }
    }
    let piece = &text[from..to];
    let marks = matched
        .into_iter()
        .filter(|(s, e)| *s >= from && *e <= to)
        .map(|(s, e)| (s - from, e - from))
        .collect();
    Some(Snippet {
        text: piece.to_string(),
        marks,
        cut_before: from > 0,
        cut_after: to < text.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_and_accents() {
        assert_eq!(
            words("Réunion d'ÉTÉ, Straße Œuvre"),
            ["reunion", "d", "ete", "strasse", "oeuvre"]
        );
        assert_eq!(words("a-b_c:d"), ["a", "b", "c", "d"]);
        assert!(words(&"x".repeat(65)).is_empty());
        // ASCII's fast path folds as the general one does.
        for c in (0u8..128).map(char::from) {
            let mut fast = String::new();
            fold_char(c, &mut fast);
            let general: String = c
                .to_lowercase()
                .flat_map(|l| l.nfd())
                .filter(|d| !is_combining_mark(*d))
                .collect();
            assert_eq!(fast, general, "{c:?}");
        }
    }

    #[test]
    fn stems_join_forms_in_both_languages() {
        let shared = |a: &str, b: &str| {
            let (mut x, mut y) = (stems(a), stems(b));
            x.push(a.into());
            y.push(b.into());
            x.iter().any(|s| y.contains(s))
        };
        assert!(shared("factures", "facture"));
        assert!(shared("shipped", "shipping"));
        assert!(shared("livraisons", "livraison"));
        assert!(!shared("invoice", "shipping"));
    }

    #[test]
    fn a_text_keeps_every_stem_of_every_occurrence_in_order() {
        // Stems are computed once per word (and kept) but written for each occurrence (the
        // 'delete' of SQLite's external-content index needs exactly the tokens it was given).
        let indexed = index_text("Factures, shipping; factures et order. Shipped!");
        assert_eq!(indexed.words, "factures shipping factures et order shipped");
        let long = format!("Ça {} va, l'été", "x".repeat(65));
        assert_eq!(index_text(&long).words, words(&long).join(" "));
        let expected: Vec<String> = indexed.words.split(' ').flat_map(stems).collect();
        assert_eq!(indexed.stems, expected.join(" "));
        assert_eq!(indexed.stems.matches("factur").count(), 2);
    }

    #[test]
    fn a_long_text_is_indexed_up_to_its_budget_of_words() {
        // 200,000 distinct words: PostgreSQL would refuse their tsvector (over 1 MiB).
        let text: String = (0..200_000).map(|i| format!("w{i:x} ")).collect();
        let indexed = index_text(&text);
        assert!(indexed.words.len() <= MAX_INDEXED_BYTES);
        assert!(
            indexed.words.len() > MAX_INDEXED_BYTES - 10,
            "filled, not cut short"
        );
        assert!(indexed.words.starts_with("w0 w1 w2 "));
        assert!(!indexed.words.ends_with(' '));
        let short = "a few words".repeat(3);
        assert_eq!(index_text(&short).words, words(&short).join(" "));
    }

    #[test]
    fn queries_are_words_phrases_and_prefixes_and_nothing_else() {
        let q = parse_query("Réunion \"next week\" fact* -x NEAR(a b) col:val").unwrap();
        assert_eq!(q.clauses[0], term("reunion".into()));
        assert_eq!(
            q.clauses[1],
            Clause::Phrase(vec!["next".into(), "week".into()])
        );
        assert_eq!(q.clauses[2], Clause::Prefix("fact".into()));
        assert!(
            q.clauses
                .iter()
                .all(|c| !matches!(c, Clause::Term { word, .. } if word.contains('(')))
        );
        // Only quoted alphanumeric tokens reach FTS5 or tsquery.
        for text in [q.fts5(), q.tsquery()] {
            assert!(
                !text.contains("NEAR(") && !text.contains("col:val"),
                "{text}"
            );
        }
        let rest = " & fact:* & (x) & (near) & (a) & (b) & (col) & (val)";
        assert_eq!(
            q.tsquery(),
            format!("(reunion) & (next:A <-> week:A){rest}")
        );
        assert_eq!(
            q.tsquery_words(),
            format!("(reunion) & (next & week){rest}")
        );
        assert!(q.has_phrase());
        assert!(!parse_query("\"one\" two").unwrap().has_phrase());
        assert_eq!(parse_query("  * - \"\" : "), Err(QueryError::Empty));
        assert_eq!(parse_query(""), Err(QueryError::Empty));
        assert_eq!(parse_query("\"unclosed phrase").unwrap().clauses.len(), 1);
        assert_eq!(parse_query(&"a ".repeat(33)), Err(QueryError::TooLong));
        assert_eq!(parse_query(&"a".repeat(2000)), Err(QueryError::TooLong));
        assert_eq!(
            parse_query("'; DROP TABLE messages; --")
                .unwrap()
                .fts5()
                .matches(" AND ")
                .count(),
            2
        );
    }

    #[test]
    fn scores_favour_the_word_itself_and_density() {
        let score = |q: &SearchQuery, text: &str, average: f64| {
            q.score(&index_text(text).tokens(), average)
        };
        let q = parse_query("factures").unwrap();
        let exact = score(&q, "les factures du mois", 4.0);
        let stem_only = score(&q, "la facture du mois", 4.0);
        let diluted = score(&q, &format!("les factures {}", "mot ".repeat(40)), 4.0);
        assert!(exact > stem_only && stem_only > 0.0, "{exact} {stem_only}");
        assert!(exact > diluted, "{exact} {diluted}");
        // "ordering" finds "order" through the stem they share, in the index and in the score.
        let q = parse_query("ordering").unwrap();
        assert!(q.fts5().contains("words : \"order\""));
        assert!(score(&q, "your order", 2.0) > 0.0);
        let q = parse_query("\"next week\" invoi*").unwrap();
        let both = score(&q, "next week the invoices", 4.0);
        let apart = score(&q, "week next the invoices", 4.0);
        assert!(both > apart && apart > 0.0, "{both} {apart}");
    }

    #[test]
    fn snippets_mark_what_matched_around_the_first_match() {
        let q = parse_query("factures").unwrap();
        let s = snippet(
            "Bonjour, voici la facture du mois et deux Factures.",
            &q,
            30,
        )
        .unwrap();
        let marked: Vec<&str> = s.marks.iter().map(|(a, b)| &s.text[*a..*b]).collect();
        assert!(marked.contains(&"facture"), "{s:?}");
        assert!(snippet("rien ici", &q, 30).is_none());
        let q = parse_query("ete").unwrap();
        let s = snippet("Un bel été", &q, 30).unwrap();
        assert_eq!(&s.text[s.marks[0].0..s.marks[0].1], "été");
        assert!(!s.cut_before && !s.cut_after, "the whole text");
        let long = format!("{} été {}", "avant ".repeat(20), "après ".repeat(20));
        let s = snippet(&long, &q, 30).unwrap();
        assert!(s.cut_before && s.cut_after);
    }
}
