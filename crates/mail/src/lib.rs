//! Outgoing e-mail through lettre: SMTP when `MESTRING_SMTP_URL` is set,
//! otherwise `.eml` files in the data directory's outbox.
//!
//! SMTP over TLS (`smtps://`, or STARTTLS with `?tls=required`) or plain
//! SMTP to a nearby relay; see [`Mailer::new`]. Recipients are personal
//! data: never logged.

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
    /// The transport `MESTRING_SMTP_URL` names, else the file outbox in
    /// `outbox`. Accepted forms:
    ///
    /// - `smtps://[USER:PASS@]HOST[:PORT]`: TLS from the start (port 465);
    /// - `smtp://[USER:PASS@]HOST[:PORT]?tls=required`: STARTTLS, refused
    ///   if the server does not offer it (port 587 is usual);
    /// - `smtp://HOST[:PORT]`: plain SMTP, for a relay on the same host or
    ///   network. Credentials are refused here, so a password never
    ///   crosses the network in clear.
    ///
    /// TLS uses rustls with the `ring` provider and the Mozilla roots.
    pub fn new(smtp_url: Option<&str>, outbox: PathBuf) -> Result<Self, MailError> {
        let Some(url) = smtp_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self {
                kind: Kind::File(outbox),
            });
        };
        let tls = url.starts_with("smtps://")
            || (url.starts_with("smtp://") && url.contains("tls=required"));
        if !url.starts_with("smtp://") && !url.starts_with("smtps://") {
            return Err(MailError::BadUrl("expected smtp:// or smtps://"));
        }
        let authority = url
            .split_once("://")
            .map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
        if authority.contains('@') && !tls {
            return Err(MailError::BadUrl(
                "credentials need TLS: use smtps:// or add ?tls=required",
            ));
        }
        if authority
            .rsplit('@')
            .next()
            .is_none_or(|h| h.is_empty() || h.starts_with(':'))
        {
            return Err(MailError::BadUrl("missing host"));
        }
        let transport = SmtpTransport::from_url(url)
            .map_err(|_| MailError::BadUrl("cannot parse the URL (check host, port and tls)"))?
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
                .map_err(|e| MailError::Send(describe_smtp_error(&e))),
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

/// What went wrong, without the server's reply text: an SMTP reply may
/// quote the recipient's address, which must not reach the logs.
fn describe_smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let kind = if e.is_permanent() {
        "permanent SMTP error"
    } else if e.is_transient() {
        "transient SMTP error"
    } else if e.is_timeout() {
        "SMTP timeout"
    } else {
        "SMTP connection or protocol error"
    };
    match e.status() {
        Some(code) => format!("{kind} (reply code {code})"),
        None => kind.to_owned(),
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
        assert!(Mailer::new(Some("smtps://mail.example.org"), dir.clone()).is_ok());
        assert!(Mailer::new(Some("smtps://u:p@mail.example.org:465"), dir.clone()).is_ok());
        assert!(
            Mailer::new(
                Some("smtp://u:p@mail.example.org:587?tls=required"),
                dir.clone()
            )
            .is_ok()
        );
        assert!(
            Mailer::new(Some("smtp://u:p@host"), dir.clone()).is_err(),
            "no password in clear"
        );
        assert!(Mailer::new(Some("smtp://"), dir.clone()).is_err());
        assert!(Mailer::new(Some("http://host"), dir.clone()).is_err());
        assert!(Mailer::new(Some("smtp://host:x"), dir).is_err());
    }
}
