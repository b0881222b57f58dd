//! HTML from mail, sanitized for the web view: no script, no event handler, no javascript:
//! URL, no active element survives, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadgate::inbound::html;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    threadgate_fuzz::assert_inert(&html::reply_html(&input));
    let _ = html::html_to_text(&input);
});
