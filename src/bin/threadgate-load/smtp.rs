//! A minimal SMTP client (RFC 5321) on one persistent connection: EHLO
//! once, then MAIL/RCPT/DATA per message, declaring SIZE (RFC 1870) and
//! 8BITMIME (RFC 6152) when advertised; dot-stuffing for DATA.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{IO_TIMEOUT, short};

/// Longest SMTP reply line read at once.
const MAX_SMTP_LINE: u64 = 8192;
/// Most lines accepted in one multi-line SMTP reply.
const MAX_REPLY_LINES: usize = 200;

#[derive(Debug, Clone)]
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) lines: Vec<String>,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, short(&self.lines.join(" / ")))
    }
}

pub(super) enum TxOutcome {
    Accepted(Duration),
    /// 421 to MAIL FROM (e.g. too many messages in this session): the server
    /// closes the connection; reconnect and send the message again.
    Reconnect(Reply),
    Rejected {
        stage: &'static str,
        reply: Reply,
    },
}

/// A minimal SMTP client on one persistent connection.
pub(super) struct SmtpClient {
    pub(super) io: BufReader<TcpStream>,
    /// EHLO advertised 8BITMIME: 8-bit bodies are declared with BODY=8BITMIME.
    pub(super) eightbitmime: bool,
    /// EHLO advertised SIZE: MAIL FROM declares the message size, as MTAs do.
    pub(super) size_ext: bool,
}

impl SmtpClient {
    pub(super) async fn connect(addr: &str, helo: &str) -> Result<Self> {
        let stream = timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connect to {addr} timed out"))?
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let mut c = SmtpClient {
            io: BufReader::new(stream),
            eightbitmime: false,
            size_ext: false,
        };
        let greeting = c.read_reply().await?;
        if greeting.code != 220 {
            bail!("greeting: {greeting}");
        }
        let ehlo = c.command(&format!("EHLO {helo}")).await?;
        if ehlo.code == 250 {
            for ext in ehlo.lines.iter().skip(1) {
                let keyword = ext.split_whitespace().next().unwrap_or("");
                c.eightbitmime |= keyword.eq_ignore_ascii_case("8BITMIME");
                c.size_ext |= keyword.eq_ignore_ascii_case("SIZE");
            }
        } else {
            let r = c.command(&format!("HELO {helo}")).await?;
            if r.code != 250 {
                bail!("EHLO: {ehlo}; HELO: {r}");
            }
        }
        Ok(c)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.io.get_mut();
        timeout(IO_TIMEOUT, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| anyhow!("write timed out after {} s", IO_TIMEOUT.as_secs()))?
        .context("write")
    }

    pub(super) async fn read_reply(&mut self) -> Result<Reply> {
        let mut lines = Vec::new();
        let mut code = 0u16;
        loop {
            let mut buf = Vec::new();
            let n = timeout(
                IO_TIMEOUT,
                (&mut self.io)
                    .take(MAX_SMTP_LINE)
                    .read_until(b'\n', &mut buf),
            )
            .await
            .map_err(|_| anyhow!("no SMTP reply within {} s", IO_TIMEOUT.as_secs()))?
            .context("read")?;
            if n == 0 {
                bail!("connection closed by server");
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            let this_code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0);
            if lines.is_empty() {
                code = this_code;
            }
            lines.push(line.get(4..).unwrap_or("").to_string());
            let more = line.as_bytes().get(3) == Some(&b'-');
            if !more || lines.len() >= MAX_REPLY_LINES {
                break;
            }
        }
        Ok(Reply { code, lines })
    }

    pub(super) async fn command(&mut self, cmd: &str) -> Result<Reply> {
        self.write(format!("{cmd}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// One transaction. `data` is already dot-stuffed and ends with CRLF.CRLF.
    /// The latency runs from sending MAIL FROM to the final reply to DATA.
    pub(super) async fn send_mail(
        &mut self,
        from: &str,
        to: &str,
        data: &[u8],
    ) -> Result<TxOutcome> {
        let mut params = String::new();
        if self.size_ext {
            params.push_str(&format!(" SIZE={}", data.len()));
        }
        if self.eightbitmime && !data.is_ascii() {
            params.push_str(" BODY=8BITMIME");
        }
        let start = Instant::now();
        let r = self.command(&format!("MAIL FROM:<{from}>{params}")).await?;
        if r.code == 421 {
            return Ok(TxOutcome::Reconnect(r));
        }
        if r.code != 250 {
            self.rset().await?;
            return Ok(TxOutcome::Rejected {
                stage: "MAIL FROM",
                reply: r,
            });
        }
        let r = self.command(&format!("RCPT TO:<{to}>")).await?;
        if r.code != 250 && r.code != 251 {
            self.rset().await?;
            return Ok(TxOutcome::Rejected {
                stage: "RCPT TO",
                reply: r,
            });
        }
        let r = self.command("DATA").await?;
        if r.code != 354 {
            self.rset().await?;
            return Ok(TxOutcome::Rejected {
                stage: "DATA",
                reply: r,
            });
        }
        self.write(data).await?;
        let r = self.read_reply().await?;
        let latency = start.elapsed();
        if (200..300).contains(&r.code) {
            Ok(TxOutcome::Accepted(latency))
        } else {
            Ok(TxOutcome::Rejected {
                stage: "end of DATA",
                reply: r,
            })
        }
    }

    async fn rset(&mut self) -> Result<()> {
        self.command("RSET").await.map(|_| ())
    }

    pub(super) async fn quit(mut self) {
        let _ = timeout(Duration::from_secs(5), self.command("QUIT")).await;
    }
}

/// Dot-stuff a CRLF message for DATA and append the terminating CRLF.CRLF.
pub(super) fn dot_stuff(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in msg {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
