//! Robustness of the extractor: pseudo-random inputs never panic nor lose a line, and very
//! long or repetitive inputs are handled.

use super::tests::kept;
use super::*;

// --- robustness -----------------------------------------------------------

/// Deterministic xorshift64 so the test needs no extra crate and fails
/// reproducibly.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "\n",
    "\n",
    "\n",
    "\r\n",
    "\r",
    " ",
    "> ",
    ">",
    ">> ",
    "-- ",
    "--",
    "---",
    ":",
    " wrote:",
    "On ",
    "On 1 Jan 2024, Alice <a@b.c> wrote:",
    "Le 2 mars 2024, Bob <b@c.d> a écrit\u{a0}:",
    "Am 01.01.2024 schrieb Carl <c@d.e>:",
    "El 1 ene 2024, Dora escribió:",
    "From: Alice",
    "De : Alice",
    "Von: Alice",
    "Sent: Monday",
    "Envoyé : lundi",
    "To: Bob",
    "Subject: Hi",
    "________________________________",
    "-----Original Message-----",
    REPLY_MARKER,
    "Sent from my iPhone",
    "Envoyé de mon iPhone",
    "Get Outlook for iOS",
    "hello",
    "world",
    "Here are the numbers:",
    "é",
    "日本",
    "👍",
    "\u{a0}",
    "\u{202f}",
    "\t",
    "*",
    "_",
    "@",
    "9",
];

#[test]
fn pseudo_random_inputs_never_panic_and_never_lose_a_line() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..600 {
        let pieces = rng.below(60);
        let mut text = String::new();
        for _ in 0..pieces {
            if rng.below(8) == 0 {
                // Occasionally a random character, any plane.
                let c = char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?');
                text.push(c);
            } else {
                text.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
            }
        }
        let got = extract_reply(&text);
        let trimmed = got.trimmed.as_deref().unwrap_or("");
        let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        for line in normalized.split('\n') {
            if line.trim().is_empty() {
                continue;
            }
            assert!(
                got.kept.contains(line) || trimmed.contains(line),
                "round {round}: line {line:?} lost from {text:?} -> {got:?}"
            );
        }
        assert!(!got.kept.contains('\r'), "round {round}");
        assert_eq!(got.kept.trim_matches('\n'), got.kept, "round {round}");
        if let Some(t) = &got.trimmed {
            assert!(!t.trim().is_empty(), "round {round}: empty trimmed");
        }
    }
}

#[test]
fn pseudo_random_inputs_with_sent_text_never_lose_a_line() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for round in 0..400 {
        let mut make = |pieces: usize| {
            let mut text = String::new();
            for _ in 0..pieces {
                text.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
                if rng.below(3) == 0 {
                    text.push(' ');
                }
            }
            text
        };
        let sent = make(40);
        let text = format!("{}{}", make(30), sent.replace('\n', "\n> "));
        let got = extract_reply_knowing(&text, Some(&sent));
        let trimmed = got.trimmed.as_deref().unwrap_or("");
        let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        for line in normalized.split('\n') {
            if line.trim().is_empty() {
                continue;
            }
            assert!(
                got.kept.contains(line) || trimmed.contains(line),
                "round {round}: line {line:?} lost from {text:?} -> {got:?}"
            );
        }
        assert_eq!(got.kept.trim_matches('\n'), got.kept, "round {round}");
    }
}

#[test]
fn very_long_and_repetitive_inputs_are_handled() {
    let long_line = "x".repeat(1_000_000);
    assert_eq!(kept(&long_line), long_line);

    let long_header = format!("On 1 Jan 2024 {long_line} wrote:\n> q\nanswer");
    assert!(kept(&long_header).ends_with("answer"));

    for unit in [
        "-- \n",
        "--\n",
        "Sent from my iPhone\n",
        "On 1 Jan 2024, A <a@b.c>\n",
        "From: a\n",
        "> q\nanswer\n",
        "On 1 Jan 2024, A <a@b.c> wrote:\n> q\n",
        "________________________________\n\n",
    ] {
        let text = unit.repeat(20_000);
        let got = extract_reply(&text);
        assert!(got.kept.len() + got.trimmed.map_or(0, |t| t.len()) > 0);
    }
}
