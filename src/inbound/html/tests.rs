//! Tests of the HTML cleaner through its public functions: text rendering,
//! sanitizing, and each client's quote containers.

use super::*;

// --- text rendering --------------------------------------------------------

#[test]
fn blocks_breaks_and_paragraphs_become_lines() {
    let html = "<div>Hi Agnes,</div><div><br></div><div>Yes, <b>Tuesday</b> works.</div><p>See you</p><p>Carl</p>";
    assert_eq!(
        html_to_text(html),
        "Hi Agnes,\n\nYes, Tuesday works.\n\nSee you\n\nCarl"
    );
}

#[test]
fn outlook_paragraphs_are_lines_and_nbsp_lines_are_blank() {
    let html = "<p class=MsoNormal>Hello<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Fine&nbsp;by me.</p>";
    assert_eq!(html_to_text(html), "Hello\n\nFine by me.");
}

#[test]
fn blockquotes_are_quoted_and_gmail_indent_is_not() {
    let html = "<div>Answer</div><blockquote type=\"cite\">Question<br><blockquote>Older</blockquote></blockquote><blockquote style=\"margin:0 0 0 40px;border:none;padding:0px\">Indented</blockquote>";
    assert_eq!(
        html_to_text(html),
        "Answer\n\n> Question\n>\n>> Older\n\nIndented"
    );
}

#[test]
fn scripts_styles_head_and_comments_are_not_text() {
    let html = "<html><head><title>T</title><style>p{color:red}</style></head><body><!-- c --><script>alert(1)</script><p>Only this</p></body></html>";
    assert_eq!(html_to_text(html), "Only this");
}

#[test]
fn entities_are_decoded() {
    assert_eq!(
        html_to_text("<p>caf&eacute; &amp; th&#233; &lt;ok&gt; &#x1F44D;</p>"),
        "café & thé <ok> 👍"
    );
}

#[test]
fn lists_links_and_images_are_readable() {
    let html = "<p>Options:</p><ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol><p><a href=\"https://example.org/x\">the doc</a>, <a href=\"https://example.org/\">example.org</a>, <a href=\"mailto:a@b.c\">a@b.c</a> <img src=\"cid:p1\" alt=\"photo.png\"></p>";
    assert_eq!(
        html_to_text(html),
        "Options:\n\n- one\n- two\n\n1. first\n2. second\n\nthe doc <https://example.org/x>, example.org, a@b.c [image: photo.png]"
    );
}

#[test]
fn pre_keeps_its_lines_and_spaces() {
    assert_eq!(html_to_text("<pre>a  b\n  c\n</pre>"), "a  b\n  c");
}

#[test]
fn signature_containers_get_a_delimiter_line() {
    let html = "<div>Thanks</div><div class=\"gmail_signature\" data-smartmail=\"gmail_signature\">Carl<br>ACME</div>";
    assert_eq!(html_to_text(html), "Thanks\n-- \nCarl\nACME");
}

#[test]
fn malformed_and_hostile_markup_never_panics() {
    for html in [
        "",
        "<",
        "<<<>>>",
        "<div",
        "<a href='x",
        "</div></div></p>",
        "<p><div><span></p></div>",
        "&",
        "&#xFFFFFFFF;&#0;&#;&bogus;",
        "<table><td>a<td>b</table>",
        "\u{0}<b>\u{0}</b>",
        "<blockquote type=cite><blockquote type=cite>",
    ] {
        let _ = html_to_text(html);
        let _ = reply_html(html);
    }
}

#[test]
fn deep_nesting_is_handled() {
    let html = format!(
        "{}deep{}",
        "<div><blockquote>".repeat(5_000),
        "</blockquote></div>".repeat(5_000)
    );
    let _ = html_to_text(&html);
    let _ = reply_html(&html);
}

// --- sanitizing ------------------------------------------------------------

fn clean(html: &str) -> String {
    reply_html(html)
}

#[test]
fn scripts_are_removed_with_their_content() {
    let got = clean("<p>Hi</p><script>alert('x')</script>");
    assert_eq!(got, "<p>Hi</p>");
}

#[test]
fn event_handlers_are_removed() {
    let got =
        clean("<p onclick=\"alert(1)\">Hi <img src=\"x\" onerror=\"alert(2)\" alt=\"pic\"></p>");
    assert!(
        !got.contains("onclick") && !got.contains("onerror") && !got.contains("alert"),
        "{got}"
    );
    assert!(got.contains("Hi"), "{got}");
}

#[test]
fn javascript_data_and_vbscript_links_lose_their_href() {
    for url in [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        " javascript:alert(1)",
        "/admin/delete",
    ] {
        let got = clean(&format!("<p><a href=\"{url}\">click</a></p>"));
        assert!(!got.contains("href"), "{url}: {got}");
        assert!(got.contains("click"), "{url}: {got}");
    }
}

#[test]
fn links_open_safely_in_a_new_tab() {
    let got =
        clean("<p><a href=\"https://example.org/doc\" target=\"_self\" rel=\"opener\">doc</a></p>");
    assert!(got.contains("href=\"https://example.org/doc\""), "{got}");
    assert!(
        got.contains("rel=\"noopener noreferrer nofollow\""),
        "{got}"
    );
    assert!(got.contains("target=\"_blank\""), "{got}");
    assert!(
        !got.contains("_self") && !got.contains("\"opener\""),
        "{got}"
    );
}

#[test]
fn iframes_objects_embeds_and_forms_are_removed() {
    let got = clean(
        "<p>Hi</p><iframe src=\"https://evil.example/\">x</iframe><object data=\"evil.swf\"></object><embed src=\"evil.swf\"><form action=\"https://evil.example/\"><input name=\"q\"><button>Go</button></form>",
    );
    for bad in [
        "<iframe", "<object", "<embed", "<form", "<input", "<button", "evil",
    ] {
        assert!(!got.contains(bad), "{bad}: {got}");
    }
}

#[test]
fn style_class_and_id_attributes_and_style_elements_are_removed() {
    let got = clean(
        "<style>body{display:none}</style><p class=\"x\" id=\"y\" style=\"background:url(https://t.example/p.gif)\">Hi</p>",
    );
    assert_eq!(got, "<p>Hi</p>");
}

#[test]
fn remote_images_lose_their_source() {
    for src in [
        "https://tracker.example/p.gif",
        "http://tracker.example/p.gif",
        "//tracker.example/p.gif",
        "data:image/png;base64,AAAA",
        "/attachments/../api/x",
        "/attachmentsx/1",
    ] {
        let got = clean(&format!(
            "<p>Hi<img src=\"{src}\" alt=\"logo\" width=\"1\" height=\"1\"></p>"
        ));
        assert!(!got.contains("src="), "{src}: {got}");
        assert!(got.contains("alt=\"logo\""), "{src}: {got}");
        assert!(!got.contains("tracker"), "{src}: {got}");
    }
}

#[test]
fn cid_images_are_rewritten_to_attachment_urls() {
    let html = "<p>Look:<img src=\"cid:photo%401@client.example\" alt=\"photo\"><img src=\"cid:unknown\" alt=\"other\"></p>";
    let got = reply_html_with(html, &|cid| {
        (cid == "photo@1@client.example").then(|| "/attachments/att_1".to_string())
    });
    assert!(
        got.contains("<img src=\"/attachments/att_1\" alt=\"photo\">"),
        "{got}"
    );
    assert!(got.contains("<img alt=\"other\">"), "{got}");
    // Without a resolver, cid: sources go.
    assert!(!reply_html(html).contains("src="));
}

#[test]
fn a_resolver_cannot_smuggle_a_remote_url() {
    let got = reply_html_with("<p>x<img src=\"cid:a\"></p>", &|_| {
        Some("https://evil.example/p.gif".into())
    });
    assert!(!got.contains("evil"), "{got}");
}

#[test]
fn formatting_is_kept() {
    let html = "<div><b>bold</b> <i>it</i> <u>u</u> <s>s</s> <em>em</em> <strong>st</strong> <code>c</code></div><ul><li>a</li></ul><table><tbody><tr><td>1</td></tr></tbody></table><h2>T</h2><pre>p</pre><hr>";
    let got = clean(html);
    for tag in [
        "<b>", "<i>", "<u>", "<s>", "<em>", "<strong>", "<code>", "<ul>", "<li>", "<table>",
        "<td>", "<h2>", "<pre>",
    ] {
        assert!(got.contains(tag), "{tag}: {got}");
    }
}

#[test]
fn sanitized_output_is_trimmed_and_empty_bodies_are_empty() {
    assert_eq!(clean("  <p>Hi</p>\n\n"), "<p>Hi</p>");
    assert_eq!(clean("<div><br></div><p>&nbsp;</p>"), "");
    assert_eq!(clean(""), "");
}

// --- containers ------------------------------------------------------------

const MARKER_HTML: &str = "<div style=\"color:#8b949e\">##- Reply above this line -##</div><div>Agnes Agent · 2026-11-23 09:00 UTC</div><div>Your order shipped.</div>";

#[test]
fn gmail_quote_is_removed() {
    let html = format!(
        "<div dir=\"ltr\">Thanks, that works.</div><br><div class=\"gmail_quote gmail_quote_container\"><div dir=\"ltr\" class=\"gmail_attr\">On Mon, Nov 23, 2026 at 9:00 AM Agnes Agent via threadgate &lt;<a href=\"mailto:notifications@example.net\">notifications@example.net</a>&gt; wrote:<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">{MARKER_HTML}</blockquote></div>"
    );
    assert_eq!(clean(&html), "<div dir=\"ltr\">Thanks, that works.</div>");
}

#[test]
fn gmail_inline_answers_inside_the_quote_are_kept() {
    let html = "<div dir=\"ltr\">See below.</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Nov 23, 2026 at 9:00 AM Agnes &lt;a@example.net&gt; wrote:<br></div><blockquote class=\"gmail_quote\">Tuesday?</blockquote><div>Yes, Tuesday.</div><blockquote class=\"gmail_quote\">Docs?</blockquote><div>Bringing them.</div></div>";
    let got = clean(html);
    assert!(
        got.contains("See below.")
            && got.contains("Yes, Tuesday.")
            && got.contains("Bringing them."),
        "{got}"
    );
    assert!(
        !got.contains("Tuesday?") && !got.contains("Docs?") && !got.contains("wrote"),
        "{got}"
    );
}

#[test]
fn gmail_signature_and_extra_are_removed() {
    let html = "<div>Ok</div><div><div dir=\"ltr\" class=\"gmail_signature\" data-smartmail=\"gmail_signature\">Carl Client<br>ACME</div></div><div class=\"gmail_extra\"><br><div class=\"gmail_quote\">On Mon wrote:<blockquote>old</blockquote></div></div>";
    assert_eq!(clean(html), "<div>Ok</div>");
}

#[test]
fn outlook_appendonsend_and_everything_after_is_removed() {
    let html = "<div>Approved.</div><div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\"><div id=\"divRplyFwdMsg\" dir=\"ltr\"><font><b>From:</b> Agnes<br><b>Sent:</b> Monday<br><b>To:</b> Carl<br><b>Subject:</b> Order</font><div>&nbsp;</div></div><div>old text</div>";
    assert_eq!(clean(html), "<div>Approved.</div>");
}

#[test]
fn outlook_divrplyfwdmsg_takes_the_rule_above_it() {
    let html = "<div>Approved.</div><hr><div id=\"divRplyFwdMsg\"><b>De :</b> Agnes<br><b>Envoyé :</b> lundi<br><b>À :</b> Carl<br><b>Objet :</b> Commande</div><div>old</div>";
    assert_eq!(clean(html), "<div>Approved.</div>");
}

#[test]
fn outlook_desktop_border_top_block_is_removed() {
    for color in ["#E1E1E1", "#B5C4DF"] {
        let html = format!(
            "<div class=WordSection1><p class=MsoNormal>Approved.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><div><div style='border:none;border-top:solid {color} 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>Von:</b> Agnes<br><b>Gesendet:</b> Montag<br><b>An:</b> Carl<br><b>Betreff:</b> Bestellung</p></div></div><p class=MsoNormal>old</p></div>"
        );
        assert_eq!(clean(&html), "<div><div>Approved.</div></div>", "{color}");
    }
}

#[test]
fn outlook_reference_message_container_is_removed() {
    let html = "<div>Yes.</div><div id=\"mail-editor-reference-message-container\"><div><b>From: </b>Agnes<br><b>Date: </b>Monday<br><b>To: </b>Carl<br><b>Subject: </b>Order<br></div>old</div>";
    assert_eq!(clean(html), "<div>Yes.</div>");
}

#[test]
fn outlook_forward_block_is_kept() {
    let html = "<div>FYI, see below.</div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Dora<br><b>Sent:</b> Monday<br><b>To:</b> Carl<br><b>Subject:</b> FW: Invoice 42</div><div>Invoice attached.</div>";
    let got = clean(html);
    assert!(
        got.contains("FYI") && got.contains("Invoice attached.") && got.contains("FW: Invoice 42"),
        "{got}"
    );
}

#[test]
fn apple_mail_cite_blockquote_and_iphone_footer_are_removed() {
    let html = format!(
        "<html><body dir=\"auto\">Sounds good<br><br><div dir=\"ltr\">Sent from my iPhone</div><div dir=\"ltr\"><br><blockquote type=\"cite\">On Nov 23, 2026, at 10:00, Agnes Agent via threadgate &lt;notifications@example.net&gt; wrote:<br><br></blockquote></div><blockquote type=\"cite\"><div dir=\"ltr\">{MARKER_HTML}</div></blockquote></body></html>"
    );
    assert_eq!(clean(&html), "Sounds good");
}

#[test]
fn apple_mail_macos_header_inside_the_blockquote_is_removed() {
    let html = "<div>Merci !</div><div><br><blockquote type=\"cite\"><div>Le 23 nov. 2026 à 10:00, Agnes &lt;a@example.net&gt; a écrit :</div><br><div>old</div></blockquote></div><br>";
    assert_eq!(clean(html), "<div>Merci !</div>");
}

#[test]
fn apple_mail_forward_is_kept() {
    let html = "<div>For the file.</div><div><br><blockquote type=\"cite\"><div>Begin forwarded message:</div><br><div><b>From: </b>Dora</div><div>Invoice text</div></blockquote></div>";
    let got = clean(html);
    assert!(
        got.contains("Begin forwarded message:") && got.contains("Invoice text"),
        "{got}"
    );
}

#[test]
fn thunderbird_cite_prefix_blockquote_and_signature_are_removed() {
    let html = "<p>Fine.</p><div class=\"moz-signature\">-- <br>Carl</div><div class=\"moz-cite-prefix\">On 23/11/2026 10:00, Agnes Agent via threadgate wrote:<br></div><blockquote type=\"cite\" cite=\"mid:n1@example.net\">old</blockquote>";
    assert_eq!(clean(html), "<p>Fine.</p>");
}

#[test]
fn thunderbird_inline_answers_between_quotes_are_kept() {
    let html = "<div class=\"moz-cite-prefix\">On 23/11/2026 10:00, Agnes wrote:<br></div><blockquote type=\"cite\">Tuesday?</blockquote><p>Yes.</p><blockquote type=\"cite\">Docs?</blockquote><p>Sure.</p>";
    assert_eq!(clean(html), "<p>Yes.</p><p>Sure.</p>");
}

#[test]
fn yahoo_quoted_is_removed() {
    for attr in [
        "class=\"yahoo_quoted\"",
        "id=\"ydp1a2b3yahoo_quoted_4567\" class=\"ydp1a2b3yahoo_quoted\"",
    ] {
        let html = format!(
            "<div class=\"ydp1\"><div>Got it.</div></div><div {attr}><div>On Monday, November 23, 2026, 10:00 AM GMT+1, Agnes &lt;a@example.net&gt; wrote:</div><div><br></div><div>old</div></div>"
        );
        assert_eq!(clean(&html), "<div><div>Got it.</div></div>", "{attr}");
    }
}

#[test]
fn protonmail_quote_and_signature_are_removed() {
    let html = "<div>Confirmed.</div><div class=\"protonmail_signature_block\"><div class=\"protonmail_signature_block-proton\">Sent with Proton Mail secure email.</div></div><div class=\"protonmail_quote\">On Monday, November 23rd, 2026 at 10:00, Agnes &lt;a@example.net&gt; wrote:<br><blockquote class=\"protonmail_quote\" type=\"cite\">old</blockquote><br></div>";
    assert_eq!(clean(html), "<div>Confirmed.</div>");
}

#[test]
fn our_marker_and_the_header_above_it_are_removed() {
    let html = format!("<div>Yes please.</div><div>On Monday, Agnes wrote:</div>{MARKER_HTML}");
    assert_eq!(clean(&html), "<div>Yes please.</div>");
}

#[test]
fn generic_blockquote_after_a_quote_header_is_removed() {
    let html = "<p>Agreed.</p><p>On 23 Nov 2026, at 10:00, Agnes &lt;a@example.net&gt; wrote:</p><blockquote>old</blockquote>";
    assert_eq!(clean(html), "<p>Agreed.</p>");
}

#[test]
fn blockquote_the_person_wrote_in_the_middle_is_kept() {
    let html = "<p>You said:</p><blockquote>ship on Friday</blockquote><p>I agree.</p>";
    let got = clean(html);
    assert!(
        got.contains("ship on Friday") && got.contains("I agree."),
        "{got}"
    );
}

#[test]
fn original_message_separator_in_html_cuts_the_rest() {
    let html = "<div>Done.<br><br>-----Original Message-----<br>From: Agnes<br>Sent: Monday<br>To: Carl<br>Subject: Task<br><br>old</div>";
    assert_eq!(clean(html), "<div>Done.</div>");
}

#[test]
fn gmail_forward_is_kept() {
    let html = "<div dir=\"ltr\">Here is Dora's mail.<br><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">---------- Forwarded message ---------<br>From: <b>Dora</b><br>Date: Mon, Nov 23, 2026<br>Subject: Invoice<br>To: Carl<br></div><br><br><div dir=\"ltr\">Invoice attached.</div></div></div>";
    let got = clean(html);
    assert!(
        got.contains("Forwarded message") && got.contains("Invoice attached."),
        "{got}"
    );
}

#[test]
fn our_sent_text_pasted_without_any_container_is_removed_when_known() {
    let sent = "##- Reply above this line -##\n\nAgnes Agent wrote on 2026-11-23 09:00 UTC:\n\nYour order left our warehouse this morning and arrives on Thursday.\n\n--\nReply to this email to answer in the conversation \"Order\".";
    let html = "<div>Thanks!</div><div><br></div><div>On Monday, Agnes wrote:</div><div>Agnes Agent wrote on 2026-11-23 09:00 UTC:</div><div>Your order left our warehouse this morning and</div><div>arrives on Thursday.</div>";
    assert_eq!(
        reply_html_knowing(html, Some(sent), &|_| None),
        "<div>Thanks!</div>"
    );
    assert!(reply_html(html).contains("warehouse"));
}

#[test]
fn only_quote_gives_an_empty_string() {
    let html = "<div dir=\"ltr\"><br></div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Agnes &lt;a@example.net&gt; wrote:</div><blockquote class=\"gmail_quote\">##- Reply above this line -##<br>old</blockquote></div>";
    assert_eq!(clean(html), "");
}

#[test]
fn outlook_mobile_footer_is_removed() {
    let html = "<div dir=\"ltr\">On my way</div><div dir=\"ltr\"><br></div><div id=\"ms-outlook-mobile-signature\"><div>Get <a href=\"https://aka.ms/o0ukef\">Outlook for iOS</a></div></div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> A<br><b>Sent:</b> B<br><b>To:</b> C<br><b>Subject:</b> D</div>";
    assert_eq!(clean(html), "<div dir=\"ltr\">On my way</div>");
}

#[test]
fn a_forwarded_message_is_kept_folded_under_its_own_line() {
    // Gmail, Italian: the person's words, then the forward in Gmail's quote container.
    let html = r#"<div dir="ltr">Ti inoltro la mail del fornitore.<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Messaggio inoltrato ---------<br>Da: <b>Fornitore</b> &lt;ordini@fornitore.example&gt;<br>Date: lun 23 nov 2026<br>Subject: Consegna<br></div><br><div>La consegna è prevista per il 7 dicembre.</div></div></div>"#;
    let out = reply_html(html);
    assert!(out.contains("Ti inoltro la mail del fornitore."), "{out}");
    assert!(
        out.contains("<details><summary>Messaggio inoltrato</summary>"),
        "{out}"
    );
    assert!(
        out.contains("La consegna è prevista per il 7 dicembre."),
        "{out}"
    );
    // The person's own words stay outside the fold.
    let fold = out.find("<details>").unwrap();
    assert!(out.find("Ti inoltro").unwrap() < fold, "{out}");
    assert!(out.trim_end().ends_with("</details></div>"), "{out}");
    // A sender's own <details> is harmless and kept; a script inside it is not.
    let out = reply_html("<details><summary>More</summary><script>alert(1)</script>Text</details>");
    assert_eq!(out, "<details><summary>More</summary>Text</details>");
}
