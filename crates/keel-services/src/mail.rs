//! Transactional email: templates with a plain-text and an HTML part, always sent through the
//! job queue (a slow or failing mail server never holds up a request, and a failed send retries).
//!
//! [`send_later`] enqueues a `mail.send` job in the caller's transaction; the worker renders the
//! template with the job's data and hands the message to the configured mailer.

use crate::jobs::{JobSpec, enqueue};
use crate::{Result, ServiceError};
use keel_platform::mail::OutgoingMail;
use keel_store::Conn;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SEND_JOB: &str = "mail.send";
pub const QUEUE: &str = "mail";

/// The messages Keel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    Welcome,
    PasswordReset,
    EmailVerification,
    StaffInvitation,
    OrderConfirmation,
    ShippingNotification,
}

/// Escapes text for HTML.
fn esc(raw: &str) -> String {
    raw.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn text(data: &Value, key: &str) -> String {
    match &data[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;color:#1b1b1b;max-width:560px;margin:auto\">\
         <h1 style=\"font-size:20px\">{}</h1>{body}<p style=\"color:#666;font-size:12px\">Sent by Keel</p></body></html>",
        esc(title)
    )
}

/// A message whose point is one link: (subject, text, HTML). Refuses data without the link.
fn link_mail(hello: &str, data: &Value, subject: &str, intro: &str, action: &str) -> Result<(String, String, String)> {
    let link = text(data, "link");
    if link.is_empty() {
        return Err(ServiceError::invalid("data.link", format!("{subject:?} needs its link")));
    }
    let plain = format!("{hello},\n\n{intro}\n{link}\n\nIf you did not ask for this, ignore this message.\n");
    let html = page(
        subject,
        &format!(
            "<p>{},</p><p>{}</p><p><a href=\"{}\">{}</a></p><p>If you did not ask for this, ignore this message.</p>",
            esc(hello),
            esc(intro),
            esc(&link),
            esc(action)
        ),
    );
    Ok((subject.to_string(), plain, html))
}

/// Renders a template with its data into subject, text and HTML. Data fields are plain strings
/// (or numbers); order lines are `[{"title", "quantity", "total"}]` with money pre-formatted.
pub fn render(template: Template, to: &str, data: &Value) -> Result<OutgoingMail> {
    let name = text(data, "name");
    let hello = if name.is_empty() { "Hello".to_string() } else { format!("Hello {name}") };
    let (subject, plain, html) = match template {
        Template::Welcome => {
            let subject = "Welcome!".to_string();
            let plain = format!("{hello},\n\nyour account is ready. Happy shopping!\n");
            let html = page(&subject, &format!("<p>{},</p><p>your account is ready. Happy shopping!</p>", esc(&hello)));
            (subject, plain, html)
        }
        Template::PasswordReset => link_mail(
            &hello,
            data,
            "Reset your password",
            "reset your password here (the link works once, for one hour):",
            "Reset your password",
        )?,
        Template::EmailVerification => link_mail(
            &hello,
            data,
            "Confirm your email address",
            "confirm your email address here (the link works once, for two days):",
            "Confirm your email address",
        )?,
        Template::StaffInvitation => {
            let who = text(data, "invited_by");
            let role = text(data, "role");
            link_mail(
                "Hello",
                data,
                "You are invited to a Keel admin",
                &format!("{who} invites you to join as {role}. Accept here (the link works once, for a week):"),
                "Accept the invitation",
            )?
        }
        Template::OrderConfirmation => {
            let number = text(data, "order_number");
            let total = text(data, "total");
            let lines: Vec<(String, String, String)> = data["lines"]
                .as_array()
                .map(|ls| ls.iter().map(|l| (text(l, "title"), text(l, "quantity"), text(l, "total"))).collect())
                .unwrap_or_default();
            let subject = format!("Order {number} confirmed");
            let mut plain = format!("{hello},\n\nthank you for your order {number}.\n\n");
            for (title, qty, line_total) in &lines {
                plain.push_str(&format!("  {qty} x {title}  {line_total}\n"));
            }
            plain.push_str(&format!("\nTotal: {total}\n"));
            let rows: String = lines
                .iter()
                .map(|(t, q, lt)| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td></tr>",
                        esc(q),
                        esc(t),
                        esc(lt)
                    )
                })
                .collect();
            let html = page(
                &subject,
                &format!(
                    "<p>{},</p><p>thank you for your order <strong>{}</strong>.</p><table>{rows}</table><p><strong>Total: {}</strong></p>",
                    esc(&hello),
                    esc(&number),
                    esc(&total)
                ),
            );
            (subject, plain, html)
        }
        Template::ShippingNotification => {
            let number = text(data, "order_number");
            let carrier = text(data, "carrier");
            let tracking = text(data, "tracking_number");
            let subject = format!("Order {number} has shipped");
            let plain =
                format!("{hello},\n\nyour order {number} is on its way with {carrier}.\nTracking number: {tracking}\n");
            let html = page(
                &subject,
                &format!(
                    "<p>{},</p><p>your order <strong>{}</strong> is on its way with {}.</p><p>Tracking number: <code>{}</code></p>",
                    esc(&hello),
                    esc(&number),
                    esc(&carrier),
                    esc(&tracking)
                ),
            );
            (subject, plain, html)
        }
    };
    Ok(OutgoingMail { to: to.to_string(), subject, text: plain, html })
}

/// Enqueues a message in the caller's transaction. `unique_key` (e.g. `order-confirmation:ord_…`)
/// keeps a retried use case from mailing twice.
pub async fn send_later(
    c: &mut Conn<'_>,
    to: &str,
    template: Template,
    data: Value,
    unique_key: Option<String>,
) -> Result<()> {
    render(template, to, &data)?; // refuse what would never render, now rather than in the worker
    let mut job =
        JobSpec::new(SEND_JOB, serde_json::json!({"to": to, "template": template, "data": data})).queue(QUEUE);
    if let Some(key) = unique_key {
        job = job.unique_key(key);
    }
    enqueue(c, job).await?;
    Ok(())
}

/// The associated data of sealed mail data.
pub const SEALED_PURPOSE: &str = "mail.data";

/// Like [`send_later`], for mail that carries a secret (a reset or invitation link): the data is
/// sealed with the server key in the job's payload, so the queue never holds the link in clear.
pub async fn send_sealed_later(
    c: &mut Conn<'_>,
    secrets: &keel_platform::secrets::SecretBox,
    to: &str,
    template: Template,
    data: Value,
) -> Result<()> {
    render(template, to, &data)?;
    let sealed = secrets.seal_str(SEALED_PURPOSE, &data.to_string());
    let job =
        JobSpec::new(SEND_JOB, serde_json::json!({"to": to, "template": template, "sealed_data": sealed})).queue(QUEUE);
    enqueue(c, job).await?;
    Ok(())
}

/// The data of a `mail.send` job's payload, opened if it was sealed.
pub fn payload_data(payload: &Value, secrets: &keel_platform::secrets::SecretBox) -> Result<Value> {
    match payload["sealed_data"].as_str() {
        Some(sealed) => {
            let text = secrets.open_str(SEALED_PURPOSE, sealed).map_err(|e| ServiceError::Internal(e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| ServiceError::Internal(format!("sealed mail data: {e}")))
        }
        None => Ok(payload["data"].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_confirmation_lists_lines_in_both_parts_and_escapes_html() {
        let data = serde_json::json!({"name": "Ada <script>", "order_number": "1042", "total": "$54.00",
            "lines": [{"title": "Linen Shirt", "quantity": 2, "total": "$49.00"}]});
        let mail = render(Template::OrderConfirmation, "ada@example.com", &data).unwrap();
        assert_eq!(mail.subject, "Order 1042 confirmed");
        assert!(mail.text.contains("2 x Linen Shirt  $49.00") && mail.text.contains("Total: $54.00"));
        assert!(mail.html.contains("Linen Shirt") && mail.html.contains("&lt;script&gt;"));
        assert!(!mail.html.contains("<script>"));
    }

    #[test]
    fn a_reset_without_its_link_is_refused() {
        assert!(render(Template::PasswordReset, "a@example.com", &serde_json::json!({})).is_err());
    }
}
