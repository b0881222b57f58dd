//! Checks the fuzz targets share: what may never appear in HTML we show.

/// The tags of serialized, sanitized HTML (text `<` is escaped as `&lt;`, so each `<` starts a
/// tag), each as its inside, lowercased.
pub fn tags(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or("").to_ascii_lowercase())
        .collect()
}

/// The attributes of one tag, `(name, value)`, names lowercased.
pub fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = tag.chars().peekable();
    // Skip the element name.
    while chars.peek().is_some_and(|c| !c.is_whitespace()) {
        chars.next();
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == '/') {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' || c == '/' {
                break;
            }
            name.push(c.to_ascii_lowercase());
            chars.next();
        }
        if name.is_empty() {
            if chars.next().is_none() {
                return out;
            }
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            match chars.peek().copied() {
                Some(q @ ('"' | '\'')) => {
                    chars.next();
                    for c in chars.by_ref() {
                        if c == q {
                            break;
                        }
                        value.push(c);
                    }
                }
                _ => {
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() {
                            break;
                        }
                        value.push(c);
                        chars.next();
                    }
                }
            }
        }
        out.push((name, value));
    }
}

/// Attributes whose value a browser follows as a URL.
const URL_ATTRIBUTES: [&str; 8] = [
    "href",
    "src",
    "action",
    "formaction",
    "background",
    "poster",
    "cite",
    "xlink:href",
];

/// Panics when sanitized HTML holds anything active: a script or embedding element, an
/// event handler, a `javascript:` URL, or a style that loads something.
pub fn assert_inert(html: &str) {
    for tag in tags(html) {
        let name = tag
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_start_matches('/');
        assert!(
            !matches!(
                name,
                "script"
                    | "iframe"
                    | "object"
                    | "embed"
                    | "form"
                    | "base"
                    | "meta"
                    | "link"
                    | "style"
                    | "svg"
                    | "math"
            ),
            "<{name}> survived in {html:?}"
        );
        for (attribute, value) in attributes(&tag) {
            assert!(
                !attribute.starts_with("on"),
                "handler {attribute:?} survived in {html:?}"
            );
            // Browsers ignore whitespace and control characters inside a URL scheme.
            let compact: String = value
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect::<String>()
                .to_ascii_lowercase();
            if URL_ATTRIBUTES.contains(&attribute.as_str()) {
                assert!(
                    !compact.starts_with("javascript:"),
                    "javascript: survived in {html:?}"
                );
            }
            if attribute == "style" {
                assert!(
                    !compact.contains("url("),
                    "a style with url() survived in {html:?}"
                );
            }
        }
    }
}
