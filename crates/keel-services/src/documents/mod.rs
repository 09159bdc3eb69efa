//! Documents Keel renders for people: invoice PDFs now. Rendering runs in a job
//! ([`RENDER_INVOICE_JOB`]) and the result is kept in the file store, under `invoices/{number}.pdf`.

pub mod invoice;

use crate::jobs::{JobSpec, enqueue};
use crate::{Result, ServiceError};
use keel_platform::files::FileStore;
use keel_store::Conn;

pub use invoice::{Invoice, InvoiceLine};

pub const RENDER_INVOICE_JOB: &str = "documents.render_invoice";
pub const QUEUE: &str = "documents";

/// Where an invoice's PDF is stored.
pub fn invoice_key(number: &str) -> String {
    let safe: String = number.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("invoices/{safe}.pdf")
}

/// Enqueues the rendering of an invoice in the caller's transaction (once per invoice number).
pub async fn render_invoice_later(c: &mut Conn<'_>, invoice: &Invoice) -> Result<()> {
    let payload = serde_json::to_value(invoice).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let job = JobSpec::new(RENDER_INVOICE_JOB, payload).queue(QUEUE).unique_key(format!("invoice:{}", invoice.number));
    enqueue(c, job).await?;
    Ok(())
}

/// The job: render and store. Storing the same key again overwrites it, so a rerun is harmless.
pub async fn render_invoice(store: &FileStore, invoice: &Invoice) -> Result<String> {
    let pdf = invoice::render_pdf(invoice);
    let key = invoice_key(&invoice.number);
    store.put(&key, &pdf).await.map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    Ok(key)
}
