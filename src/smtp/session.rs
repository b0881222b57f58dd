//! The SMTP/LMTP session state machine: bytes in, events out. No I/O, no clock, no database.
//!
//! The connection feeds whatever it read to [`Session::ingest`], which consumes bytes until it
//! has something to say ([`Event`]) or needs more input (`None`). Two events need the outside
//! world before the session can go on — a recipient lookup and the delivery of a complete
//! message — and the connection answers them with [`Session::recipient_verdict`] and
//! [`Session::delivered`]. Everything else (command order, limits, reply codes) is decided here,
//! so it is tested byte by byte without sockets.
//!
//! Wire parsing (commands, DATA dot-unstuffing, BDAT chunks) is smtp-proto's; this module owns
//! the protocol *policy*: RFC 5321 command sequencing, RFC 3030 CHUNKING, RFC 2033 LMTP,
//! RFC 3463 enhanced status codes, and never relaying (only our reply domain, our From address
//! and the inbox addresses the caller's lookup confirms are accepted).

use super::data::DotData;
use crate::domain::EmailAddress;
use crate::domain::envelope::domain_of;
pub use crate::domain::envelope::{
    Classified, Protocol, Recipient, RecipientVerdict, Target, Transaction, classify_recipient,
};
use crate::domain::sending::{LiveDomains, SendingDomains};
use smtp_proto::request::receiver::{BdatReceiver, RequestReceiver};
use smtp_proto::{
    EXT_8BIT_MIME, EXT_CHUNKING, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE,
    EXT_SMTP_UTF8, EXT_START_TLS, EhloResponse, Request,
};
use std::fmt;
use std::slice::Iter;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our name in the greeting and the EHLO reply.
    pub hostname: String,
    /// The only domains we accept mail for (every sending domain's reply domain, where reply
    /// addresses live) and our From addresses (for clients who reply to them); each session
    /// reads them as they are when it starts.
    pub domains: LiveDomains,
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub max_messages: usize,
    /// Bad commands tolerated before the session is dropped.
    pub max_errors: usize,
    pub protocol: Protocol,
    /// STARTTLS (RFC 3207) is offered (a certificate is configured).
    pub tls_available: bool,
    /// No MAIL before STARTTLS: `530 5.7.0` (RFC 3207 §4).
    pub tls_required: bool,
}

/// One reply, ready for the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    text: String,
}

impl Reply {
    /// `code esc text`, e.g. `Reply::new(550, "5.1.1", "No such recipient")`.
    pub fn new(code: u16, esc: &str, text: impl fmt::Display) -> Reply {
        Reply {
            code,
            text: format!("{code} {esc} {text}\r\n"),
        }
    }

    fn raw(code: u16, text: String) -> Reply {
        Reply { code, text }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.trim_end())
    }
}

#[derive(Debug)]
pub enum Event {
    Reply(Reply),
    /// A recipient on our reply domain: the caller looks its target up and calls
    /// [`Session::recipient_verdict`].
    CheckRecipient(Recipient),
    /// A complete message: the caller stores it and calls [`Session::delivered`].
    Deliver(Transaction),
    /// Flush the pending replies (the `220` to STARTTLS last), discard every byte read after
    /// the command (RFC 3207 §4.2 forbids acting on anything pipelined before the handshake:
    /// the STARTTLS command-injection attacks), do the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls,
    /// Flush pending replies and close the connection.
    Close,
}

enum State {
    Command,
    /// Discarding the rest of an over-long command line.
    SkipLine,
    Data {
        receiver: DotData,
        too_big: bool,
    },
    /// `discard`: the chunk is read and thrown away, then this reply is given.
    Bdat {
        receiver: BdatReceiver,
        discard: Option<Reply>,
    },
    AwaitRecipient(Recipient),
    AwaitDelivery,
    Closed,
}

/// What one step of [`Session::ingest`] did with the input.
enum Step {
    Emit(Event),
    /// Everything read is consumed: wait for more.
    NeedInput,
    /// The state changed: go on with the rest of the input.
    Again,
}

impl Step {
    fn or_again(event: Option<Event>) -> Step {
        event.map_or(Step::Again, Step::Emit)
    }
}

pub struct Session {
    config: SessionConfig,
    domains: Arc<SendingDomains>,
    state: State,
    requests: RequestReceiver,
    helo: Option<String>,
    mail_from: Option<String>,
    recipients: Vec<Recipient>,
    data: Vec<u8>,
    /// BDAT transaction in progress: DATA is no longer allowed in it (RFC 3030 §3).
    chunking: bool,
    /// BDAT data exceeded the size limit: the transaction fails at LAST.
    chunks_too_big: bool,
    messages: usize,
    errors: usize,
    /// Bytes of the command line received so far (0: at a line start).
    partial_len: usize,
    pending: Option<Event>,
    /// The connection is encrypted (after STARTTLS).
    tls_active: bool,
}

/// Longest command line accepted, CRLF included (Postfix's default is 2048 too).
pub const MAX_COMMAND_LINE: usize = 2048;

const DATA_GO_AHEAD: &str = "354 Start mail input; end with <CRLF>.<CRLF>\r\n";

impl Session {
    pub fn new(config: SessionConfig) -> Session {
        Session {
            domains: config.domains.now(),
            config,
            state: State::Command,
            requests: RequestReceiver::default(),
            helo: None,
            mail_from: None,
            recipients: Vec::new(),
            data: Vec::new(),
            chunking: false,
            chunks_too_big: false,
            messages: 0,
            errors: 0,
            partial_len: 0,
            pending: None,
            tls_active: false,
        }
    }

    /// The TLS handshake after STARTTLS succeeded: RFC 3207 §4.2, the session starts over
    /// (the client must say EHLO again; nothing said before counts).
    pub fn tls_started(&mut self) {
        self.reset_transaction();
        self.helo = None;
        self.requests = RequestReceiver::default();
        self.partial_len = 0;
        self.pending = None;
        self.state = State::Command;
        self.tls_active = true;
    }

    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    pub fn greeting(&self) -> Reply {
        let kind = match self.config.protocol {
            Protocol::Smtp => "ESMTP",
            Protocol::Lmtp => "LMTP",
        };
        Reply::raw(
            220,
            format!("220 {} {kind} threadgate ready\r\n", self.config.hostname),
        )
    }

    /// The reply to give when the server shuts down between transactions (RFC 5321 §3.8).
    pub fn shutdown_reply() -> Reply {
        Reply::new(421, "4.3.2", "Service shutting down, try again later")
    }

    /// True while reading message data: the connection applies its data timeout.
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data { .. } | State::Bdat { .. })
    }

    /// True between MAIL FROM and the end of the transaction: a shutdown waits for it.
    pub fn in_transaction(&self) -> bool {
        self.mail_from.is_some() || !matches!(self.state, State::Command | State::Closed)
    }

    /// True when a command line has started but not ended: the command timeout runs.
    pub fn partial_command(&self) -> bool {
        self.partial_len > 0 && matches!(self.state, State::Command | State::SkipLine)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Consumes bytes until there is an event to act on. `None`: all input consumed, read more.
    pub fn ingest(&mut self, bytes: &mut Iter<'_, u8>) -> Option<Event> {
        if let Some(event) = self.pending.take() {
            return Some(event);
        }
        loop {
            let step = match &self.state {
                State::Closed | State::AwaitRecipient(_) | State::AwaitDelivery => return None,
                State::SkipLine => self.skip_line(bytes),
                State::Data { .. } => self.data(bytes),
                State::Bdat { .. } => self.bdat(bytes),
                State::Command => self.command_line(bytes),
            };
            match step {
                Step::Emit(event) => return Some(event),
                Step::NeedInput => return None,
                Step::Again => {}
            }
        }
    }

    /// The rest of an over-long command line: dropped up to its end, then refused.
    fn skip_line(&mut self, bytes: &mut Iter<'_, u8>) -> Step {
        let rest = bytes.as_slice();
        let Some(pos) = rest.iter().position(|&b| b == b'\n') else {
            *bytes = [].iter();
            return Step::NeedInput;
        };
        *bytes = rest[pos + 1..].iter();
        self.state = State::Command;
        self.partial_len = 0;
        Step::or_again(self.error(Reply::new(500, "5.5.2", "Line too long")))
    }

    /// DATA content up to the end of data.
    fn data(&mut self, bytes: &mut Iter<'_, u8>) -> Step {
        let State::Data { receiver, too_big } = &mut self.state else {
            return Step::Again;
        };
        let finished = receiver.ingest(bytes, &mut self.data);
        if self.data.len() > self.config.max_message_size {
            // Keep draining to the end of the data, without keeping it (RFC 5321
            // §4.5.3.1.10: the size error is reported after the data).
            *too_big = true;
            self.data.clear();
        }
        if !finished {
            return Step::NeedInput;
        }
        if *too_big {
            let reply = self.refuse_data(too_big_reply());
            self.reset_transaction();
            self.state = State::Command;
            return Step::Emit(Event::Reply(reply));
        }
        Step::Emit(self.take_transaction())
    }

    /// One BDAT chunk (RFC 3030): kept, or read and thrown away when the command was refused.
    fn bdat(&mut self, bytes: &mut Iter<'_, u8>) -> Step {
        let State::Bdat { receiver, discard } = &mut self.state else {
            return Step::Again;
        };
        if let Some(reply) = discard.clone() {
            let mut scratch = Vec::new();
            if !receiver.ingest(bytes, &mut scratch) {
                return Step::NeedInput;
            }
            self.state = State::Command;
            return Step::or_again(self.error(reply));
        }
        let finished = receiver.ingest(bytes, &mut self.data);
        if self.data.len() > self.config.max_message_size {
            self.chunks_too_big = true;
            self.data.clear();
        }
        if !finished {
            return Step::NeedInput;
        }
        let is_last = receiver.is_last;
        self.state = State::Command;
        if !is_last {
            return Step::Emit(Event::Reply(Reply::new(250, "2.0.0", "Chunk accepted")));
        }
        if self.chunks_too_big {
            let reply = self.refuse_data(too_big_reply());
            self.reset_transaction();
            return Step::Emit(Event::Reply(reply));
        }
        Step::Emit(self.take_transaction())
    }

    /// The next command: its line length checked, then parsed and run.
    fn command_line(&mut self, bytes: &mut Iter<'_, u8>) -> Step {
        let before = bytes.as_slice();
        if before.is_empty() {
            return Step::NeedInput;
        }
        // RFC 5321 §4.5.3.1.4 limits command lines (512 octets, more with extensions).
        // Checked here, before smtp-proto, so the verdict does not depend on how TCP split
        // the line.
        let line_end = before.iter().position(|&b| b == b'\n');
        let segment = line_end.map_or(before.len(), |p| p + 1);
        if self.partial_len + segment > MAX_COMMAND_LINE {
            self.requests = RequestReceiver::default();
            let Some(p) = line_end else {
                *bytes = [].iter();
                self.partial_len += before.len();
                self.state = State::SkipLine;
                return Step::NeedInput;
            };
            *bytes = before[p + 1..].iter();
            self.partial_len = 0;
            return Step::or_again(self.error(Reply::new(500, "5.5.2", "Line too long")));
        }
        // Owned at once: the parsed command borrows the receiver's buffer.
        let result = self
            .requests
            .ingest(bytes)
            .map(|request| request.into_owned());
        let consumed = &before[..before.len() - bytes.as_slice().len()];
        if consumed.last() == Some(&b'\n') {
            self.partial_len = 0;
        } else {
            self.partial_len += consumed.len();
        }
        match result {
            // RFC 2920 §3.1: DATA ends a group; the content may follow only after our 354.
            // Bytes already behind it come from a client out of step (or one hoping that a
            // refused DATA makes its "message" read as commands): like Postfix
            // (`smtpd_forbid_unauth_pipelining`) and Exim (`smtp_enforce_sync`), hang up.
            Ok(Request::Data) if !bytes.as_slice().is_empty() => {
                *bytes = [].iter();
                Step::or_again(self.close_with(Reply::new(
                    554,
                    "5.5.0",
                    "SMTP protocol synchronization error: data sent before the 354 answer",
                )))
            }
            Ok(request) => Step::or_again(self.command(request)),
            Err(smtp_proto::Error::NeedsMoreData { .. }) => Step::NeedInput,
            Err(err) => Step::or_again(self.error(parse_error_reply(&err))),
        }
    }

    /// The envelope sender of the transaction in progress ("" for the null reverse-path).
    pub fn mail_from(&self) -> Option<&str> {
        self.mail_from.as_deref()
    }

    /// Answers the [`Event::CheckRecipient`] just emitted.
    pub fn recipient_verdict(&mut self, verdict: RecipientVerdict) -> Reply {
        let State::AwaitRecipient(recipient) = std::mem::replace(&mut self.state, State::Command)
        else {
            return Reply::new(503, "5.5.1", "No recipient pending");
        };
        match verdict {
            RecipientVerdict::Live => {
                self.recipients.push(recipient);
                Reply::new(250, "2.1.5", "Recipient OK")
            }
            RecipientVerdict::Unknown | RecipientVerdict::SenderBlocked => {
                self.errors += 1;
                // Probing for live tokens (or for a relay) costs the session like any other
                // error.
                if self.errors > self.config.max_errors {
                    self.state = State::Closed;
                    self.pending = Some(Event::Close);
                    return Reply::new(421, "4.7.0", "Too many errors, closing connection");
                }
                match (&recipient.target, verdict) {
                    (_, RecipientVerdict::SenderBlocked) => {
                        Reply::new(550, "5.7.1", "Mail from this sender is not accepted")
                    }
                    // Never an open relay: another domain is refused as relaying (RFC 5321
                    // §3.6.2), unless it is one of our inbox addresses.
                    (Target::Inbox(address), _)
                        if !self.domains.is_reply_domain(domain_of(address)) =>
                    {
                        Reply::new(
                            550,
                            "5.7.1",
                            "Relaying denied: we only accept replies to this gateway",
                        )
                    }
                    (Target::Inbox(_), _) => Reply::new(550, "5.1.1", "No such recipient"),
                    _ => Reply::new(
                        550,
                        "5.1.1",
                        "No such recipient: unknown or expired reply address",
                    ),
                }
            }
            RecipientVerdict::TemporaryFailure => Reply::new(
                451,
                "4.3.0",
                "Temporary failure looking up the recipient, try again later",
            ),
            RecipientVerdict::Throttled => {
                self.errors += 1;
                Reply::new(
                    450,
                    "4.7.1",
                    "Too many unknown recipients from your address, try again later",
                )
            }
        }
    }

    /// Answers the [`Event::Deliver`] just emitted: one reply for SMTP, one per recipient (in
    /// RCPT order) for LMTP. The transaction is over either way.
    pub fn delivered(&mut self, replies: Vec<Reply>) -> Vec<Reply> {
        if matches!(self.state, State::AwaitDelivery) {
            self.state = State::Command;
            self.messages += 1;
        }
        replies
    }

    /// The answer to refused message data: RFC 2033 §4.2 wants one reply per accepted
    /// recipient in LMTP, one in SMTP.
    fn refuse_data(&self, reply: Reply) -> Reply {
        match self.config.protocol {
            Protocol::Smtp => reply,
            Protocol::Lmtp => {
                let n = self.recipients.len().max(1);
                Reply::raw(reply.code, reply.text.repeat(n))
            }
        }
    }

    fn take_transaction(&mut self) -> Event {
        self.state = State::AwaitDelivery;
        let transaction = Transaction {
            helo: self.helo.clone().unwrap_or_default(),
            mail_from: self.mail_from.take().unwrap_or_default(),
            recipients: std::mem::take(&mut self.recipients),
            data: std::mem::take(&mut self.data),
        };
        self.reset_transaction();
        Event::Deliver(transaction)
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
        self.data = Vec::new();
        self.chunking = false;
        self.chunks_too_big = false;
    }

    /// Counts a client error; too many and the session ends (a misbehaving or probing peer).
    fn error(&mut self, reply: Reply) -> Option<Event> {
        self.errors += 1;
        if self.errors > self.config.max_errors {
            self.state = State::Closed;
            self.pending = Some(Event::Close);
            return Some(Event::Reply(Reply::new(
                421,
                "4.7.0",
                "Too many errors, closing connection",
            )));
        }
        Some(Event::Reply(reply))
    }

    fn close_with(&mut self, reply: Reply) -> Option<Event> {
        self.state = State::Closed;
        self.pending = Some(Event::Close);
        Some(Event::Reply(reply))
    }

    fn command(&mut self, request: Request<String>) -> Option<Event> {
        let lmtp = self.config.protocol == Protocol::Lmtp;
        match request {
            Request::Ehlo { host } if !lmtp => Some(self.hello(host, true)),
            Request::Lhlo { host } if lmtp => Some(self.hello(host, true)),
            Request::Helo { host } if !lmtp => Some(self.hello(host, false)),
            Request::Ehlo { .. } | Request::Helo { .. } => {
                self.error(Reply::new(500, "5.5.1", "This is an LMTP server: use LHLO"))
            }
            Request::Lhlo { .. } => {
                self.error(Reply::new(500, "5.5.1", "This is an SMTP server: use EHLO"))
            }
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to.address),
            Request::Data => self.data_command(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat_command(chunk_size, is_last),
            Request::Rset => {
                self.reset_transaction();
                Some(Event::Reply(Reply::new(250, "2.0.0", "Reset OK")))
            }
            Request::Noop { .. } => Some(Event::Reply(Reply::new(250, "2.0.0", "OK"))),
            // RFC 5321 §3.5.3: 252 when we will not say whether a mailbox exists.
            Request::Vrfy { .. } => Some(Event::Reply(Reply::new(
                252,
                "2.5.0",
                "Cannot verify the user, but will accept mail for valid reply addresses",
            ))),
            Request::Expn { .. } => self.error(Reply::new(502, "5.5.1", "EXPN is not supported")),
            Request::Help { .. } => Some(Event::Reply(Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO LHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT",
            ))),
            Request::Quit => self.close_with(Reply::new(221, "2.0.0", "Bye")),
            Request::StartTls => self.start_tls(),
            Request::Auth { .. } => {
                self.error(Reply::new(502, "5.5.1", "Authentication is not available"))
            }
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                self.error(Reply::new(502, "5.5.1", "Command not implemented"))
            }
        }
    }

    fn data_command(&mut self) -> Option<Event> {
        if self.mail_from.is_none() || self.recipients.is_empty() || self.chunking {
            let text = if self.chunking {
                "DATA is not allowed after BDAT"
            } else if self.mail_from.is_none() {
                "Need MAIL command first"
            } else {
                "No valid recipients"
            };
            return self.error(Reply::new(503, "5.5.1", text));
        }
        // The CRLF that ended the DATA command also begins the data (RFC 5321 §4.1.1.4): the
        // receiver starts at a line start, so a first line "." ends an empty message and a
        // first line ".." is unstuffed.
        self.state = State::Data {
            receiver: DotData::new(),
            too_big: false,
        };
        Some(Event::Reply(Reply::raw(354, DATA_GO_AHEAD.to_string())))
    }

    /// BDAT (RFC 3030): the chunk is read either way; refused, it is thrown away.
    fn bdat_command(&mut self, chunk_size: usize, is_last: bool) -> Option<Event> {
        let refusal = if self.mail_from.is_none() {
            Some(Reply::new(503, "5.5.1", "Need MAIL command first"))
        } else if self.recipients.is_empty() {
            Some(Reply::new(503, "5.5.1", "No valid recipients"))
        } else {
            None
        };
        if refusal.is_none() {
            self.chunking = true;
            if chunk_size > self.config.max_message_size {
                self.chunks_too_big = true;
            }
        }
        self.state = State::Bdat {
            receiver: BdatReceiver::new(chunk_size, is_last),
            discard: refusal,
        };
        None
    }

    fn start_tls(&mut self) -> Option<Event> {
        if !self.config.tls_available {
            return self.error(Reply::new(502, "5.5.1", "STARTTLS is not available"));
        }
        if self.tls_active {
            return self.error(Reply::new(503, "5.5.1", "TLS is already active"));
        }
        if self.helo.is_none() {
            return self.error(Reply::new(503, "5.5.1", "Say EHLO first"));
        }
        if self.in_transaction() {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "STARTTLS is not allowed in a transaction",
            ));
        }
        self.pending = Some(Event::StartTls);
        Some(Event::Reply(Reply::new(220, "2.0.0", "Ready to start TLS")))
    }

    fn hello(&mut self, host: String, extended: bool) -> Event {
        self.reset_transaction();
        self.helo = Some(host);
        if !extended {
            return Event::Reply(Reply::new(250, "2.0.0", &self.config.hostname));
        }
        let mut ehlo = EhloResponse::new(self.config.hostname.as_str());
        ehlo.capabilities = EXT_PIPELINING
            | EXT_SIZE
            | EXT_8BIT_MIME
            | EXT_SMTP_UTF8
            | EXT_ENHANCED_STATUS_CODES
            | EXT_CHUNKING;
        if self.config.tls_available && !self.tls_active {
            ehlo.capabilities |= EXT_START_TLS;
        }
        ehlo.size = self.config.max_message_size;
        let mut text = Vec::new();
        ehlo.write(&mut text).expect("writing to a Vec cannot fail");
        Event::Reply(Reply::raw(250, String::from_utf8_lossy(&text).into_owned()))
    }

    fn mail(&mut self, from: smtp_proto::MailFrom<String>) -> Option<Event> {
        if self.helo.is_none() {
            return self.error(Reply::new(503, "5.5.1", "Say EHLO first"));
        }
        if self.mail_from.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        if self.config.tls_required && !self.tls_active {
            return self.error(Reply::new(
                530,
                "5.7.0",
                "Must issue a STARTTLS command first",
            ));
        }
        if self.messages >= self.config.max_messages {
            return self.close_with(Reply::new(
                421,
                "4.7.0",
                "Too many messages in this session, reconnect",
            ));
        }
        // RFC 1870 §6.2: refuse a declared size over the limit before any data is sent.
        if from.size > self.config.max_message_size {
            return Some(Event::Reply(too_big_reply()));
        }
        // Bytes that are not UTF-8 reach us as U+FFFD: a mailbox must be ASCII, or UTF-8
        // under SMTPUTF8 (RFC 6531 §3.3), so it is no address at all.
        if from.address.contains(char::REPLACEMENT_CHARACTER) {
            return self.error(Reply::new(
                553,
                "5.1.7",
                "Sender address is not valid UTF-8",
            ));
        }
        if !from.address.is_empty() && EmailAddress::parse(&from.address).is_err() {
            return self.error(Reply::new(501, "5.1.7", "Bad sender address syntax"));
        }
        self.mail_from = Some(from.address);
        Some(Event::Reply(Reply::new(250, "2.1.0", "Sender OK")))
    }

    fn rcpt(&mut self, address: String) -> Option<Event> {
        if self.mail_from.is_none() {
            return self.error(Reply::new(503, "5.5.1", "Need MAIL command first"));
        }
        if address.contains(char::REPLACEMENT_CHARACTER) {
            return self.error(Reply::new(
                553,
                "5.1.3",
                "Recipient address is not valid UTF-8",
            ));
        }
        if self.recipients.len() >= self.config.max_recipients {
            // RFC 5321 §4.5.3.1.10: 452 for too many recipients; the client sends the rest later.
            return Some(Event::Reply(Reply::new(
                452,
                "4.5.3",
                "Too many recipients",
            )));
        }
        let target = match classify_recipient(&address, &self.domains) {
            Classified::Target(target @ (Target::Own | Target::Unsubscribe)) => {
                self.recipients.push(Recipient { address, target });
                return Some(Event::Reply(Reply::new(250, "2.1.5", "Recipient OK")));
            }
            Classified::Target(target) => target,
            Classified::BadSyntax => {
                return self.error(Reply::new(501, "5.1.3", "Bad recipient address syntax"));
            }
            // Not a reply address: only a domain's inbox address is accepted (the lookup
            // refuses everything else, relaying included).
            Classified::OtherDomain | Classified::Unknown => Target::Inbox(
                EmailAddress::parse(&address)
                    .map(|a| a.key())
                    .unwrap_or_else(|_| address.to_ascii_lowercase()),
            ),
        };
        let recipient = Recipient { address, target };
        self.state = State::AwaitRecipient(recipient.clone());
        Some(Event::CheckRecipient(recipient))
    }
}

fn too_big_reply() -> Reply {
    Reply::new(
        552,
        "5.3.4",
        "Message size exceeds the fixed maximum message size",
    )
}

fn parse_error_reply(err: &smtp_proto::Error) -> Reply {
    use smtp_proto::Error;
    match err {
        Error::UnknownCommand => Reply::new(500, "5.5.2", "Command unrecognized"),
        Error::InvalidSenderAddress => Reply::new(501, "5.1.7", "Bad sender address syntax"),
        Error::InvalidRecipientAddress => Reply::new(501, "5.1.3", "Bad recipient address syntax"),
        Error::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("Syntax: {syntax}")),
        Error::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("Invalid parameter {param:?}"))
        }
        Error::UnsupportedParameter { param } => Reply::new(
            555,
            "5.5.4",
            format!(
                "Unsupported parameter {:?}",
                param.chars().take(40).collect::<String>()
            ),
        ),
        Error::ResponseTooLong => Reply::new(500, "5.5.2", "Line too long"),
        Error::NeedsMoreData { .. } | Error::InvalidResponse { .. } => {
            Reply::new(500, "5.5.2", "Syntax error")
        }
    }
}

#[cfg(test)]
mod tests;
