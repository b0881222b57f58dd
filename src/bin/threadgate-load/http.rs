//! The API client: HTTP/1.1, one connection per request, JSON bodies,
//! bearer token; responses with Content-Length, chunked or to EOF.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{IO_TIMEOUT, short};

/// Largest HTTP response read.
const MAX_HTTP_RESPONSE: usize = 64 << 20;

pub(super) struct Api {
    pub(super) authority: String,
    pub(super) prefix: String,
    token: String,
}

impl Api {
    /// `url` is the server's base URL, `http://HOST:PORT` (a trailing `/api/v1` is accepted).
    pub(super) fn new(url: &str, token: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("API URL must start with http:// (got {url})"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("API URL has no host: {url}");
        }
        let mut prefix = path.trim_end_matches('/');
        if let Some(p) = prefix.strip_suffix("/api/v1") {
            prefix = p;
        }
        Ok(Api {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            token: token.to_string(),
        })
    }

    /// One request to `/api/v1{path}`; returns the status and the JSON body
    /// (Null when empty, a string when not JSON).
    pub(super) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let full = format!("{}/api/v1{path}", self.prefix);
        timeout(IO_TIMEOUT, self.call_inner(method, &full, body))
            .await
            .map_err(|_| {
                anyhow!(
                    "{method} {full}: no response within {} s",
                    IO_TIMEOUT.as_secs()
                )
            })?
            .with_context(|| format!("{method} {full}"))
    }

    async fn call_inner(
        &self,
        method: &str,
        full: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut stream = TcpStream::connect(&self.authority).await?;
        let payload = match body {
            Some(b) => serde_json::to_vec(b)?,
            None => Vec::new(),
        };
        let mut req = format!(
            "{method} {full} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\n\
             User-Agent: threadgate-load\r\nConnection: close\r\n",
            self.authority, self.token
        );
        if body.is_some() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        req.push_str("\r\n");
        let mut out = req.into_bytes();
        out.extend_from_slice(&payload);
        stream.write_all(&out).await?;
        stream.flush().await?;

        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                let (status, body) = parse_http_response(&buf, true)?
                    .ok_or_else(|| anyhow!("truncated HTTP response"))?;
                return Ok((status, body_json(&body)));
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_HTTP_RESPONSE {
                bail!("HTTP response larger than {MAX_HTTP_RESPONSE} bytes");
            }
            if let Some((status, body)) = parse_http_response(&buf, false)? {
                return Ok((status, body_json(&body)));
            }
        }
    }

    pub(super) async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let (status, v) = self.call("POST", path, Some(body)).await?;
        if !(200..300).contains(&status) {
            bail!(
                "POST /api/v1{path} answered {status}: {}",
                short(&v.to_string())
            );
        }
        Ok(v)
    }

    pub(super) async fn get(&self, path: &str) -> Result<Value> {
        let (status, v) = self.call("GET", path, None).await?;
        if status != 200 {
            bail!(
                "GET /api/v1{path} answered {status}: {}",
                short(&v.to_string())
            );
        }
        Ok(v)
    }
}

pub(super) fn body_json(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Parse a buffered HTTP/1.1 response: `Ok(None)` while incomplete; at `eof`
/// a body without length runs to the end.
pub(super) fn parse_http_response(buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if eof {
            bail!("incomplete HTTP response head");
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad HTTP status line: {}", short(status_line)))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = &buf[head_end + 4..];
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some((status, Vec::new())));
    }
    if chunked {
        return match decode_chunked(body)? {
            Some(b) => Ok(Some((status, b))),
            None if eof => bail!("truncated chunked HTTP body"),
            None => Ok(None),
        };
    }
    if let Some(len) = content_length {
        if body.len() >= len {
            return Ok(Some((status, body[..len].to_vec())));
        }
        if eof {
            bail!("HTTP body shorter than Content-Length");
        }
        return Ok(None);
    }
    Ok(eof.then(|| (status, body.to_vec())))
}

/// Decode a chunked body; `Ok(None)` while incomplete.
fn decode_chunked(mut body: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_str = String::from_utf8_lossy(&body[..line_end]);
        let size_str = size_str.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_str, 16)
            .map_err(|_| anyhow!("bad chunk size {size_str:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}
