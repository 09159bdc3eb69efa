//! An invoice as a PDF, drawn with the standard Helvetica fonts (no font files, no external
//! program). Text is set in WinAnsi encoding: characters outside it print as `?`.

use keel_domain::Money;
use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str};
use serde::{Deserialize, Serialize};

/// What an invoice shows. Money values are all in the invoice's currency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invoice {
    pub number: String,
    /// Issue date as printed, e.g. "2026-11-25".
    pub issued_on: String,
    pub seller: Vec<String>,
    pub bill_to: Vec<String>,
    pub ship_to: Vec<String>,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    /// Tax per rate, e.g. ("VAT 20%", 900).
    pub taxes: Vec<(String, Money)>,
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub description: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub total: Money,
}

/// Text in WinAnsi: Latin-1 plus the typographic marks of its 0x80–0x9F range; anything else
/// becomes '?'.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            c if (c as u32) < 256 && !c.is_control() => c as u8,
            _ => b'?',
        })
        .collect()
}

struct Page {
    content: Content,
}

impl Page {
    fn text(&mut self, font: &[u8], size: f32, x: f32, y: f32, text: &str) {
        let bytes = latin1(text);
        self.content.begin_text();
        self.content.set_font(Name(font), size);
        self.content.next_line(x, y);
        self.content.show(Str(&bytes));
        self.content.end_text();
    }

    /// Right-aligned at `right` (Helvetica digits are 0.556 em wide; close enough for amounts).
    fn text_right(&mut self, font: &[u8], size: f32, right: f32, y: f32, text: &str) {
        let width = text.chars().count() as f32 * size * 0.556;
        self.text(font, size, right - width, y, text);
    }

    fn rule(&mut self, y: f32) {
        self.content.set_line_width(0.5);
        self.content.move_to(50.0, y);
        self.content.line_to(545.0, y);
        self.content.stroke();
    }
}

/// Renders the invoice on A4 pages (lines continue on new pages when they do not fit).
pub fn render_pdf(invoice: &Invoice) -> Vec<u8> {
    const REGULAR: &[u8] = b"F1";
    const BOLD: &[u8] = b"F2";
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let mut next_ref = 5;

    let mut pages: Vec<Content> = Vec::new();
    let mut page = Page { content: Content::new() };
    page.text(BOLD, 22.0, 50.0, 780.0, "INVOICE");
    page.text(REGULAR, 10.0, 50.0, 762.0, &format!("Invoice number: {}", invoice.number));
    page.text(REGULAR, 10.0, 50.0, 749.0, &format!("Date: {}", invoice.issued_on));
    let mut y = 780.0;
    for line in &invoice.seller {
        page.text(REGULAR, 9.0, 380.0, y, line);
        y -= 12.0;
    }
    let mut y = 715.0;
    page.text(BOLD, 10.0, 50.0, y, "Bill to");
    page.text(BOLD, 10.0, 300.0, y, "Ship to");
    for i in 0..invoice.bill_to.len().max(invoice.ship_to.len()) {
        y -= 13.0;
        if let Some(l) = invoice.bill_to.get(i) {
            page.text(REGULAR, 10.0, 50.0, y, l);
        }
        if let Some(l) = invoice.ship_to.get(i) {
            page.text(REGULAR, 10.0, 300.0, y, l);
        }
    }
    y -= 30.0;
    let header = |page: &mut Page, y: f32| {
        page.text(BOLD, 10.0, 50.0, y, "Item");
        page.text(BOLD, 10.0, 290.0, y, "SKU");
        page.text_right(BOLD, 10.0, 400.0, y, "Qty");
        page.text_right(BOLD, 10.0, 470.0, y, "Unit");
        page.text_right(BOLD, 10.0, 545.0, y, "Amount");
        page.rule(y - 5.0);
    };
    header(&mut page, y);
    y -= 20.0;
    for line in &invoice.lines {
        if y < 150.0 {
            pages.push(std::mem::replace(&mut page, Page { content: Content::new() }).content);
            y = 780.0;
            header(&mut page, y);
            y -= 20.0;
        }
        let description: String = line.description.chars().take(45).collect();
        page.text(REGULAR, 10.0, 50.0, y, &description);
        page.text(REGULAR, 9.0, 290.0, y, &line.sku.chars().take(20).collect::<String>());
        page.text_right(REGULAR, 10.0, 400.0, y, &line.quantity.to_string());
        page.text_right(REGULAR, 10.0, 470.0, y, &line.unit_price.to_string());
        page.text_right(REGULAR, 10.0, 545.0, y, &line.total.to_string());
        y -= 16.0;
    }
    page.rule(y + 8.0);
    y -= 10.0;
    let mut summary: Vec<(String, Money, bool)> = vec![("Subtotal".into(), invoice.subtotal, false)];
    if invoice.discount.amount != 0 {
        summary.push(("Discount".into(), Money::new(-invoice.discount.amount, invoice.discount.currency), false));
    }
    summary.push(("Shipping".into(), invoice.shipping, false));
    for (label, amount) in &invoice.taxes {
        summary.push((label.clone(), *amount, false));
    }
    summary.push(("Total".into(), invoice.total, true));
    for (label, amount, strong) in summary {
        let font = if strong { BOLD } else { REGULAR };
        page.text(font, 10.0, 380.0, y, &label);
        page.text_right(font, 10.0, 545.0, y, &amount.to_string());
        y -= 15.0;
    }
    pages.push(page.content);

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    let page_refs: Vec<(Ref, Ref)> = pages
        .iter()
        .map(|_| {
            let ids = (Ref::new(next_ref), Ref::new(next_ref + 1));
            next_ref += 2;
            ids
        })
        .collect();
    pdf.pages(tree).kids(page_refs.iter().map(|(p, _)| *p)).count(i32::try_from(pages.len()).unwrap_or(1));
    for ((page_id, content_id), content) in page_refs.iter().zip(pages) {
        let mut p = pdf.page(*page_id);
        p.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
        p.parent(tree);
        p.contents(*content_id);
        let mut resources = p.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(REGULAR), regular);
        fonts.pair(Name(BOLD), bold);
        drop(fonts);
        drop(resources);
        drop(p);
        pdf.stream(*content_id, &content.finish());
    }
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.finish()
}
