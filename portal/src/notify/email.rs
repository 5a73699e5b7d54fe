//! Email over SMTP with lettre: TLS none, STARTTLS or implicit TLS, optional login, a text and
//! an HTML part. The outbox item's id becomes the Message-ID, so a retried send that did go
//! through the first time is recognisable as the same message.
//!
//! Without a mail server (the quickstart, a laptop), `notifications.mail_dir` makes the same
//! messages files instead: `<time>-<to>.eml` (the whole message, for a mail client) and
//! `<time>-<to>.txt` (headers and the text part, to read in a terminal), so "reviewers are
//! mailed" is true, and visible, without any setup.

use std::path::{Path, PathBuf};
use std::time::Duration;

use askama::Template;
use jitgate_access::config::{SmtpConfig, SmtpTls};
use jitgate_access::ids::{NotificationId, UserId};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::message::Message;

#[derive(Template)]
#[template(path = "email.html")]
struct HtmlBody<'a> {
    message: &'a Message,
}

/// Where mail goes.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// A directory to write each message into.
    Files(PathBuf),
}

pub struct EmailSender {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
}

/// The sender of development mail.
const FILES_FROM: &str = "jitgate <jitgate@localhost>";
/// Writing two small files never takes long; this only bounds a stuck disk.
const FILES_TIMEOUT: Duration = Duration::from_secs(10);

impl EmailSender {
    /// Development mail into `dir` (created if missing).
    pub fn files(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("notifications.mail_dir {}: {e}", dir.display()))?;
        let from = FILES_FROM.parse().map_err(|e| format!("{FILES_FROM}: {e}"))?;
        Ok(Self { transport: Transport::Files(dir.to_owned()), from, timeout: FILES_TIMEOUT })
    }

    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        let fail = |e: &dyn std::fmt::Display| format!("smtp {}: {e}", config.host);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(config.timeout));
        if config.tls != SmtpTls::None {
            let mut params = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
                let ca = Certificate::from_pem(&pem)
                    .map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
                params = params.add_root_certificate(ca);
            }
            let params = params.build_rustls().map_err(|e| fail(&e))?;
            builder = builder.tls(match config.tls {
                SmtpTls::StartTls => Tls::Required(params),
                _ => Tls::Wrapper(params),
            });
        }
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let from = config.from.parse().map_err(|e| format!("smtp.from {:?}: {e}", config.from))?;
        Ok(Self { transport: Transport::Smtp(builder.build()), from, timeout: config.timeout })
    }

    /// How long one mail's whole SMTP conversation may take (`smtp.timeout`); the worker
    /// holds every send to it.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn send(
        &self,
        id: NotificationId,
        to: &UserId,
        message: &Message,
    ) -> Result<(), String> {
        let html = HtmlBody { message }.render().map_err(|e| format!("email template: {e}"))?;
        let mailbox: Mailbox = to.as_str().parse().map_err(|e| format!("address {to}: {e}"))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(mailbox)
            .subject(&message.subject)
            .message_id(Some(format!("<{id}@jitgate>")))
            .multipart(MultiPart::alternative_plain_html(message.text(), html))
            .map_err(|e| format!("building the email: {e}"))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(email).await.map(|_| ()).map_err(|e| format!("smtp: {e}"))
            }
            Transport::Files(dir) => {
                let readable = format!(
                    "From: {}\nTo: {to}\nSubject: {}\n\n{}",
                    self.from,
                    message.subject,
                    message.text()
                );
                write_files(dir, id, to, &email.formatted(), &readable).await
            }
        }
    }
}

/// `<dir>/<UTC time>-<id>-<to>.eml` and `.txt`, written whole under a temporary name and then
/// renamed, so a reader never sees half a message. The id keeps a retried send one file.
async fn write_files(
    dir: &Path,
    id: NotificationId,
    to: &UserId,
    eml: &[u8],
    txt: &str,
) -> Result<(), String> {
    let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() || "@.-_".contains(c) { c } else { '_' })
            .collect()
    };
    let stem = format!("{}-{}-{}", safe(&time), safe(&id.to_string()), safe(to.as_str()));
    let files = [(format!("{stem}.eml"), eml.to_vec()), (format!("{stem}.txt"), txt.into())];
    let dir = dir.to_owned();
    let written = tokio::task::spawn_blocking(move || {
        for (name, body) in files {
            let partial = dir.join(format!(".{name}.partial"));
            std::fs::write(&partial, body)
                .and_then(|()| std::fs::rename(&partial, dir.join(&name)))
                .map_err(|e| format!("writing {}: {e}", dir.join(&name).display()))?;
        }
        Ok(())
    })
    .await;
    written.unwrap_or_else(|e| Err(format!("writing mail files: {e}")))
}
