//! Why each removed line was removed, for `threadgate extract`: the passes are replayed
//! exactly as [`super::extract_reply_with`] runs them, and each run of lines a pass removed is
//! named by the rule that removed it (the first line of the run tells which of the pass's
//! rules it was).

use super::languages::{attribution, field_kind, is_mobile_footer, is_separator};
use super::{Fate, Lines, Pass, Sent, fates, normalize_newlines, use_weak_runs};

/// One run of removed lines (1-based, inclusive) and the rule that removed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub first: usize,
    pub last: usize,
    pub rule: String,
}

/// The cuts [`super::extract_reply_with`] makes in `text`, in order, each with its rule.
/// Lines an inline answer brought back as context are not cuts.
#[must_use]
pub fn explain(text: &str, sent: Option<&Sent>) -> Vec<Cut> {
    let normalized = normalize_newlines(text);
    let lines = Lines::new(&normalized);
    let sent = sent.map(|s| &s.0);
    let weak_runs = use_weak_runs(&lines, sent);
    // The pass that first dropped each line.
    let mut by: Vec<Option<Pass>> = vec![None; lines.len()];
    fates(&lines, sent, weak_runs, &mut |pass, fate| {
        for (j, f) in fate.iter().enumerate() {
            match f {
                Fate::Drop if by[j].is_none() => by[j] = Some(pass),
                Fate::Keep | Fate::Context => by[j] = None,
                Fate::Drop => {}
            }
        }
    });
    let mut cuts = Vec::new();
    let mut j = 0;
    while j < lines.len() {
        let Some(pass) = by[j] else {
            j += 1;
            continue;
        };
        let mut last = j;
        while last + 1 < lines.len() && by[last + 1] == Some(pass) {
            last += 1;
        }
        // Shown from its first to its last line of text.
        let first_text = (j..=last).find(|&k| !lines.blank[k]);
        let last_text = (j..=last).rev().find(|&k| !lines.blank[k]);
        if let (Some(k), Some(end)) = (first_text, last_text) {
            cuts.push(Cut {
                first: k + 1,
                last: end + 1,
                rule: rule(&lines, pass, k),
            });
        }
        j = last + 1;
    }
    cuts
}

/// The rule of `pass` that removed the run whose first non-blank line is `k`.
fn rule(lines: &Lines, pass: Pass, k: usize) -> String {
    let line = lines.text[k].trim();
    let shown: String = line.chars().take(60).collect();
    match pass {
        Pass::Marker if super::has_marker(line) => {
            "our reply marker: everything below it is history".into()
        }
        Pass::Marker => format!("the attribution right above our reply marker ({shown:?})"),
        Pass::QuoteHeaders if lines.quoted[k] => {
            "quoted history below an attribution (unquoted lines among it are kept as answers)"
                .into()
        }
        Pass::QuoteHeaders if is_separator(line) => {
            format!("an \"original message\" separator ({shown:?}) and the history below it")
        }
        Pass::QuoteHeaders if attribution(line).is_some() || line.ends_with(':') => {
            format!("an attribution line ({shown:?}) and the quote below it")
        }
        Pass::QuoteHeaders if field_kind(line).is_some() || line.starts_with('_') => format!(
            "a header block ({shown:?}, From/Sent/To in the client's language) and the history below it"
        ),
        Pass::QuoteHeaders => format!("a quote header ({shown:?}) and the history below it"),
        Pass::SentText if line.ends_with(':') => format!(
            "the attribution ({shown:?}, in any language) right above the text of the notification we sent, and that text"
        ),
        Pass::SentText if field_kind(line).is_some() || line.contains(": ") => format!(
            "the header block ({shown:?}, in any language) right above the text of the notification we sent, and that text"
        ),
        Pass::SentText => "the text of the notification we sent, found quoted".into(),
        Pass::Signature if is_mobile_footer(line) => {
            format!("a phone's or app's footer ({shown:?})")
        }
        Pass::Signature => "a signature (below the \"-- \" delimiter)".into(),
        Pass::TrailingQuote => "a quote at the very end, without a header".into(),
        // (This pass only brings lines back: nothing it drops.)
        Pass::TaggedAnswers => "history around an inline answer".into(),
        Pass::BlankLines => "blank lines between removed parts".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cut_is_named_by_its_rule() {
        let text = "Perfetto.\n\nInviato da iPhone\n\nIl giorno lun 23 nov 2026 alle ore 10:00 Agnes <a@b.example> ha scritto:\n\n> Ciao Mario\n> a presto\n";
        let cuts = explain(text, None);
        assert_eq!(cuts.len(), 3, "{cuts:?}");
        assert!(cuts[0].rule.contains("footer"), "{cuts:?}");
        assert_eq!((cuts[0].first, cuts[0].last), (3, 3));
        assert!(cuts[1].rule.contains("attribution"), "{cuts:?}");
        assert_eq!(cuts[1].first, 5);
        assert!(cuts[2].rule.contains("quoted history"), "{cuts:?}");
        assert_eq!((cuts[2].first, cuts[2].last), (7, 8));
        let footer = "Perfetto.\n\nInviato da iPhone";
        let cuts = explain(footer, None);
        assert_eq!(cuts.len(), 1);
        assert!(cuts[0].rule.contains("footer"), "{cuts:?}");
        assert_eq!((cuts[0].first, cuts[0].last), (3, 3));
    }

    #[test]
    fn our_text_and_the_header_block_above_it_are_named() {
        let sent = "Hello Mario,\n\nhere is the revised quote for the air conditioning. The total is 4,250 EUR excluding VAT, installation included.";
        let text = format!("Ok.\n\nZorg: Agnes <n@example.net>\nPlimt: 23 xnov 2026\n\n{sent}\n");
        let cuts = explain(&text, Sent::new(sent).as_ref());
        let rules: Vec<&str> = cuts.iter().map(|c| c.rule.as_str()).collect();
        assert_eq!(rules.len(), 1, "{rules:?}");
        assert!(
            rules[0].starts_with("the header block (\"Zorg: Agnes"),
            "{rules:?}"
        );
        assert!(rules[0].contains("notification we sent"), "{rules:?}");
    }
}
