//! Email over SMTP with lettre: TLS none, STARTTLS or implicit TLS, optional login, a text and
//! an HTML part. The outbox item's id becomes the Message-ID, so a retried send that did go
//! through the first time is recognisable as the same message.

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

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl EmailSender {
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
        Ok(Self { transport: builder.build(), from, timeout: config.timeout })
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
        let to: Mailbox = to.as_str().parse().map_err(|e| format!("address {to}: {e}"))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            .message_id(Some(format!("<{id}@jitgate>")))
            .multipart(MultiPart::alternative_plain_html(message.text(), html))
            .map_err(|e| format!("building the email: {e}"))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| format!("smtp: {e}"))
    }
}
