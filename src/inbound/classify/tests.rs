//! Tests of the classifier: auto-replies by header and by subject, loops, bounces (RFC 3464
//! reports and plain-text ones), and people who are not machines.

use super::bounce::{enhanced_status, smtp_code_position};
use super::loops::is_our_message_id;
use super::*;
use crate::domain::EmailAddress;

fn own() -> SendingDomains {
    SendingDomains::single(
        EmailAddress::parse("notifications@gw.test").unwrap(),
        "reply.gw.test",
    )
}

const OURS: &str = "cnv_7q2mfa3ktgnhxl4w.per_c4rlz6fkq3vm2xyp.3.k2j5n7q4xw6tr3ma@reply.gw.test";

fn person() -> ParsedEmail {
    ParsedEmail {
        from: Some(EmailAddress::parse("carl@client.test").unwrap()),
        subject: Some("Re: Your order".into()),
        text_body: Some("Thanks!".into()),
        ..ParsedEmail::default()
    }
}

fn with_header(name: &str, value: &str) -> ParsedEmail {
    let mut p = person();
    p.headers.push((name.into(), value.into()));
    p
}

fn with_subject(subject: &str) -> ParsedEmail {
    ParsedEmail {
        subject: Some(subject.into()),
        ..person()
    }
}

fn class(p: &ParsedEmail) -> &'static str {
    class_from(p, "carl@client.test")
}

fn class_from(p: &ParsedEmail, envelope_from: &str) -> &'static str {
    match classify(p, envelope_from, &own()) {
        None => "human",
        Some(Machine::AutoReply(_)) => "auto_reply",
        Some(Machine::Bounce(_)) => "bounce",
        Some(Machine::Loop(_)) => "loop",
    }
}

fn bounce_of(p: &ParsedEmail, envelope_from: &str) -> Bounce {
    match classify(p, envelope_from, &own()) {
        Some(Machine::Bounce(b)) => b,
        other => panic!("not a bounce: {other:?}"),
    }
}

fn dsn(status: &str) -> ParsedEmail {
    ParsedEmail {
        is_delivery_report: true,
        delivery_status: Some(status.into()),
        ..ParsedEmail::default()
    }
}

// --- auto-replies: headers -------------------------------------------------------------

#[test]
fn auto_submitted_other_than_no_is_an_auto_reply() {
    for value in [
        "auto-replied",
        "Auto-Replied",
        "auto-generated",
        "auto-notified",
    ] {
        assert_eq!(
            class(&with_header("auto-submitted", value)),
            "auto_reply",
            "{value}"
        );
    }
    assert_eq!(class(&with_header("auto-submitted", "no")), "human");
    assert_eq!(class(&with_header("auto-submitted", "No")), "human");
    assert_eq!(
        class(&with_header("auto-submitted", "no (sent by a person)")),
        "human"
    );
}

#[test]
fn auto_submitted_parameters_and_comments_are_ignored() {
    let p = with_header(
        "auto-submitted",
        "auto-replied; owner-email=\"dana@client.test\"",
    );
    assert_eq!(
        classify(&p, "dana@client.test", &own()),
        Some(Machine::AutoReply("auto-submitted: auto-replied".into()))
    );
    assert_eq!(
        class(&with_header("auto-submitted", "auto-replied (vacation)")),
        "auto_reply"
    );
}

#[test]
fn x_autoreply_x_autorespond_and_x_autoresponder_are_auto_replies_unless_they_say_no() {
    for name in ["x-autoreply", "x-autorespond", "x-autoresponder"] {
        assert_eq!(class(&with_header(name, "yes")), "auto_reply", "{name}");
        assert_eq!(class(&with_header(name, "")), "auto_reply", "{name} empty");
        assert_eq!(class(&with_header(name, "no")), "human", "{name}: no");
        assert_eq!(class(&with_header(name, "false")), "human", "{name}: false");
    }
}

#[test]
fn precedence_auto_reply_bulk_junk_and_list_are_automatic_and_first_class_is_not() {
    for value in ["auto_reply", "bulk", "junk", "list", "Bulk", "\"bulk\""] {
        assert_eq!(
            class(&with_header("precedence", value)),
            "auto_reply",
            "{value}"
        );
        assert_eq!(
            class(&with_header("x-precedence", value)),
            "auto_reply",
            "x- {value}"
        );
    }
    assert_eq!(class(&with_header("precedence", "first-class")), "human");
    assert_eq!(class(&with_header("precedence", "normal")), "human");
}

#[test]
fn exchange_inbox_rules_and_mailbox_rules_agent_are_auto_replies() {
    assert_eq!(
        class(&with_header(
            "x-ms-exchange-inbox-rules-loop",
            "dana@client.test"
        )),
        "auto_reply"
    );
    assert_eq!(
        class(&with_header(
            "x-ms-exchange-generated-message-source",
            "Mailbox Rules Agent"
        )),
        "auto_reply"
    );
    assert_eq!(
        class(&with_header(
            "x-ms-exchange-generated-message-source",
            "Transport Rule Agent"
        )),
        "auto_reply"
    );
}

#[test]
fn x_auto_response_suppress_alone_is_not_an_auto_reply() {
    assert_eq!(
        class(&with_header("x-auto-response-suppress", "All")),
        "human"
    );
    assert_eq!(
        class(&with_header(
            "x-auto-response-suppress",
            "DR, RN, NRN, OOF, AutoReply"
        )),
        "human"
    );
}

#[test]
fn exchange_transport_headers_of_ordinary_mail_are_not_auto_replies() {
    let mut p = person();
    for (n, v) in [
        ("x-ms-exchange-organization-authas", "Internal"),
        ("x-ms-exchange-crosstenant-fromentityheader", "Hosted"),
        (
            "x-ms-exchange-transport-crosstenantheadersstamped",
            "AM0PR05MB1234",
        ),
        ("x-ms-has-attach", ""),
        ("x-ms-tnef-correlator", ""),
        ("thread-topic", "Your order"),
    ] {
        p.headers.push((n.into(), v.into()));
    }
    assert_eq!(class(&p), "human");
}

#[test]
fn x_mailer_is_never_a_sign_of_a_machine() {
    for mailer in [
        "Microsoft Outlook 16.0",
        "Zimbra 10.0",
        "Autoresponder 2.0",
        "vacation",
    ] {
        assert_eq!(class(&with_header("x-mailer", mailer)), "human", "{mailer}");
    }
}

#[test]
fn list_id_and_list_unsubscribe_make_a_newsletter_an_auto_reply() {
    assert_eq!(
        class(&with_header("list-id", "<news.shop.test>")),
        "auto_reply"
    );
    assert_eq!(
        class(&with_header("list-unsubscribe", "<mailto:unsub@shop.test>")),
        "auto_reply"
    );
}

#[test]
fn read_receipts_and_other_reports_are_automatic_but_not_bounces() {
    let p = with_header(
        "content-type",
        "multipart/report; report-type=\"disposition-notification\"; boundary=\"b\"",
    );
    assert_eq!(
        classify(&p, "carl@client.test", &own()),
        Some(Machine::AutoReply(
            "automatic report (disposition-notification)".into()
        ))
    );
    assert_eq!(
        class(&with_header("content-type", "multipart/mixed; boundary=x")),
        "human"
    );
}

// --- auto-replies: subjects ------------------------------------------------------------

#[test]
fn localized_responder_subjects_are_auto_replies() {
    for subject in [
        "Automatic reply: Re: Your order",
        "Auto Reply: Your order",
        "Autoreply: Your order",
        "Auto-Reply: Your order",
        "Out of Office: Re: Your order",
        "Out of Office AutoReply: Re: Your order",
        "Out of the office",
        "Réponse automatique : Re: Votre commande",
        "Réponse\u{a0}automatique\u{a0}: Re: Votre commande",
        "Absence du bureau",
        "Absent du bureau : Re: Votre commande",
        "Abwesenheitsnotiz: AW: Ihre Bestellung",
        "Automatische Antwort: AW: Ihre Bestellung",
        "Respuesta automática: RE: Su pedido",
        "Fuera de la oficina",
        "Risposta automatica: R: Il suo ordine",
        "Absence",
        "Absence: Re: Votre commande",
        "ABSENCE : du 1er au 15 août",
        "[Auto-Reply] Re: Your order",
        "  automatic   reply:Re: Your order",
    ] {
        assert!(auto_reply_subject(subject).is_some(), "{subject:?}");
        assert_eq!(class(&with_subject(subject)), "auto_reply", "{subject:?}");
    }
}

#[test]
fn absence_is_a_responder_subject_only_as_a_prefix_with_a_colon_or_the_whole_subject() {
    for subject in [
        "Re: absence next week",
        "Re: Absence next week",
        "Absence next week",
        "Absences",
        "Absenteeism report",
    ] {
        assert_eq!(auto_reply_subject(subject), None, "{subject:?}");
        assert_eq!(class(&with_subject(subject)), "human", "{subject:?}");
    }
}

#[test]
fn a_person_answering_an_automatic_reply_is_not_an_auto_reply() {
    for subject in [
        "Re: Automatic reply: Your order",
        "AW: Abwesenheitsnotiz: Ihre Bestellung",
        "Re: Out of Office: Your order",
    ] {
        assert_eq!(class(&with_subject(subject)), "human", "{subject:?}");
    }
}

#[test]
fn responder_words_inside_a_subject_or_without_a_colon_are_human() {
    for subject in [
        "Re: Your order",
        "Out of office last week, sorry",
        "Re: I was out of office",
        "Automatic replies are annoying",
        "",
    ] {
        assert_eq!(class(&with_subject(subject)), "human", "{subject:?}");
    }
}

#[test]
fn a_body_saying_out_of_office_is_human() {
    let p = ParsedEmail {
        text_body: Some("I was out of office last week. Automatic reply: sorry!".into()),
        ..person()
    };
    assert_eq!(class(&p), "human");
}

// --- loops ------------------------------------------------------------------------------

#[test]
fn our_own_notifications_coming_back_are_loops() {
    let p = ParsedEmail {
        from: Some(EmailAddress::parse("Notifications@GW.test").unwrap()),
        ..ParsedEmail::default()
    };
    assert!(matches!(
        classify(&p, "x@y.test", &own()),
        Some(Machine::Loop(_))
    ));
}

#[test]
fn any_x_threadgate_loop_header_is_a_loop() {
    assert_eq!(
        class(&with_header("x-threadgate-loop", "gw1.example.net")),
        "loop"
    );
    assert_eq!(class(&with_header("x-threadgate-loop", "")), "loop");
}

#[test]
fn mail_carrying_our_own_message_id_is_a_loop() {
    let p = ParsedEmail {
        message_id: Some(OURS.into()),
        ..person()
    };
    assert_eq!(class(&p), "loop");
}

#[test]
fn an_auto_generated_answer_to_our_notification_is_a_loop() {
    let mut p = with_header("auto-submitted", "auto-generated");
    p.in_reply_to = vec![OURS.into()];
    assert_eq!(class(&p), "loop");
    // Not an answer to our mail: an ordinary automatic message.
    p.in_reply_to = vec!["abc@client.test".into()];
    assert_eq!(class(&p), "auto_reply");
}

#[test]
fn an_out_of_office_answering_our_notification_stays_an_auto_reply() {
    let mut p = with_header("auto-submitted", "auto-generated");
    p.headers.push((
        "x-ms-exchange-generated-message-source".into(),
        "Mailbox Rules Agent".into(),
    ));
    p.in_reply_to = vec![OURS.into()];
    assert_eq!(class(&p), "auto_reply");
    let mut p = with_header("auto-submitted", "auto-replied");
    p.in_reply_to = vec![OURS.into()];
    assert_eq!(class(&p), "auto_reply");
}

#[test]
fn a_person_replying_to_our_notification_is_not_a_loop() {
    let mut p = person();
    p.in_reply_to = vec![OURS.into()];
    assert_eq!(class(&p), "human");
}

#[test]
fn only_our_message_id_shape_counts_as_ours() {
    assert!(is_our_message_id(OURS));
    assert!(is_our_message_id(&format!("<{OURS}>")));
    assert!(is_our_message_id("cnv_a.per_b.1.mac@reply.test"));
    for other in [
        "CAF1@mail.gmail.com",
        "cnv_a.per_b.x.mac@reply.test",
        "cnv_a.per_b.1@reply.test",
        "msg_a.per_b.1.mac@reply.test",
        "cnv_a.per_b.1.mac.extra@reply.test",
        "cnv_a.per_b.1.mac@",
        "",
    ] {
        assert!(!is_our_message_id(other), "{other}");
    }
}

// --- bounces ----------------------------------------------------------------------------

#[test]
fn null_sender_and_reports_are_bounces() {
    assert!(matches!(
        classify(&ParsedEmail::default(), "", &own()),
        Some(Machine::Bounce(_))
    ));
    assert_eq!(class_from(&person(), "<>"), "bounce");
    let p = dsn(
        "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; Carl@Client.test\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n",
    );
    let b = bounce_of(&p, "mailer@x.test");
    assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(b.diagnostic.as_deref(), Some("550 5.1.1 no such user"));
    assert_eq!(b.action.as_deref(), Some("failed"));
    assert!(b.permanent);
    assert!(b.is_delivery_failure());
}

#[test]
fn a_vacation_reply_sent_with_the_null_sender_is_an_auto_reply_not_a_bounce() {
    let p = with_header("auto-submitted", "auto-replied (vacation)");
    assert_eq!(class_from(&p, ""), "auto_reply");
    assert_eq!(
        class_from(&with_subject("Automatic reply: Re: Your order"), "<>"),
        "auto_reply"
    );
}

#[test]
fn a_delivery_status_report_type_is_a_bounce_even_without_the_parsed_flag() {
    let mut p = with_header(
        "content-type",
        "multipart/report; report-type=\"Delivery-Status\"; boundary=b",
    );
    p.delivery_status =
        Some("Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.1.1\n".into());
    let b = bounce_of(&p, "");
    assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
    assert!(b.permanent);
}

#[test]
fn the_original_recipient_is_preferred_to_the_final_one() {
    let p = dsn(
        "Reporting-MTA: dns; mx\n\nOriginal-Recipient: rfc822;carl@client.test\nFinal-Recipient: rfc822; carl.c@internal.client.test\nAction: failed\nStatus: 5.1.1\n",
    );
    assert_eq!(
        bounce_of(&p, "").recipient.as_deref(),
        Some("carl@client.test")
    );
    let p = dsn("Final-Recipient: rfc822; <Carl@Client.test>\nAction: failed\nStatus: 5.1.1\n");
    assert_eq!(
        bounce_of(&p, "").recipient.as_deref(),
        Some("carl@client.test")
    );
}

#[test]
fn the_failed_recipient_of_a_multi_recipient_report_is_reported() {
    let p = dsn(
        "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; ok@client.test\nAction: delivered\nStatus: 2.0.0\n\nFinal-Recipient: rfc822; later@client.test\nAction: delayed\nStatus: 4.4.1\n\nFinal-Recipient: rfc822; gone@client.test\nAction: failed\nStatus: 5.1.1\n",
    );
    let b = bounce_of(&p, "");
    assert_eq!(b.recipient.as_deref(), Some("gone@client.test"));
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert!(b.permanent);
}

#[test]
fn a_delayed_delivery_report_is_a_temporary_bounce() {
    let p = dsn(
        "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; carl@client.test\nAction: delayed\nStatus: 4.4.1\nDiagnostic-Code: X-Postfix; connect to mx.client.test[192.0.2.7]:25: Connection timed out\nWill-Retry-Until: Wed, 25 Nov 2026 10:00:00 +0000\n",
    );
    let b = bounce_of(&p, "");
    assert_eq!(b.action.as_deref(), Some("delayed"));
    assert_eq!(b.status.as_deref(), Some("4.4.1"));
    assert!(!b.permanent);
    assert!(b.is_delivery_failure());
}

#[test]
fn delayed_is_never_permanent_even_with_a_class_5_status() {
    let p = dsn("Final-Recipient: rfc822; carl@client.test\nAction: delayed\nStatus: 5.0.0\n");
    assert!(!bounce_of(&p, "").permanent);
}

#[test]
fn success_notifications_are_bounces_that_are_not_failures() {
    let p = dsn("Final-Recipient: rfc822; carl@client.test\nAction: relayed\nStatus: 2.0.0\n");
    let b = bounce_of(&p, "");
    assert!(!b.permanent);
    assert!(!b.is_delivery_failure());
}

#[test]
fn folded_multi_line_diagnostics_are_joined_and_tidied() {
    let p = dsn(
        "Final-Recipient: rfc822; nobody@gmail.test\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does\n    not exist. Please try\n 550-5.1.1 double-checking the recipient's email address for typos or\n 550 5.1.1 unnecessary spaces. - gsmtp\n",
    );
    assert_eq!(
        bounce_of(&p, "").diagnostic.as_deref(),
        Some(
            "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. - gsmtp"
        )
    );
}

#[test]
fn the_status_is_derived_from_the_diagnostic_when_the_report_has_none() {
    let p = dsn(
        "Final-Recipient: rfc822; carl@client.test\nAction: failed\nDiagnostic-Code: smtp; 452 4.2.2 Mailbox over quota\n",
    );
    let b = bounce_of(&p, "");
    assert_eq!(b.status.as_deref(), Some("4.2.2"));
    assert!(!b.permanent);
    let p = dsn(
        "Final-Recipient: rfc822; carl@client.test\nAction: failed\nDiagnostic-Code: smtp; 552 Mailbox full\n",
    );
    let b = bounce_of(&p, "");
    assert_eq!(b.status.as_deref(), Some("5.0.0"));
    assert!(b.permanent);
    let p = dsn(
        "Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.2.2 (mailbox full)\n",
    );
    assert_eq!(bounce_of(&p, "").status.as_deref(), Some("5.2.2"));
}

#[test]
fn a_generic_x_0_0_status_gives_way_to_the_remote_servers_code_of_the_same_class() {
    let p = dsn(
        "Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 5.1.1 <carl@client.test>: User unknown\n",
    );
    assert_eq!(bounce_of(&p, "").status.as_deref(), Some("5.1.1"));
    let p = dsn(
        "Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 452 4.2.2 over quota\n",
    );
    assert_eq!(bounce_of(&p, "").status.as_deref(), Some("5.0.0"));
}

#[test]
fn a_report_about_our_notification_names_its_message_id() {
    let mut p = dsn("Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.1.1\n");
    p.returned_headers = vec![
        (
            "return-path".into(),
            "<bounces+out_m3k7vq2xbdn4tzaf@reply.gw.test>".into(),
        ),
        ("message-id".into(), format!("<{OURS}>")),
    ];
    let b = bounce_of(&p, "");
    assert_eq!(b.original_message_id.as_deref(), Some(OURS));
    assert!(
        b.original_message_id
            .as_deref()
            .is_some_and(is_our_message_id)
    );
    assert!(Machine::Bounce(b).detail().contains(OURS));
}

#[test]
fn bounces_of_our_notifications_name_our_message_id_from_the_returned_copy() {
    let fixtures: [(&[u8], &str); 3] = [
        (
            include_bytes!("../../../fixtures/mail/machine-bounce-our-message-id.eml"),
            "cnv_7q2mfa3ktgnhxl4w.per_r7kq2vx4mz3bn6da.5.h2vq7kx4mz3bn6ta@reply.example.net",
        ),
        (
            include_bytes!("../../../fixtures/mail/machine-bounce-office365-ndr.eml"),
            "cnv_k4vq7xz2mb3dn6ta.per_f3nx7kb2qz4vm6ta.2.w2kq7vx4mz3bn5da@reply.example.net",
        ),
        (
            include_bytes!("../../../fixtures/mail/machine-bounce-qmail-user-unknown.eml"),
            "cnv_7q2mfa3ktgnhxl4w.per_k2vq7xz4mb3dn6ta.1.d4kq7vx2zm3bn6ta@reply.example.net",
        ),
    ];
    for (raw, ours) in fixtures {
        let parsed = super::super::parse::parse_email(raw, &|d| d == "reply.example.net").unwrap();
        let b = bounce_of(&parsed, "");
        assert_eq!(b.original_message_id.as_deref(), Some(ours));
        assert!(is_our_message_id(ours));
    }
}

#[test]
fn x_failed_recipients_makes_a_bounce_and_names_the_recipient() {
    let mut p = with_header("x-failed-recipients", "Carl@Client.test, dana@client.test");
    p.headers
        .push(("auto-submitted".into(), "auto-replied".into()));
    p.text_body = Some("A message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  carl@client.test\n    host mx.client.test [192.0.2.7]\n    SMTP error from remote mail server after RCPT TO:<carl@client.test>:\n    550 5.1.1 <carl@client.test>: Recipient address rejected: User unknown\n\n------ This is a copy of the message, including all the headers. ------\n\nMessage-ID: <abc@gw.test>\nSubject: Your order\n".into());
    let b = bounce_of(&p, "");
    assert_eq!(b.reason, "x-failed-recipients header");
    assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
    assert_eq!(
        b.diagnostic.as_deref(),
        Some("550 5.1.1 <carl@client.test>: Recipient address rejected: User unknown")
    );
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert!(b.permanent);
    assert_eq!(b.original_message_id.as_deref(), Some("abc@gw.test"));
}

#[test]
fn a_qmail_plain_text_bounce_is_read_from_its_text() {
    let p = ParsedEmail {
        from: Some(EmailAddress::parse("MAILER-DAEMON@mx.client.test").unwrap()),
        subject: Some("failure notice".into()),
        text_body: Some("Hi. This is the qmail-send program at mx.client.test.\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n<Carl@client.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <notifications@gw.test>\nMessage-ID:\n <n1@gw.test>\n".into()),
        ..ParsedEmail::default()
    };
    let b = bounce_of(&p, "");
    assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
    assert_eq!(
        b.diagnostic.as_deref(),
        Some("Sorry, no mailbox here by that name. (#5.1.1)")
    );
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert!(b.permanent);
    assert_eq!(b.original_message_id.as_deref(), Some("n1@gw.test"));
}

#[test]
fn a_qmail_bounce_quoting_a_bare_smtp_code_gets_a_class_status() {
    let p = ParsedEmail {
        text_body: Some("Hi. This is the qmail-send program at mx.client.test.\n\n<carl@client.test>:\n192.0.2.7 does not like recipient.\nRemote host said: 552 sorry, mailbox full\nGiving up on 192.0.2.7.\n".into()),
        ..ParsedEmail::default()
    };
    let b = bounce_of(&p, "");
    assert_eq!(b.reason, "null envelope sender, delivery report text");
    assert_eq!(b.diagnostic.as_deref(), Some("552 sorry, mailbox full"));
    assert_eq!(b.status.as_deref(), Some("5.0.0"));
    assert!(b.permanent);
}

#[test]
fn sendmail_reasons_in_parentheses_are_diagnostics() {
    let p = ParsedEmail {
        from: Some(EmailAddress::parse("MAILER-DAEMON@mx.client.test").unwrap()),
        text_body: Some("The original message was received at Mon, 23 Nov 2026 10:00:02 +0000\n\n   ----- The following addresses had permanent fatal errors -----\n<carl@client.test>\n    (reason: 550 5.1.1 <carl@client.test>... User unknown)\n".into()),
        ..ParsedEmail::default()
    };
    let b = bounce_of(&p, "");
    assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
    assert_eq!(
        b.diagnostic.as_deref(),
        Some("550 5.1.1 <carl@client.test>... User unknown")
    );
    assert!(b.permanent);
}

#[test]
fn an_unqualified_mailer_daemon_from_is_a_bounce() {
    let p = ParsedEmail {
        headers: vec![(
            "from".into(),
            "Mail Delivery Subsystem <MAILER-DAEMON>".into(),
        )],
        ..ParsedEmail::default()
    };
    assert_eq!(class_from(&p, "mailer-daemon@mx.test"), "bounce");
}

#[test]
fn postmaster_counts_only_with_a_bounce_subject_or_the_null_sender() {
    let mut p = ParsedEmail {
        from: Some(EmailAddress::parse("postmaster@client.test").unwrap()),
        subject: Some("Undeliverable: Your order".into()),
        ..ParsedEmail::default()
    };
    assert_eq!(class_from(&p, "postmaster@client.test"), "bounce");
    p.subject = Some("Re: Your order".into());
    assert_eq!(class_from(&p, "postmaster@client.test"), "human");
}

#[test]
fn a_bounce_without_any_code_is_permanent_only_when_it_says_so() {
    let p = ParsedEmail {
        text_body: Some("I'm afraid I wasn't able to deliver your message.\nThis is a permanent error; I've given up.\n".into()),
        ..ParsedEmail::default()
    };
    let b = bounce_of(&p, "");
    assert_eq!(b.status, None);
    assert!(b.permanent);
    assert!(!bounce_of(&ParsedEmail::default(), "").permanent);
}

#[test]
fn ip_addresses_dates_and_versions_are_not_status_codes() {
    assert_eq!(enhanced_status("host 192.0.2.1 said"), None);
    assert_eq!(enhanced_status("version 1.2.3"), None);
    assert_eq!(enhanced_status("550-5.1.1 x"), Some("5.1.1".into()));
    assert_eq!(enhanced_status("(#5.1.1)."), Some("5.1.1".into()));
    assert_eq!(
        smtp_code_position("at Mon, 23 Nov 2026 10:00:00 +0000"),
        None
    );
    assert_eq!(
        smtp_code_position("mx.client.test[203.0.113.25] said"),
        None
    );
    assert_eq!(smtp_code_position("said: 550 5.1.1 nope"), Some(6));
}

#[test]
fn a_person_writing_is_not_a_machine() {
    assert_eq!(classify(&ParsedEmail::default(), "a@x.test", &own()), None);
    assert_eq!(class(&person()), "human");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "<",
        "<@>:",
        "550",
        "550-",
        "5.",
        "...",
        "\u{e9}<\u{e9}@\u{e9}>:",
        "(reason: 550)",
    ] {
        let p = ParsedEmail {
            text_body: Some(text.into()),
            delivery_status: Some(text.into()),
            is_delivery_report: true,
            headers: vec![
                (
                    "content-type".into(),
                    format!("multipart/report; report-type={text}"),
                ),
                ("from".into(), text.into()),
            ],
            subject: Some(text.into()),
            ..ParsedEmail::default()
        };
        let _ = classify(&p, "", &own());
        let p = ParsedEmail {
            is_delivery_report: false,
            ..p
        };
        let _ = classify(&p, "", &own());
    }
}
