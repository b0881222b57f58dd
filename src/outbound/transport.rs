//! Where outbound email goes: `.eml` files (the embedded default) or an SMTP relay (lettre,
//! STARTTLS when the relay offers it, optional credentials).

pub use super::delivery::DeliveryError;
use crate::config::Outbound;
use crate::store::OutboxEmail;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone)]
pub enum Transport {
    /// One `<outbox id>.eml` per email, written atomically (temp file + rename); the name is
    /// the outbox id, so a retried delivery rewrites the same file instead of adding one.
    File {
        dir: PathBuf,
    },
    Relay(AsyncSmtpTransport<Tokio1Executor>),
    /// `--outbound mx`: to each recipient domain's MX hosts (built by the app, which has the
    /// resolver; see [`super::direct`]).
    Direct(Box<super::direct::Direct>),
}

impl Transport {
    pub fn new(outbound: &Outbound, outbox_dir: PathBuf) -> Result<Transport, DeliveryError> {
        match outbound {
            Outbound::File => Ok(Transport::File { dir: outbox_dir }),
            Outbound::Mx => Err(DeliveryError::Permanent(
                "direct delivery is built with its resolver: Transport::Direct".into(),
            )),
            Outbound::Relay {
                host,
                port,
                credentials,
            } => {
                let tls = TlsParameters::new(host.clone())
                    .map_err(|e| DeliveryError::Permanent(format!("TLS setup for {host}: {e}")))?;
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                        .port(*port)
                        // Use STARTTLS when the relay offers it, plain otherwise.
                        .tls(Tls::Opportunistic(tls))
                        .timeout(Some(Duration::from_secs(60)));
                if let Some((user, password)) = credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Ok(Transport::Relay(builder.build()))
            }
        }
    }

    pub async fn deliver(&self, email: &OutboxEmail) -> Result<(), DeliveryError> {
        match self {
            Transport::File { dir } => {
                let final_path = dir.join(format!("{}.eml", email.id));
                let tmp_path = dir.join(format!(".{}.eml.tmp", email.id));
                let write = async {
                    tokio::fs::create_dir_all(dir).await?;
                    tokio::fs::write(&tmp_path, &email.data).await?;
                    let file = tokio::fs::File::open(&tmp_path).await?;
                    file.sync_all().await?;
                    tokio::fs::rename(&tmp_path, &final_path).await
                };
                write.await.map_err(|e| {
                    DeliveryError::Transient(format!("writing {}: {e}", final_path.display()))
                })
            }
            Transport::Direct(direct) => direct.deliver(email).await,
            Transport::Relay(relay) => {
                let from = if email.envelope_from.is_empty() {
                    None
                } else {
                    Some(email.envelope_from.parse().map_err(|e| {
                        DeliveryError::Permanent(format!("bad envelope sender: {e}"))
                    })?)
                };
                let to = email
                    .recipient
                    .parse()
                    .map_err(|e| DeliveryError::Permanent(format!("bad recipient address: {e}")))?;
                let envelope = Envelope::new(from, vec![to])
                    .map_err(|e| DeliveryError::Permanent(format!("bad envelope: {e}")))?;
                match relay.send_raw(&envelope, &email.data).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_permanent() => Err(DeliveryError::Permanent(e.to_string())),
                    Err(e) => Err(DeliveryError::Transient(e.to_string())),
                }
            }
        }
    }
}
