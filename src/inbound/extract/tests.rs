//! Tests of the reply extractor through its public entry points: plain replies, our marker,
//! quote headers in each language, Outlook blocks and separators, signatures and footers,
//! quotes, inline answers, forwarded messages.

use super::*;

pub(super) fn kept(text: &str) -> String {
    extract_reply(text).kept
}

// --- plain replies ------------------------------------------------------

#[test]
fn plain_reply_without_history_is_untouched() {
    let text = "Hi Alice,\n\nSounds good to me.\n\nBob";
    let got = extract_reply(text);
    assert_eq!(got.kept, text);
    assert_eq!(got.trimmed, None);
}

#[test]
fn surrounding_blank_lines_are_trimmed_but_trailing_spaces_kept() {
    let got = extract_reply("\n\n  \nFirst line  \nSecond line\t\n\n\n");
    assert_eq!(got.kept, "First line  \nSecond line\t");
    assert_eq!(got.trimmed, None);
}

#[test]
fn empty_input_gives_empty_kept_and_nothing_trimmed() {
    let got = extract_reply("");
    assert_eq!(got.kept, "");
    assert_eq!(got.trimmed, None);
}

#[test]
fn whitespace_only_input_gives_empty_kept_and_nothing_trimmed() {
    let got = extract_reply(" \n\t\r\n\u{a0}\r");
    assert_eq!(got.kept, "");
    assert_eq!(got.trimmed, None);
}

#[test]
fn crlf_input_is_normalised_before_extraction() {
    let text = "Thanks!\r\n\r\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\r\n> Can you come?\r\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Thanks!");
    assert_eq!(
        got.trimmed.as_deref(),
        Some("On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you come?")
    );
    assert!(!got.kept.contains('\r'));
}

#[test]
fn lone_cr_line_endings_are_normalised_too() {
    let got = extract_reply("Yes.\rSecond line.\r\r> old quote\r");
    assert_eq!(got.kept, "Yes.\nSecond line.");
    assert_eq!(got.trimmed.as_deref(), Some("> old quote"));
}

#[test]
fn unicode_text_is_preserved_exactly() {
    let text = "Ça marche 👍 — 日本語もOK.\nZeile mit Ümlaut.";
    assert_eq!(kept(text), text);
}

// --- our marker -----------------------------------------------------------

#[test]
fn reply_marker_trims_everything_below_it() {
    let text = "I'll be there.\n\n##- Reply above this line -##\nAlice commented on \"Launch\":\nSee you Friday.";
    let got = extract_reply(text);
    assert_eq!(got.kept, "I'll be there.");
    assert_eq!(
        got.trimmed.as_deref(),
        Some("##- Reply above this line -##\nAlice commented on \"Launch\":\nSee you Friday.")
    );
}

#[test]
fn quoted_reply_marker_and_the_header_above_it_are_trimmed() {
    let text = "I'll be there.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Threadgate <\nnotify@threadgate.example> wrote:\n\n> ##- Reply above this line -##\n> Alice commented:\n> See you Friday.\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "I'll be there.");
    let trimmed = got.trimmed.unwrap();
    assert!(trimmed.starts_with("On Mon, Jan 1, 2024 at 10:00 AM Threadgate <"));
    assert!(trimmed.ends_with("> See you Friday."));
}

#[test]
fn nested_quoted_reply_marker_is_found() {
    let text = "Agreed.\n>> ##- Reply above this line -##\n>> old";
    assert_eq!(kept(text), "Agreed.");
}

#[test]
fn header_without_date_directly_above_the_marker_is_trimmed() {
    // Without the marker this header would be kept (no digit); the marker
    // is evidence enough that the line above it is the client's header.
    let text = "Works for me.\n\nOn Monday, Threadgate wrote:\n>\n> ##- Reply above this line -##\n> Alice: ok?";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Works for me.");
    assert!(
        got.trimmed
            .unwrap()
            .starts_with("On Monday, Threadgate wrote:")
    );
}

#[test]
fn text_directly_above_the_marker_that_is_not_a_header_is_kept() {
    let text = "Here are the numbers:\n12, 14, 15\n##- Reply above this line -##\nold";
    assert_eq!(kept(text), "Here are the numbers:\n12, 14, 15");
}

#[test]
fn reply_marker_at_the_top_gives_empty_kept() {
    let got = extract_reply("> ##- Reply above this line -##\n> Alice commented.");
    assert_eq!(got.kept, "");
    assert!(got.trimmed.is_some());
}

#[test]
fn unquoted_text_below_the_marker_is_trimmed_too() {
    // By contract everything below the marker is history, even unquoted
    // lines (the notification asked people to reply above).
    let text = "Top.\n> ##- Reply above this line -##\n> Alice: ok?\nBottom answer.";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Top.");
    assert!(got.trimmed.unwrap().ends_with("Bottom answer."));
}

// --- localized "wrote:" headers ---------------------------------------

#[test]
fn english_on_wrote_header_is_trimmed() {
    let text = "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n\n> Shall we meet?\n> Alice\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Sounds good.");
    assert_eq!(
        got.trimmed.as_deref(),
        Some(
            "On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n\n> Shall we meet?\n> Alice"
        )
    );
}

#[test]
fn thunderbird_header_without_address_followed_by_quote_is_trimmed() {
    let text = "Yes.\n\nOn 1/1/24 10:00, Alice Example wrote:\n> Shall we meet?";
    assert_eq!(kept(text), "Yes.");
}

#[test]
fn french_le_a_ecrit_header_with_nbsp_before_colon_is_trimmed() {
    let text = "D'accord.\n\nLe lun. 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit\u{a0}:\n> On se voit ?";
    assert_eq!(kept(text), "D'accord.");
}

#[test]
fn french_header_with_plain_space_or_no_space_before_colon_is_trimmed() {
    for header in [
        "Le 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit :",
        "Le 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit:",
        "Le 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit\u{202f}:",
    ] {
        let text = format!("D'accord.\n\n{header}\n> On se voit ?");
        assert_eq!(kept(&text), "D'accord.", "header: {header}");
    }
}

#[test]
fn german_am_schrieb_header_is_trimmed() {
    let text =
        "Passt.\n\nAm 01.01.2024 um 10:00 schrieb Alice <alice@example.com>:\n> Treffen wir uns?";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Passt.");
    assert!(got.trimmed.unwrap().starts_with("Am 01.01.2024"));
}

#[test]
fn spanish_el_escribio_header_is_trimmed() {
    let text = "Perfecto.\n\nEl lun, 1 ene 2024 a las 10:00, Alice (<alice@example.com>) escribió:\n> ¿Nos vemos?";
    assert_eq!(kept(text), "Perfecto.");
}

#[test]
fn gmail_wrapped_on_wrote_header_is_trimmed() {
    let text = "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice Example <\nalice@example.com> wrote:\n\n> Shall we meet?\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Sounds good.");
    assert!(got.trimmed.unwrap().starts_with("On Mon, Jan 1, 2024"));
}

#[test]
fn header_wrapped_over_three_lines_is_trimmed() {
    let text = "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM\nAlice Example from the Department of Long Names <\nalice@example.com> wrote:\n> Shall we meet?";
    assert_eq!(kept(text), "Sounds good.");
}

#[test]
fn french_header_wrapped_over_two_lines_is_trimmed() {
    let text = "D'accord.\n\nLe lun. 1 janv. 2024 à 10:00, Alice Example <alice@example.com> a\nécrit :\n> On se voit ?";
    assert_eq!(kept(text), "D'accord.");
}

#[test]
fn header_longer_than_the_limit_is_not_a_header() {
    let long_name = "very ".repeat(80);
    let text = format!("On 1 Jan 2024 {long_name}long Alice wrote:\n> quote\nMy answer.");
    let got = extract_reply(&text);
    assert!(got.kept.starts_with("On 1 Jan 2024 very"));
    assert!(got.kept.ends_with("My answer."));
}

// --- never lose the person's words ---------------------------------------

#[test]
fn text_ending_with_a_colon_is_kept() {
    let text = "Here are the numbers:\n\n12, 14, 15";
    let got = extract_reply(text);
    assert_eq!(got.kept, text);
    assert_eq!(got.trimmed, None);
}

#[test]
fn line_ending_with_colon_followed_by_a_quote_and_more_text_is_kept() {
    let text = "You said:\n> ship on Friday\nI agree.";
    assert_eq!(kept(text), text);
}

#[test]
fn wrote_in_the_middle_of_a_sentence_is_kept() {
    let text = "On reflection, what you wrote: is fine by me.\nThanks for the 2 drafts.";
    let got = extract_reply(text);
    assert_eq!(got.kept, text);
    assert_eq!(got.trimmed, None);
}

#[test]
fn sentence_shaped_like_a_header_without_a_date_is_kept() {
    let text = "On the other hand, as my colleague wrote:\nwe should wait for the audit.";
    assert_eq!(kept(text), text);
}

#[test]
fn dated_sentence_followed_by_own_paragraph_is_not_a_header() {
    // A digit and the right shape, but no quote below and no address: the
    // person is talking, not their mail client.
    let text = "On 3 March the CEO wrote:\n\"We ship in May.\"\nI doubt it.";
    assert_eq!(kept(text), text);
}

#[test]
fn wrapped_paragraph_shaped_like_a_header_is_kept() {
    let text = "On the 2nd day I read what\nthe board wrote:\nnothing useful.";
    assert_eq!(kept(text), text);
}

#[test]
fn rewrote_is_not_wrote() {
    let text = "On 2 May Bob rewrote:\n> text";
    // Not a header, so the trailing quote goes but the line stays.
    assert_eq!(kept(text), "On 2 May Bob rewrote:");
}

// --- Outlook and separators ---------------------------------------------

#[test]
fn outlook_english_header_block_is_trimmed() {
    let text = "Approved.\n\nFrom: Alice Example <alice@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: Bob <bob@example.com>\nSubject: Budget\n\nPlease approve the budget.\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Approved.");
    assert_eq!(
        got.trimmed.as_deref(),
        Some(
            "From: Alice Example <alice@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: Bob <bob@example.com>\nSubject: Budget\n\nPlease approve the budget."
        )
    );
}

#[test]
fn outlook_french_header_block_is_trimmed_with_or_without_space_before_colon() {
    for (de, envoye, a, objet) in [
        ("De :", "Envoyé :", "À :", "Objet :"),
        ("De:", "Envoyé:", "À:", "Objet:"),
        ("De\u{a0}:", "Envoyé\u{a0}:", "À\u{a0}:", "Objet\u{a0}:"),
    ] {
        let text = format!(
            "Validé.\n\n{de} Alice <alice@example.com>\n{envoye} lundi 1 janvier 2024 10:00\n{a} Bob\n{objet} Budget\n\nMerci de valider."
        );
        let got = extract_reply(&text);
        assert_eq!(got.kept, "Validé.", "labels: {de}");
        assert!(got.trimmed.unwrap().ends_with("Merci de valider."));
    }
}

#[test]
fn outlook_german_header_block_is_trimmed() {
    let text = "Freigegeben.\n\nVon: Alice <alice@example.com>\nGesendet: Montag, 1. Januar 2024 10:00\nAn: Bob\nBetreff: Budget\n\nBitte freigeben.";
    assert_eq!(kept(text), "Freigegeben.");
}

#[test]
fn outlook_block_with_bold_labels_converted_to_stars_is_trimmed() {
    let text = "Ok.\n\n*From:* Alice <alice@example.com>\n*Sent:* Monday, January 1, 2024 10:00 AM\n*To:* Bob\n*Subject:* Budget\n\nBody";
    assert_eq!(kept(text), "Ok.");
}

#[test]
fn from_line_without_sent_and_to_lines_is_kept() {
    let text = "From: the team\nWe are happy to announce the release.";
    assert_eq!(kept(text), text);
}

#[test]
fn outlook_underscore_rule_and_header_block_are_trimmed() {
    let text = "Approved.\n\n________________________________\nFrom: Alice <alice@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: Bob\nSubject: Budget\n\nPlease approve.";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Approved.");
    assert!(
        got.trimmed
            .unwrap()
            .starts_with("________________________________\nFrom:")
    );
}

#[test]
fn underscore_line_not_followed_by_a_header_is_kept() {
    let text = "Sign here:\n________________________________\nThanks";
    assert_eq!(kept(text), text);
}

#[test]
fn original_message_separator_is_trimmed() {
    let text = "Done.\n\n-----Original Message-----\nFrom: Alice\nSent: Monday\nTo: Bob\nSubject: Task\n\nPlease do it.";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Done.");
    assert!(
        got.trimmed
            .unwrap()
            .starts_with("-----Original Message-----")
    );
}

#[test]
fn french_and_german_original_message_separators_are_trimmed() {
    for sep in [
        "-----Message d'origine-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Mensaje original-----",
    ] {
        let text = format!("Fait.\n\n{sep}\nold text");
        let got = extract_reply(&text);
        assert_eq!(got.kept, "Fait.", "separator: {sep}");
        assert_eq!(got.trimmed, Some(format!("{sep}\nold text")));
    }
}

#[test]
fn dashes_around_other_words_are_kept() {
    let text = "Agenda\n-----Budget-----\nItem one";
    assert_eq!(kept(text), text);
}

// --- signatures -----------------------------------------------------------

#[test]
fn rfc3676_signature_delimiter_trims_the_signature() {
    let text = "See you then.\n\n-- \nBob Example\nACME Corp.\n+1 555 0100\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "See you then.");
    assert_eq!(
        got.trimmed.as_deref(),
        Some("-- \nBob Example\nACME Corp.\n+1 555 0100")
    );
}

#[test]
fn long_signature_after_rfc3676_delimiter_is_trimmed_whole() {
    let sig: String = (0..20).map(|k| format!("Disclaimer line {k}\n")).collect();
    let text = format!("Fine.\n-- \n{sig}");
    assert_eq!(kept(&text), "Fine.");
}

#[test]
fn bare_double_dash_near_the_end_trims_the_signature() {
    let text = "See you then.\n--\nBob\nACME";
    let got = extract_reply(text);
    assert_eq!(got.kept, "See you then.");
    assert_eq!(got.trimmed.as_deref(), Some("--\nBob\nACME"));
}

#[test]
fn bare_double_dash_followed_by_a_long_text_is_kept() {
    let body: String = (1..=8).map(|k| format!("Point {k}\n")).collect();
    let text = format!("Intro\n--\n{body}");
    assert_eq!(kept(&text), text.trim_end());
}

#[test]
fn signature_above_the_quote_header_is_trimmed_with_the_history() {
    let text = "Thanks!\n-- \nBob\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you come?";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Thanks!");
    let trimmed = got.trimmed.unwrap();
    assert!(trimmed.starts_with("-- \nBob"));
    assert!(trimmed.ends_with("> Can you come?"));
}

#[test]
fn signature_followed_by_more_new_text_is_kept() {
    let text = "-- \nThis dash line opens my message, it is not a signature... or is it?\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> q\nInline answer.";
    let got = extract_reply(text);
    assert!(got.kept.contains("Inline answer."));
    assert!(got.kept.starts_with("-- \nThis dash line"));
}

#[test]
fn english_mobile_footers_are_trimmed() {
    for footer in [
        "Sent from my iPhone",
        "Sent from my iPad",
        "Sent from my Android phone",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from Mail for Windows",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Get Outlook for Android",
    ] {
        let got = extract_reply(&format!("On my way.\n\n{footer}\n"));
        assert_eq!(got.kept, "On my way.", "footer: {footer}");
        assert_eq!(got.trimmed.as_deref(), Some(footer));
    }
}

#[test]
fn french_mobile_footers_are_trimmed() {
    for footer in [
        "Envoyé de mon iPhone",
        "Envoyé de mon iPad",
        "Envoyé depuis mon smartphone Samsung Galaxy",
        "Obtenir Outlook pour iOS",
    ] {
        assert_eq!(
            kept(&format!("J'arrive.\n\n{footer}")),
            "J'arrive.",
            "footer: {footer}"
        );
    }
}

#[test]
fn german_and_spanish_mobile_footers_are_trimmed() {
    for footer in ["Von meinem iPhone gesendet", "Enviado desde mi iPhone"] {
        assert_eq!(kept(&format!("Ok.\n\n{footer}")), "Ok.", "footer: {footer}");
    }
}

#[test]
fn mobile_footer_above_a_quoted_bottom_quote_is_trimmed_with_it() {
    // iOS Mail quotes its own header line.
    let text = "Sounds good\n\nSent from my iPhone\n\n> On Jan 1, 2024, at 10:00, Alice <alice@example.com> wrote:\n>\n> Lunch?\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Sounds good");
    assert!(got.trimmed.unwrap().starts_with("Sent from my iPhone"));
}

#[test]
fn mobile_footer_followed_by_new_text_is_kept() {
    let text = "Sent from my iPhone\nis how I usually end mails, but not today.";
    assert_eq!(kept(text), text);
}

#[test]
fn sentence_starting_like_a_footer_is_kept() {
    let text = "Sent from my iPhoneography class, attached are the photos.";
    assert_eq!(kept(text), text);
}

#[test]
fn outlook_mobile_reply_with_footer_and_history_is_reduced_to_the_answer() {
    let text = "Sounds good\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Alice <alice@example.com>\nSent: Monday, January 1, 2024 10:00:00 AM\nTo: Bob <bob@example.com>\nSubject: Lunch\n\nLunch?";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Sounds good");
    assert!(got.trimmed.unwrap().ends_with("Lunch?"));
}

// --- quotes ----------------------------------------------------------------

#[test]
fn reply_that_is_only_a_quote_gives_empty_kept() {
    let text =
        "On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Shall we meet?\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "");
    assert_eq!(got.trimmed.as_deref(), Some(text.trim_end()));
}

#[test]
fn reply_that_is_only_signature_gives_empty_kept() {
    let got = extract_reply("\n-- \nBob\n");
    assert_eq!(got.kept, "");
    assert_eq!(got.trimmed.as_deref(), Some("-- \nBob"));
}

#[test]
fn trailing_quote_run_without_header_is_trimmed() {
    let text = "Yes, Friday.\n\n> Friday or Saturday?\n>\n> Alice\n\n";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Yes, Friday.");
    assert_eq!(
        got.trimmed.as_deref(),
        Some("> Friday or Saturday?\n>\n> Alice")
    );
}

#[test]
fn quote_in_the_middle_without_header_is_kept() {
    let text = "> Friday or Saturday?\n\nFriday.";
    let got = extract_reply(text);
    assert_eq!(got.kept, text);
    assert_eq!(got.trimmed, None);
}

#[test]
fn nested_quotes_below_a_header_are_trimmed() {
    let text = "New.\n\nOn 2 Jan 2024, Bob <bob@example.com> wrote:\n> Reply.\n>\n> On 1 Jan 2024, Alice <alice@example.com> wrote:\n>> Original.";
    let got = extract_reply(text);
    assert_eq!(got.kept, "New.");
    assert!(got.trimmed.unwrap().ends_with(">> Original."));
}

// --- inline answers --------------------------------------------------------

#[test]
fn interleaved_inline_answers_keep_the_new_lines_each_below_what_it_answers() {
    let text = "Hi Alice,\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you do Tuesday?\n\nYes, Tuesday works.\n\n> And bring the docs?\n\nSure, I will.\n\n> Thanks!\n";
    let got = extract_reply(text);
    assert_eq!(
        got.kept,
        "Hi Alice,\n\n> Can you do Tuesday?\n\nYes, Tuesday works.\n\n> And bring the docs?\n\nSure, I will."
    );
    // The history stays whole in what was trimmed.
    assert_eq!(
        got.trimmed.as_deref(),
        Some(
            "On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you do Tuesday?\n> And bring the docs?\n> Thanks!"
        )
    );
}

#[test]
fn inline_answers_directly_under_quotes_are_separated_by_one_blank_line() {
    let text = "On 1 Jan 2024, Alice <alice@example.com> wrote:\n> Tuesday?\nYes.\n> Docs?\nSure.";
    assert_eq!(kept(text), "> Tuesday?\nYes.\n\n> Docs?\nSure.");
}

#[test]
fn inline_answers_followed_by_a_signature_drop_the_signature() {
    let text = "On 1 Jan 2024, Alice <alice@example.com> wrote:\n> Tuesday?\n\nYes.\n\n-- \nBob\n\nSent from my iPhone";
    let got = extract_reply(text);
    assert_eq!(got.kept, "Yes.");
    // The blank line inside the removed part is reproduced verbatim.
    assert!(
        got.trimmed
            .unwrap()
            .ends_with("-- \nBob\n\nSent from my iPhone")
    );
}

#[test]
fn only_a_footer_below_the_quote_is_not_an_inline_answer() {
    let text = "Top answer.\n\nOn 1 Jan 2024, Alice <alice@example.com> wrote:\n> Tuesday?\n\nSent from my iPhone\n";
    assert_eq!(kept(text), "Top answer.");
}

#[test]
fn outlook_history_is_never_taken_for_inline_answers() {
    let text = "Done.\n\nFrom: Alice <alice@example.com>\nSent: Monday\nTo: Bob\nSubject: Task\n\n> quoted by Alice\nAlice's own text, unquoted.";
    assert_eq!(kept(text), "Done.");
}

// --- inline answers below our quoted marker -----------------------------

#[test]
fn answers_between_our_quoted_lines_are_kept() {
    let text = "Hi Agnes, answers below.\n\nOn Mon, Nov 23, 2026 at 10:02 AM Agnes <\nnotifications@example.net> wrote:\n\n> ##- Reply above this line -##\n>\n> Can you come on Tuesday?\n\nYes, in the morning.\n\n> Do you need the invoice?\n\nNo, thanks.\n\n> --\n> Reply to this email to answer.\n";
    let got = extract_reply(text);
    assert_eq!(
        got.kept,
        "Hi Agnes, answers below.\n\n> Can you come on Tuesday?\n\nYes, in the morning.\n\n> Do you need the invoice?\n\nNo, thanks."
    );
    let trimmed = got.trimmed.unwrap();
    assert!(trimmed.starts_with("On Mon, Nov 23"), "{trimmed}");
    assert!(trimmed.contains("> Do you need the invoice?"), "{trimmed}");
}

#[test]
fn bottom_posted_answer_below_our_quoted_marker_is_kept() {
    let text = "> On 23 Nov 2026, at 10:00, Agnes <a@example.net> wrote:\n> \n> ##- Reply above this line -##\n> Can you come on Tuesday?\n\nYes.\n\nCarl";
    assert_eq!(kept(text), "Yes.\n\nCarl");
}

#[test]
fn text_after_our_quote_is_dropped_when_the_person_wrote_above_it() {
    // A server disclaimer, not an answer: nothing sits between quoted lines.
    let text = "Yes, Tuesday.\n\n> ##- Reply above this line -##\n> Can you come?\n\nThis e-mail is confidential.";
    assert_eq!(kept(text), "Yes, Tuesday.");
}

#[test]
fn inline_answers_below_our_marker_lose_their_signature() {
    let text = "> ##- Reply above this line -##\n> Can you come?\nYes.\n> Bring the docs?\nSure.\n\n-- \nCarl\nACME";
    assert_eq!(
        kept(text),
        "> Can you come?\nYes.\n\n> Bring the docs?\nSure."
    );
}

#[test]
fn an_unquoted_marker_still_takes_everything_below_it() {
    let text = "Ok.\n\nFrom: Agnes <a@example.net>\nSent: Monday\nTo: Carl\nSubject: Order\n\n##- Reply above this line -##\nCan you come?\nunquoted text";
    assert_eq!(kept(text), "Ok.");
}

// --- forwarded messages -------------------------------------------------------

#[test]
fn forwarded_messages_are_kept_whole() {
    for separator in [
        "---------- Forwarded message ---------",
        "-------- Forwarded Message --------",
        "---------- Message transféré ---------",
        "-------- Weitergeleitete Nachricht --------",
        "---------- Mensaje reenviado ---------",
        "Begin forwarded message:",
        "Début du message réexpédié :",
        "Anfang der weitergeleiteten Nachricht:",
        "Inicio del mensaje reenviado:",
    ] {
        let text = format!(
            "See below.\n\n{separator}\nFrom: Dora <dora@example.org>\nDate: Mon, 23 Nov 2026\nSubject: Invoice\nTo: Carl <carl@example.com>\n\nInvoice attached.\n\nOn 1 Jan 2026, Eve <eve@example.org> wrote:\n> old\n-- \nDora"
        );
        let got = extract_reply(&text);
        assert_eq!(got.kept, text, "separator: {separator}");
        assert_eq!(got.trimmed, None, "separator: {separator}");
    }
}

#[test]
fn a_forward_below_a_reply_header_is_history() {
    let text = "Thanks.\n\nOn 1 Jan 2026, Agnes <a@example.net> wrote:\n> ---------- Forwarded message ---------\n> From: Dora\n> Invoice.";
    assert_eq!(kept(text), "Thanks.");
}

#[test]
fn a_signature_above_a_forward_goes_but_the_forward_stays() {
    let text = "FYI.\n-- \nCarl\n\n---------- Forwarded message ---------\nFrom: Dora <dora@example.org>\n\nHello.\n> quoted by Dora\n";
    let got = extract_reply(text);
    assert_eq!(
        got.kept,
        "FYI.\n\n---------- Forwarded message ---------\nFrom: Dora <dora@example.org>\n\nHello.\n> quoted by Dora"
    );
    assert_eq!(got.trimmed.as_deref(), Some("-- \nCarl"));
}

#[test]
fn outlook_block_of_a_forwarded_forward_is_kept_unless_our_marker_is_below() {
    let block = "From: Dana <dana@example.com>\nSent: Monday, November 23, 2026 11:12 AM\nTo: Carl <carl@example.com>\nSubject: FW: Delivery slot\n\nThe carrier comes after 11:00.";
    let text = format!("See below.\n\n{block}");
    assert_eq!(kept(&text), text);
    let text = format!("Ok.\n\n{block}\n\n##- Reply above this line -##\nold");
    assert_eq!(kept(&text), "Ok.");
    for subject in ["TR: Créneau", "WG: Lieferung", "RV: Entrega", "Fwd: slot"] {
        let text = format!(
            "Voir ci-dessous.\n\n________________________________\nDe : Dana\nEnvoyé : lundi\nÀ : Carl\nObjet : {subject}\n\nTexte."
        );
        assert_eq!(kept(&text), text, "subject: {subject}");
    }
}

#[test]
fn outlook_reply_block_is_not_a_forward() {
    let text = "Ok.\n\nFrom: Dana <dana@example.com>\nSent: Monday\nTo: Carl\nSubject: RE: FW: Delivery slot\n\nold";
    assert_eq!(kept(text), "Ok.");
}

// --- more footers -------------------------------------------------------------

#[test]
fn more_mobile_and_webmail_footers_are_trimmed() {
    for footer in [
        "Sent from my Galaxy",
        "Sent from Yahoo Mail on Android",
        "Envoyé depuis Yahoo Mail pour Android",
        "Sent with Proton Mail secure email.",
        "Envoyé avec la messagerie sécurisée Proton Mail.",
        "Von meinem Samsung Galaxy Smartphone gesendet.",
        "Enviado desde mi Samsung Galaxy",
        "Outlook für iOS beziehen<https://aka.ms/o0ukef>",
        "Obtener Outlook para Android<https://aka.ms/AAb9ysg>",
    ] {
        assert_eq!(
            kept(&format!("Fine.\n\n{footer}")),
            "Fine.",
            "footer: {footer}"
        );
    }
}

mod marker_tests {
    use super::*;

    #[test]
    fn the_french_marker_cuts_like_the_english_one() {
        let text = format!("Merci !\n\n> {REPLY_MARKER_FR}\n> Bonjour Carl\n");
        let e = extract_reply(&text);
        assert_eq!(e.kept, "Merci !");
        assert!(e.trimmed.unwrap().contains("Bonjour Carl"));
    }
}

/// The rules that need no words: an invented language's attribution and header labels are
/// recognized by their structure (and, for header blocks and attributions without an
/// address, by the text we sent found right below them).
mod any_language {
    use super::*;

    const SENT: &str = "Hello Mario,\n\nhere is the revised quote for the air conditioning. The total is 4,250 EUR excluding VAT, installation included.\n\nCould you confirm the date you would like?";

    #[test]
    fn an_attribution_with_a_date_and_an_address_above_a_quote_in_any_language() {
        let text = "Da zorp, 8 xdec.\n\nBlorf 23 xnov 2026 10:42, Agnes Agent <agnes@example.net> vrakt:\n\n> Hello Mario,\n> here is the quote.\n";
        let e = extract_reply(text);
        assert_eq!(e.kept, "Da zorp, 8 xdec.");
        assert!(e.trimmed.unwrap().starts_with("Blorf 23 xnov"));
    }

    #[test]
    fn an_attribution_without_an_address_goes_when_our_text_is_below_it() {
        let text = format!(
            "Da zorp.\n\nBlorf 23 xnov 2026 10:42 Agnes Agent vrakt:\n\n{}\n",
            SENT.lines()
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        // Without an address, the shape alone is not enough evidence…
        assert!(extract_reply(&text).kept.ends_with("Agnes Agent vrakt:"));
        // …but our own text right below it is.
        let e = extract_reply_knowing(&text, Some(SENT));
        assert_eq!(e.kept, "Da zorp.");
    }

    #[test]
    fn a_header_block_with_unknown_labels_goes_when_our_text_is_below_it() {
        let text = format!(
            "Da zorp.\n\nKlamp Vrek\n\nZorg: Agnes Agent <notifications@example.net>\nPlimt: 23 xnov 2026 10:42\nVrip: Mario <mario@example.it>\nQuab: Quote 2026-118\n\n{SENT}\n"
        );
        let e = extract_reply_knowing(&text, Some(SENT));
        assert_eq!(e.kept, "Da zorp.\n\nKlamp Vrek");
        assert!(e.trimmed.unwrap().starts_with("Zorg: Agnes"));
    }

    #[test]
    fn a_line_ending_with_a_colon_above_someone_else_s_quote_stays() {
        // A date but no address, and the quote is not ours: the person's own words.
        let text = "At 10:30 we agreed on this:\n> the terms of 2025\nI still agree.";
        assert_eq!(extract_reply(text).kept, text);
        // Nor does a colon line above our text lose a sentence that is not an attribution.
        let text = format!("Here is what I think:\n\n{SENT}\n\nSee you.");
        let e = extract_reply_knowing(&text, Some(SENT));
        assert!(e.kept.starts_with("Here is what I think:"), "{}", e.kept);
    }
}

/// Answers typed inside Outlook's unquoted history, marked with initials; forwards that
/// carry our own notification below them.
mod inline_and_forwards {
    use super::*;

    #[test]
    fn answers_marked_with_initials_inside_an_unquoted_history_are_kept_with_their_line() {
        let text = "Hi Agnes, answers below.\n\nFrom: Agnes Agent via threadgate <notifications@example.net>\nSent: Monday, November 23, 2026 10:00\nTo: Mario Rossi\nSubject: Quote 2026-118\n\n##- Reply above this line -##\n\nAgnes Agent · 2026-11-23 09:00 UTC\nCould you confirm the date you would like?\n[MR] Monday 8 December at 9.\n\nIs the second floor accessible?\n[MR] Yes, there is a lift.\n\nReply to this email to answer in the conversation.";
        let e = extract_reply(text);
        assert_eq!(
            e.kept,
            "Hi Agnes, answers below.\n\n> Could you confirm the date you would like?\n[MR] Monday 8 December at 9.\n\n> Is the second floor accessible?\n[MR] Yes, there is a lift."
        );
        assert!(e.trimmed.unwrap().contains("Sent: Monday"));
    }

    #[test]
    fn brackets_that_are_not_initials_are_history() {
        for line in [
            "[1] See the annex.",
            "[Draft] v2",
            "[mr]  ",
            "[ABCDE] too long",
        ] {
            assert!(!starts_with_initials(line), "{line}");
        }
        assert!(starts_with_initials("<<MR>> Yes."));
        assert!(starts_with_initials("[MR] Oui."));
    }

    #[test]
    fn a_forward_is_kept_and_our_notification_below_it_goes() {
        let sent = "Hello Mario,\n\nhere is the revised quote for the air conditioning. The total is 4,250 EUR excluding VAT, installation included.\n\nCould you confirm the date you would like?";
        let quoted: String = sent.lines().map(|l| format!("> {l}\n")).collect();
        let text = format!(
            "FYI, the supplier's answer.\n\n---------- Messaggio inoltrato ---------\nDa: Fornitore <ordini@fornitore.example>\nDate: lun 23 nov 2026 alle ore 08:12\nSubject: Consegna\nTo: <mario@example.it>\n\nLa consegna è prevista per il 7 dicembre.\n\nOn Mon, 23 Nov 2026 at 10:00, Agnes Agent <notifications@example.net> wrote:\n\n{quoted}"
        );
        let e = extract_reply_knowing(&text, Some(sent));
        assert!(
            e.kept
                .starts_with("FYI, the supplier's answer.\n\n---------- Messaggio inoltrato"),
            "{}",
            e.kept
        );
        assert!(
            e.kept
                .ends_with("La consegna è prevista per il 7 dicembre."),
            "{}",
            e.kept
        );
        // Without our text, the forward is kept whole, as before.
        assert!(extract_reply(&text).kept.contains("4,250 EUR"));
    }
}
