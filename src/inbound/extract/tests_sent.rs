//! Tests of the extractor knowing the text we sent: our text quoted, re-wrapped, reworded by
//! punctuation, short runs that stay, and linear time on large inputs.

use super::tests::kept;
use super::*;

// --- the text we sent ---------------------------------------------------------

const SENT: &str = "##- Reply above this line -##\n\nAgnes Agent wrote on 2026-11-23 09:00 UTC:\n\nHello Carl,\n\nyour order #1042 left our warehouse this morning. The carrier expects to deliver it on Thursday between 9:00 and 13:00.\n\nCould you confirm that someone will be at 12 Harbour Street to sign for it?\n\n--\nReply to this email to answer in the conversation \"Your order #1042\".\nYou receive this because you take part in it.";

fn kept_knowing(text: &str) -> String {
    extract_reply_knowing(text, Some(SENT)).kept
}

#[test]
fn without_sent_text_knowing_is_extract_reply() {
    let text = "Yes.\n\nOn 1 Jan 2026, Agnes <a@example.net> wrote:\n> Can you?\nInline.";
    assert_eq!(extract_reply_knowing(text, None), extract_reply(text));
    assert_eq!(extract_reply_knowing(text, Some("")), extract_reply(text));
    assert_eq!(
        extract_reply_knowing(text, Some(" \n-- \n")),
        extract_reply(text)
    );
}

#[test]
fn our_text_rewrapped_without_quote_marks_is_removed() {
    let text = "Thursday works.\n\nCarl\n\nAgnes Agent wrote on 2026-11-23 09:00 UTC:\n\nHello Carl,\n\nyour order #1042 left our warehouse this morning. The\ncarrier expects to deliver it on Thursday between 9:00 and\n13:00.\n\nCould you confirm that someone will be at 12 Harbour\nStreet to sign for it?";
    let got = extract_reply_knowing(text, Some(SENT));
    assert_eq!(got.kept, "Thursday works.\n\nCarl");
    assert!(got.trimmed.unwrap().ends_with("Street to sign for it?"));
    // Without the sent text, nothing says it is a quote.
    assert!(kept(text).contains("Harbour"));
}

#[test]
fn our_text_with_collapsed_whitespace_and_other_punctuation_is_removed() {
    let text = "Ok!\n\n> *Agnes Agent* wrote on 2026-11-23   09:00 UTC:\n> Hello Carl, your order #1042 left our warehouse this morning.\n> The carrier expects to deliver it on Thursday between 9:00 and 13:00.\n> Reply to this email to answer in the conversation “Your order #1042”.\n\nCarl";
    assert_eq!(kept_knowing(text), "Ok!\n\nCarl");
    assert!(kept(text).contains("warehouse"));
}

#[test]
fn quote_header_directly_above_our_text_goes_with_it() {
    // No address and no quoted line below it: only the match makes it a header.
    let text = "Yes.\n\nOn Monday, Agnes Agent via threadgate wrote:\nHello Carl,\n\nyour order #1042 left our warehouse this morning. The carrier expects to deliver it on Thursday between 9:00 and 13:00.";
    let got = extract_reply_knowing(text, Some(SENT));
    assert_eq!(got.kept, "Yes.");
    assert!(got.trimmed.unwrap().starts_with("On Monday, Agnes Agent"));
}

#[test]
fn a_short_quoted_sentence_of_ours_goes_a_repeated_phrase_stays() {
    let text = "Hi Agnes,\n\n> Could you confirm that someone will be at 12 Harbour Street to sign for it?\n\nYes, someone will be at 12 Harbour Street all day.\n\nCarl";
    assert_eq!(
        kept_knowing(text),
        "Hi Agnes,\n\nYes, someone will be at 12 Harbour Street all day.\n\nCarl"
    );
}

#[test]
fn a_line_mixing_our_words_with_new_ones_is_kept() {
    let text = "your order #1042 left our warehouse this morning, and it is still not here!";
    assert_eq!(kept_knowing(text), text);
}

#[test]
fn fewer_than_eight_unquoted_words_of_ours_are_kept() {
    // "the carrier expects to deliver it" is ours, but six words on their
    // own line are not evidence of a quote.
    let text = "About your message:\nthe carrier expects to deliver it\non Friday, not Thursday.";
    assert_eq!(kept_knowing(text), text);
}

#[test]
fn inline_answers_between_rewrapped_pieces_of_our_text_are_kept() {
    let text = "> your order #1042 left our warehouse this morning. The carrier expects to\ndeliver it on Thursday between 9:00 and 13:00.\n\nGreat.\n\n> Could you confirm that someone will be at 12 Harbour Street to sign for\nit?\n\nYes: Dana.";
    assert_eq!(kept_knowing(text), "Great.\n\nYes: Dana.");
}

#[test]
fn a_whole_short_paragraph_of_ours_rewrapped_goes_unless_it_is_all_there_is() {
    let sent = "Agnes wrote:\n\nSee you on Thursday at the warehouse.\n\nAgnes";
    let text = "Perfect, thanks.\n\nSee you on Thursday\nat the warehouse.";
    assert_eq!(
        extract_reply_knowing(text, Some(sent)).kept,
        "Perfect, thanks."
    );
    // The whole reply: the person echoing us.
    let text = "See you on Thursday\nat the warehouse.";
    assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
    // On one line of their own it is theirs.
    let text = "Perfect, thanks.\n\nSee you on Thursday at the warehouse.";
    assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
    // Inside a paragraph of theirs too.
    let text = "Perfect, thanks.\nSee you on Thursday\nat the warehouse.";
    assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
}

#[test]
fn a_courtesy_sentence_the_person_shares_with_us_stays() {
    let sent = "Agnes Agent wrote on 2026-11-23 09:00 UTC:\n\nYour invoice is attached.\n\nPlease let me know if you have any questions.";
    let text = "Paid today.\n\nPlease let me know if you have any questions.\n\nCarl";
    assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
}

#[test]
fn our_text_quoted_twice_is_removed_twice() {
    let body = "your order #1042 left our warehouse this morning. The carrier expects to deliver it on Thursday between 9:00 and 13:00.";
    let text = format!("First.\n\n{body}\n\nSecond.\n\n> {body}\n\nThird.");
    assert_eq!(kept_knowing(&text), "First.\n\nSecond.\n\nThird.");
}

#[test]
fn sent_text_removal_is_linear_on_large_and_repetitive_inputs() {
    let sent = "the the the the\n".repeat(50_000);
    let reply = format!("Mine.\n\n{}", "> the the the the\n".repeat(50_000));
    assert_eq!(extract_reply_knowing(&reply, Some(&sent)).kept, "Mine.");
    let sent: String = (0..100_000).map(|i| format!("w{} ", i % 1000)).collect();
    let reply: String = (0..100_000)
        .map(|i| format!("w{}\n", (i * 7) % 1000))
        .collect();
    let _ = extract_reply_knowing(&reply, Some(&sent));
}
