//! Outgoing e-mail through lettre: SMTP when `MESTRING_SMTP_URL` is set,
//! otherwise `.eml` files in the data directory's outbox.
//!
//! Only plain SMTP (no TLS) is compiled in for now: the TLS backends need
//! native build tools. Point it at a local relay (e.g. on the same host)
//! that does TLS onwards. Recipients are personal data: never logged.

use std::path::PathBuf;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{FileTransport, Message, SmtpTransport, Transport};

/// Sender shown in the e-mails.
const FROM: &str = "Mestring <ikke-svar@mestring.invalid>";

/// Why an e-mail could not be sent (no addresses or contents in it).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The configured SMTP URL cannot be used.
    #[error("MESTRING_SMTP_URL is not usable: {0}")]
    BadUrl(&'static str),
    /// The recipient is not a valid address.
    #[error("invalid recipient address")]
    BadAddress,
    /// Building the message failed.
    #[error("could not build the message")]
    Build,
    /// The transport refused or failed.
    #[error("sending failed: {0}")]
    Send(String),
}

enum Kind {
    Smtp(SmtpTransport),
    File(PathBuf),
}

/// Sends e-mail. Cheap to share behind an `Arc`.
pub struct Mailer {
    kind: Kind,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Smtp(_) => f.write_str("Mailer(smtp)"),
            Kind::File(_) => f.write_str("Mailer(outbox)"),
        }
    }
}

impl Mailer {
    /// SMTP for `smtp://HOST[:PORT]`, else the file outbox in `outbox`.
    pub fn new(smtp_url: Option<&str>, outbox: PathBuf) -> Result<Self, MailError> {
        let Some(url) = smtp_url.filter(|u| !u.trim().is_empty()) else {
            return Ok(Self {
                kind: Kind::File(outbox),
            });
        };
        let rest = url
            .trim()
            .strip_prefix("smtp://")
            .ok_or(MailError::BadUrl("expected smtp://HOST[:PORT]"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') || rest.contains('/') || rest.contains('?') {
            return Err(MailError::BadUrl(
                "only smtp://HOST[:PORT] is supported (no credentials over plain SMTP)",
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| MailError::BadUrl("port is not a number"))?,
            ),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(MailError::BadUrl("missing host"));
        }
        let transport = SmtpTransport::builder_dangerous(host)
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        Ok(Self {
            kind: Kind::Smtp(transport),
        })
    }

    /// Where file-outbox mail goes, if that is the transport.
    pub fn outbox(&self) -> Option<&PathBuf> {
        match &self.kind {
            Kind::File(p) => Some(p),
            Kind::Smtp(_) => None,
        }
    }

    /// Sends a plain-text e-mail (blocking; call from a blocking thread or
    /// through [`Mailer::send`]).
    pub fn send_blocking(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::BadAddress)?;
        let from: Mailbox = FROM.parse().map_err(|_| MailError::Build)?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|_| MailError::Build)?;
        match &self.kind {
            Kind::Smtp(t) => t
                .send(&message)
                .map(|_| ())
                .map_err(|e| MailError::Send(e.to_string())),
            Kind::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| MailError::Send(e.to_string()))?;
                FileTransport::new(dir)
                    .send(&message)
                    .map(|_| ())
                    .map_err(|e| MailError::Send(e.to_string()))
            }
        }
    }

    /// Sends on tokio's blocking pool.
    pub async fn send(
        self: &std::sync::Arc<Self>,
        to: String,
        subject: String,
        body: String,
    ) -> Result<(), MailError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.send_blocking(&to, &subject, &body))
            .await
            .map_err(|_| MailError::Send("mail task failed".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let dir = PathBuf::from("/tmp/outbox");
        assert!(
            Mailer::new(None, dir.clone())
                .expect("outbox")
                .outbox()
                .is_some()
        );
        assert!(Mailer::new(Some("smtp://127.0.0.1:2525"), dir.clone()).is_ok());
        assert!(Mailer::new(Some("smtp://u:p@host"), dir.clone()).is_err());
        assert!(Mailer::new(Some("http://host"), dir.clone()).is_err());
        assert!(Mailer::new(Some("smtp://host:x"), dir).is_err());
    }
}
