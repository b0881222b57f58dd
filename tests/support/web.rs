//! A browser-like HTTP client for the web view: keeps cookies, never follows redirects (tests
//! look at them), reads CSRF tokens and links out of pages, and finds sign-in links in emails.

use super::{Email, TestApp};
use std::collections::BTreeMap;

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field in the page:\n{}", self.body))
            + marker.len();
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

/// One visitor: a cookie jar over the app's HTTP address.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::at(app.http)
    }

    /// A visitor of the gateway listening at `http` (a process of its own).
    pub fn at(http: std::net::SocketAddr) -> Browser {
        Browser {
            base: format!("http://{http}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, val) = pair.split_once('=').unwrap();
            if val.is_empty() || value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), val.to_string());
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(response).await
    }

    /// A GET with extra request headers, the body as bytes (not decoded).
    pub async fn get_raw(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut request = self
            .client
            .get(self.url(path))
            .header("cookie", self.cookie_header());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("GET");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body").to_vec();
        (status, headers, body)
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.finish(response).await
    }

    /// Posts a form with the CSRF token of `page_path`'s page.
    pub async fn submit(&mut self, page_path: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        assert_eq!(page.status, 200, "{page_path}: {}", page.body);
        let csrf = page.csrf();
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(action, &fields).await
    }

    /// Follows a sign-in link; asserts it signed in and leads to `/c/...`.
    pub async fn sign_in_with(&mut self, link: &str) -> Page {
        let page = self.follow_link(link).await;
        assert_eq!(page.status, 303, "magic link answered {}", page.status);
        assert!(self.cookies.contains_key("tg_session"), "no session cookie");
        page
    }

    /// Follows a sign-in link as a person does: its page, then the page's one button (a
    /// browser signed in as the link's person already is sent straight on by the GET).
    pub async fn follow_link(&mut self, link: &str) -> Page {
        let page = self.get(link).await;
        if page.status != 200 {
            return page;
        }
        let csrf = page.csrf();
        self.post(link, &[("csrf", csrf.as_str())]).await
    }

    pub fn session(&self) -> Option<&str> {
        self.cookies.get("tg_session").map(String::as_str)
    }
}

/// The web sign-in link of a notification email.
pub fn magic_link(email: &Email) -> String {
    email
        .text
        .split_whitespace()
        .find(|w| w.contains("/m/") && !w.contains("?file="))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no sign-in link in:\n{}", email.text))
}

/// The download links of a notification email: files too big to travel in it.
pub fn file_links(email: &Email) -> Vec<String> {
    email
        .text
        .split_whitespace()
        .filter(|w| w.contains("/m/") && w.contains("?file="))
        .map(str::to_string)
        .collect()
}

/// The 6-digit code of a verification email.
pub fn code_in(email: &Email) -> String {
    email
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in:\n{}", email.text))
        .to_string()
}

/// A browser signed in as someone in no conversation, by code.
pub async fn sign_in_by_code(app: &TestApp, email: &str) -> Browser {
    let mut browser = Browser::new(app);
    let before = super::outbox_emails(&app.outbox_dir(), email).len();
    let page = browser
        .submit("/login", "/login", &[("email", email)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The code's email, not a notification that may come before or after it.
    let mut with_code = None;
    for _ in 0..100 {
        let emails = super::outbox_emails(&app.outbox_dir(), email);
        with_code = emails
            .into_iter()
            .skip(before)
            .find(|e| e.header("Subject").is_some_and(|s| s.contains("code")));
        if with_code.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let with_code = with_code.unwrap_or_else(|| panic!("no code emailed to {email}"));
    let code = code_in(&with_code);
    let csrf = page.csrf();
    let page = browser
        .post(
            "/login/code",
            &[("csrf", &csrf), ("email", email), ("code", &code)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}
