//! Sending email. The embedded default writes each message as an `.eml` file (readable by any
//! mail client) into a directory; with `KEEL_SMTP_URL` messages go out over SMTP — `smtp://host:25`
//! plain, `smtp://host:587?tls=required` with STARTTLS, `smtps://host:465` with TLS, credentials as
//! `smtp://user:password@host…`. Every message has a plain-text and an HTML part.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

/// One message, already rendered.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address or message: {0}")]
    Invalid(String),
    #[error("cannot deliver: {0}")]
    Delivery(String),
}

#[derive(Clone)]
pub enum Mailer {
    /// Writes `.eml` files into a directory.
    Files {
        dir: PathBuf,
        from: Mailbox,
    },
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
}

impl Mailer {
    pub fn files(dir: PathBuf, from: &str) -> Result<Mailer, MailError> {
        Ok(Mailer::Files { dir, from: from.parse().map_err(|e| MailError::Invalid(format!("from address: {e}")))? })
    }

    /// An SMTP mailer from a URL such as `smtp://user:pw@mail.example.com:587?tls=required`.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, MailError> {
        crate::http::install_crypto();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Invalid(format!("KEEL_SMTP_URL: {e}")))?
            .build();
        Ok(Mailer::Smtp {
            transport,
            from: from.parse().map_err(|e| MailError::Invalid(format!("from address: {e}")))?,
        })
    }

    fn build(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, MailError> {
        let to: Mailbox = mail.to.parse().map_err(|e| MailError::Invalid(format!("to address {:?}: {e}", mail.to)))?;
        Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| MailError::Invalid(e.to_string()))
    }

    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        match self {
            Mailer::Files { dir, from } => {
                let message = Self::build(from, mail)?;
                tokio::fs::create_dir_all(dir).await.map_err(|e| MailError::Delivery(e.to_string()))?;
                let name = format!("{}-{}.eml", chrono_stamp(), std::process::id());
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted()).await.map_err(|e| MailError::Delivery(e.to_string()))?;
                tracing::info!(to = %mail.to, subject = %mail.subject, path = %path.display(), "mail written");
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let message = Self::build(from, mail)?;
                transport.send(message).await.map_err(|e| MailError::Delivery(e.to_string()))?;
                tracing::info!(to = %mail.to, subject = %mail.subject, "mail sent");
                Ok(())
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Mailer::Files { .. } => "files",
            Mailer::Smtp { .. } => "smtp",
        }
    }
}

fn chrono_stamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}{:09}", now.as_secs(), now.subsec_nanos())
}
