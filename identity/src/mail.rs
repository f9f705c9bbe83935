//! Mail to people: email verification and password-reset links. Through an SMTP server
//! (`VITRINE_SMTP_URL`, e.g. `smtp://mail.example:587?tls=required` or `smtps://user:pass@host`),
//! or — on the embedded defaults, with no mail server — written as `.eml` files under
//! `DATA_DIR/mail/` with the link in the log, so one machine works on its own.

use std::path::{Path, PathBuf};

use anyhow::Context;
use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// SMTP when `smtp_url` is set, else `.eml` files under `data_dir/mail`.
    pub fn new(smtp_url: Option<&str>, from: &str, data_dir: &Path) -> anyhow::Result<Mailer> {
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("the sender address {from:?} is not a mailbox"))?;
        let transport = match smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("VITRINE_SMTP_URL is not an smtp:// or smtps:// URL")?
                    .build(),
            ),
            None => {
                let dir = data_dir.join("mail");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Transport::Files {
                    transport: AsyncFileTransport::new(&dir),
                    dir,
                }
            }
        };
        Ok(Mailer { from, transport })
    }

    /// Sends a plain-text message. `link` is logged when mail goes to files (a person on a
    /// single machine finds it in the log), never when it goes out by SMTP.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        body: String,
        link: &str,
    ) -> anyhow::Result<()> {
        let to: Mailbox = to
            .parse()
            .with_context(|| format!("{to:?} is not a mailbox"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .context("building a message")?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("sending mail by SMTP")?;
            }
            Transport::Files { transport, dir } => {
                let id = transport
                    .send(message)
                    .await
                    .context("writing mail to a file")?;
                tracing::info!(to = %to.email, subject, link, file = %dir.join(format!("{id}.eml")).display(), "mail written (no SMTP server configured)");
            }
        }
        Ok(())
    }
}
