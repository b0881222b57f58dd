//! The text of the notification we sent this person, wherever their reply quotes it:
//! `>`-quoted or not, re-wrapped by the client or not. Our text becomes a sequence of normalized
//! words with a suffix automaton over them, prepared once per notification
//! ([`super::Sent`]); matching a reply against it is linear in both lengths.

// foldhash, seeded per process: the matcher hashes every word of a reply (a 64 KiB reply is
// ~10,000 words), and SipHash was a tenth of its time.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::quote_headers::{header_above_sent_quote, header_ending_at};
use super::{Fate, Lines, mark, normalize_newlines, unquoted_content};

/// A `>`-quoted run (its first line is quoted) matching our sent text is
/// removed from this many words on: the quote marks are evidence already,
/// the match says whose text it is.
const MIN_QUOTED_SENT_RUN_WORDS: usize = 3;

/// Without quote marks, one line needs this many of our words in our order
/// and nothing else: a person may well close with the same eight-word
/// courtesy sentence as ours, not with sixteen words of it.
const MIN_SENT_LINE_WORDS: usize = 16;

/// Without quote marks, a run over several lines (our text re-wrapped by
/// the client: line breaks that are not the person's) is removed from this
/// many words on…
const MIN_SENT_RUN_WORDS: usize = 8;

/// …or when it is a whole paragraph of ours standing as a whole paragraph
/// of the reply, from this many words on.
const MIN_SENT_PARAGRAPH_WORDS: usize = 4;

// The unquoted runs of fewer than MIN_SENT_LINE_WORDS words are weak
// evidence: when removing them would leave nothing, the person was echoing
// our words, not quoting them, and they stay (see `fates_knowing`).

/// Notifications are short; this bounds the automaton's memory when one is
/// not (a digest of a long conversation).
const MAX_SENT_WORDS: usize = 200_000;

/// The text of the notification we sent, as a sequence of normalized words
/// (see [`normalize_word_into`]) with a suffix automaton that recognizes every
/// contiguous run of them.
pub(super) struct SentText {
    vocab: HashMap<String, u32>,
    automaton: Automaton,
    /// Paragraphs of [`MIN_SENT_PARAGRAPH_WORDS`] to [`MIN_SENT_RUN_WORDS`]
    /// words, as word ids.
    short_paragraphs: HashSet<Vec<u32>>,
    /// Non-blank lines without any word ("--"): transparent in a match.
    wordless_lines: HashSet<String>,
}

impl SentText {
    pub(super) fn new(sent: &str) -> SentText {
        let sent = normalize_newlines(sent);
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut words: Vec<u32> = Vec::new();
        let mut short_paragraphs = HashSet::new();
        let mut wordless_lines = HashSet::new();
        let mut paragraph: Vec<u32> = Vec::new();
        let mut word = String::new();
        let mut end_paragraph = |paragraph: &mut Vec<u32>| {
            if (MIN_SENT_PARAGRAPH_WORDS..MIN_SENT_RUN_WORDS).contains(&paragraph.len()) {
                short_paragraphs.insert(std::mem::take(paragraph));
            }
            paragraph.clear();
        };
        'lines: for line in sent.split('\n') {
            let content = unquoted_content(line);
            let mut any = false;
            for raw_word in content.split_whitespace() {
                if !normalize_word_into(raw_word, &mut word) {
                    continue;
                }
                if words.len() >= MAX_SENT_WORDS {
                    break 'lines;
                }
                let id = match vocab.get(word.as_str()) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
                        vocab.insert(word.clone(), id);
                        id
                    }
                };
                words.push(id);
                paragraph.push(id);
                any = true;
            }
            if !any {
                end_paragraph(&mut paragraph);
                if !content.is_empty() {
                    wordless_lines.insert(content.to_owned());
                }
            }
        }
        end_paragraph(&mut paragraph);
        SentText {
            vocab,
            automaton: Automaton::new(&words),
            short_paragraphs,
            wordless_lines,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.vocab.is_empty()
    }
}

/// A word lowercased, without the punctuation around it (quotes, brackets, trailing commas,
/// `*bold*` marks), so that a client re-rendering our text does not hide it; written into
/// `out` (cleared first), so that matching a long reply allocates nothing per word. False
/// when nothing alphanumeric is left.
fn normalize_word_into(word: &str, out: &mut String) -> bool {
    out.clear();
    let core = word.trim_matches(|c: char| !c.is_alphanumeric());
    if core.is_ascii() {
        out.push_str(core);
        out.make_ascii_lowercase();
    } else {
        // Unicode's rules (a final sigma, say) as `str::to_lowercase` has them.
        out.push_str(&core.to_lowercase());
    }
    !out.is_empty()
}

/// A suffix automaton over word ids: it accepts exactly the contiguous
/// runs of the sent text, and matching a stream against it gives, at every
/// word, the longest run ending there that the sent text contains
/// (Blumer et al.), in time linear in both lengths.
struct Automaton {
    len: Vec<usize>,
    link: Vec<usize>,
    next: Vec<Edges>,
}

const NO_STATE: usize = usize::MAX;

/// A state's transitions (word id → state). Most states of a suffix automaton over prose have
/// one, so that case allocates nothing; a map only for states with more.
#[derive(Clone, Default)]
enum Edges {
    #[default]
    None,
    One(u32, usize),
    Many(HashMap<u32, usize>),
}

impl Edges {
    fn get(&self, word: u32) -> Option<usize> {
        match self {
            Edges::None => None,
            Edges::One(w, to) => (*w == word).then_some(*to),
            Edges::Many(map) => map.get(&word).copied(),
        }
    }

    /// Adds or replaces the transition on `word`.
    fn set(&mut self, word: u32, to: usize) {
        match self {
            Edges::None => *self = Edges::One(word, to),
            Edges::One(w, t) if *w == word => *t = to,
            Edges::One(w, t) => {
                let mut map = HashMap::with_capacity(2);
                map.insert(*w, *t);
                map.insert(word, to);
                *self = Edges::Many(map);
            }
            Edges::Many(map) => {
                map.insert(word, to);
            }
        }
    }
}

impl Automaton {
    fn new(words: &[u32]) -> Automaton {
        let mut a = Automaton {
            len: vec![0],
            link: vec![NO_STATE],
            next: vec![Edges::None],
        };
        let mut last = 0;
        for &w in words {
            let cur = a.push(a.len[last] + 1, NO_STATE, Edges::None);
            let mut p = last;
            while p != NO_STATE && a.next[p].get(w).is_none() {
                a.next[p].set(w, cur);
                p = a.link[p];
            }
            if p == NO_STATE {
                a.link[cur] = 0;
            } else if let Some(q) = a.next[p].get(w) {
                if a.len[p] + 1 == a.len[q] {
                    a.link[cur] = q;
                } else {
                    let clone = a.push(a.len[p] + 1, a.link[q], a.next[q].clone());
                    while p != NO_STATE && a.next[p].get(w) == Some(q) {
                        a.next[p].set(w, clone);
                        p = a.link[p];
                    }
                    a.link[q] = clone;
                    a.link[cur] = clone;
                }
            }
            last = cur;
        }
        a
    }

    fn push(&mut self, len: usize, link: usize, next: Edges) -> usize {
        self.len.push(len);
        self.link.push(link);
        self.next.push(next);
        self.len.len() - 1
    }
}

/// Walks a word stream through an [`Automaton`], tracking the longest
/// suffix of the stream that is a run of the sent text.
struct Matcher<'a> {
    automaton: &'a Automaton,
    state: usize,
    matched: usize,
}

impl Matcher<'_> {
    fn reset(&mut self) {
        self.state = 0;
        self.matched = 0;
    }

    fn step(&mut self, word: Option<u32>) {
        let Some(w) = word else {
            self.reset();
            return;
        };
        let a = self.automaton;
        loop {
            if let Some(next) = a.next[self.state].get(w) {
                self.state = next;
                self.matched += 1;
                return;
            }
            if self.state == 0 {
                self.matched = 0;
                return;
            }
            self.state = a.link[self.state];
            self.matched = a.len[self.state];
        }
    }
}

/// Drops, above `end`, every maximal run of lines whose words (quote marks
/// and punctuation aside) are a contiguous run of the sent text's words, when
/// the run is evidence enough (see the constants above), plus a quote header
/// directly above such a run. Lines must match whole: a line mixing the
/// person's words with ours is kept. Blank lines, empty quote lines and
/// wordless lines that our text also has ("--") do not interrupt a run; any
/// other line does.
pub(super) fn cut_sent_text(
    lines: &Lines,
    fate: &mut [Fate],
    sent: &SentText,
    end: usize,
    weak_runs: bool,
) {
    let end = end.min(lines.len());
    let words = Words::of(lines, sent, end);
    for (first, last) in sent_runs(lines, fate, sent, &words, end, weak_runs) {
        mark(fate, first, last + 1);
        // A quote header the client put directly above our text.
        let mut above = first;
        while above > 0 && unquoted_content(lines.text[above - 1]).is_empty() {
            above -= 1;
        }
        if above > 0
            && let Some(start) = header_ending_at(lines, above - 1)
        {
            mark(fate, start, first);
        } else {
            // Whatever its words: an attribution or header block right above our text.
            let header = header_above_sent_quote(lines, first);
            mark(fate, first - header, first);
        }
    }
}

/// The reply's lines (up to `end`) as one stream of words, matched against the sent text as
/// it goes.
struct Words {
    /// Each word's id in the sent text's vocabulary (None: a word we never sent).
    stream: Vec<Option<u32>>,
    /// Per line: where its words start and end in `stream`.
    line_start: Vec<usize>,
    line_end: Vec<usize>,
    /// Per line: how many words before its end match the sent text.
    matched_at_end: Vec<usize>,
    /// The lines that have words.
    worded: Vec<usize>,
}

impl Words {
    fn of(lines: &Lines, sent: &SentText, end: usize) -> Words {
        let mut matcher = Matcher {
            automaton: &sent.automaton,
            state: 0,
            matched: 0,
        };
        let mut words = Words {
            stream: Vec::new(),
            line_start: vec![0usize; end],
            line_end: vec![0usize; end],
            matched_at_end: vec![0usize; end],
            worded: Vec::new(),
        };
        let mut word = String::new();
        for j in 0..end {
            let content = unquoted_content(lines.text[j]);
            words.line_start[j] = words.stream.len();
            let mut any = false;
            for raw_word in content.split_whitespace() {
                if !normalize_word_into(raw_word, &mut word) {
                    continue;
                }
                let id = sent.vocab.get(word.as_str()).copied();
                matcher.step(id);
                words.stream.push(id);
                any = true;
            }
            if any {
                words.worded.push(j);
            } else if !content.is_empty() && !sent.wordless_lines.contains(content) {
                matcher.reset();
            }
            words.line_end[j] = words.stream.len();
            words.matched_at_end[j] = matcher.matched;
        }
        words
    }
}

/// The runs of lines (first, last) that repeat the sent text closely enough to go.
fn sent_runs(
    lines: &Lines,
    fate: &[Fate],
    sent: &SentText,
    words: &Words,
    end: usize,
    weak_runs: bool,
) -> Vec<(usize, usize)> {
    let Words {
        stream,
        line_start,
        line_end,
        matched_at_end,
        worded,
    } = words;
    let is_gap = |j: usize| unquoted_content(lines.text[j]).is_empty() || fate[j] == Fate::Drop;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    // The start of the longest match never moves backwards (a suffix of a
    // run is a run), so one pointer over the worded lines finds, for each
    // line, the first whole line of the match ending there.
    let mut k = 0;
    for (idx, &j) in worded.iter().enumerate() {
        let match_start = line_end[j] - matched_at_end[j];
        while k < worded.len() && line_start[worded[k]] < match_start {
            k += 1;
        }
        if k > idx {
            continue;
        }
        let first = worded[k];
        let count = line_end[j] - line_start[first];
        let several_lines = idx > k;
        let strong = (lines.quoted[first] && count >= MIN_QUOTED_SENT_RUN_WORDS)
            || count >= MIN_SENT_LINE_WORDS;
        let weak = || {
            several_lines
                && (count >= MIN_SENT_RUN_WORDS
                    || (count >= MIN_SENT_PARAGRAPH_WORDS
                        && (first == 0 || is_gap(first - 1))
                        && (j + 1 >= end || is_gap(j + 1))
                        && stream[line_start[first]..line_end[j]]
                            .iter()
                            .map(|w| w.ok_or(()))
                            .collect::<Result<Vec<u32>, ()>>()
                            .is_ok_and(|ids| sent.short_paragraphs.contains(&ids))))
        };
        let qualifies = strong || (weak_runs && weak());
        if !qualifies {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if first <= *last + 1 => *last = j,
            _ => runs.push((first, j)),
        }
    }
    runs
}
