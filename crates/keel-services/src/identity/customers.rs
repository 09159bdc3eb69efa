//! Customer accounts: registration, sign-in, profile, address book, password change and reset,
//! email verification, data export and erasure.
//!
//! Every operation on a customer's own data takes their [`CustomerPrincipal`] and reads rows by
//! (customer id, object id): another customer's address id is simply not found (404), never
//! forbidden, so ids cannot be probed.

use super::passwords::{self, Verified};
use super::sessions::{SessionService, SubjectKind};
use super::throttle::{Attempt, Throttle};
use super::{CustomerPrincipal, IdentityOptions, TokenPair, digest, new_secret};
use crate::mail::{Template, send_later, send_sealed_later};
use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::catalog::Label;
use keel_domain::identity::{Email, check_new_password};
use keel_domain::{AddressId, CustomerId, ValidationErrors};
use keel_platform::secrets::SecretBox;
use keel_store::{Conn, Db, JsonColumn, identity as repo};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

const RESET: &str = "password_reset";
const VERIFY: &str = "email_verification";
const TOKEN_PREFIX: &str = "keel_tk_";

/// A customer as they (and staff) see their account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Customer {
    pub id: CustomerId,
    pub email: String,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Address {
    pub id: AddressId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: Option<String>,
    pub province: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    #[schema(example = "DE")]
    pub country_code: String,
    pub phone: Option<String>,
    /// The address offered first at checkout.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "RegisterInput")]
pub struct Register {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 10 to 128 characters.
    #[schema(example = "correct horse battery")]
    pub password: String,
    #[serde(default)]
    #[graphql(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    #[graphql(default)]
    pub last_name: Option<String>,
}

/// Profile changes; an absent field stays, an empty string clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

/// A new address, or (for updates) the fields to change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub province: Option<String>,
    #[schema(example = "DE")]
    pub country_code: Option<String>,
    pub phone: Option<String>,
    pub is_default: Option<bool>,
}

/// Everything Keel holds about a customer, for a data export.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerExport {
    pub exported_at: DateTime<Utc>,
    pub customer: Customer,
    pub addresses: Vec<Address>,
    /// Orders placed (empty until orders exist).
    #[schema(value_type = Vec<Object>)]
    pub orders: Vec<serde_json::Value>,
}

fn customer_of(row: repo::CustomerRow) -> Result<Customer> {
    Ok(Customer {
        id: CustomerId::parse(&row.id).map_err(|_| ServiceError::Internal(format!("customer id {:?}", row.id)))?,
        email: row.email,
        email_verified: row.email_verified_at.is_some(),
        first_name: row.first_name,
        last_name: row.last_name,
        phone: row.phone,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn address_of(row: repo::AddressRow) -> Result<Address> {
    Ok(Address {
        id: AddressId::parse(&row.id).map_err(|_| ServiceError::Internal(format!("address id {:?}", row.id)))?,
        first_name: row.first_name,
        last_name: row.last_name,
        company: row.company,
        line1: row.line1,
        line2: row.line2,
        city: row.city,
        postal_code: row.postal_code,
        province: row.province,
        country_code: row.country_code,
        phone: row.phone,
        is_default: row.is_default,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// An optional text field: trimmed, bounded; empty means none.
fn optional_text(errors: &mut ValidationErrors, field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    errors.check(field, Label::parse(raw, max)).map(Label::into_string)
}

fn required_text(errors: &mut ValidationErrors, field: &str, raw: Option<&str>, max: usize) -> String {
    match raw {
        Some(raw) => errors.check(field, Label::parse(raw, max)).map(Label::into_string).unwrap_or_default(),
        None => {
            errors.add(field, "is required");
            String::new()
        }
    }
}

fn check_password(password: &str, email: &str) -> Result<()> {
    check_new_password(password, email).map_err(|m| ServiceError::invalid("password", m))
}

#[derive(Clone)]
pub struct CustomerService {
    db: Db,
    sessions: SessionService,
    throttle: Throttle,
    options: IdentityOptions,
    secrets: SecretBox,
}

impl CustomerService {
    pub fn new(
        db: Db,
        sessions: SessionService,
        throttle: Throttle,
        options: IdentityOptions,
        secrets: SecretBox,
    ) -> Self {
        CustomerService { db, sessions, throttle, options, secrets }
    }

    /// Creates an account and mails a welcome and an email-verification link.
    pub async fn register(&self, input: Register) -> Result<Customer> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&input.email));
        let first_name = optional_text(&mut errors, "first_name", input.first_name.as_deref(), 100);
        let last_name = optional_text(&mut errors, "last_name", input.last_name.as_deref(), 100);
        if let Err(message) = check_new_password(&input.password, &input.email) {
            errors.add("password", message);
        }
        let email = errors.finish(|| email)?.ok_or_else(|| ServiceError::invalid("email", "is required"))?;
        let password_hash = passwords::hash(input.password).await?;
        let at = now();
        let row = repo::CustomerRow {
            id: CustomerId::new().to_string(),
            email: email.to_string(),
            email_verified_at: None,
            password_hash: Some(password_hash),
            first_name,
            last_name,
            phone: None,
            status: "active".into(),
            created_at: at,
            updated_at: at,
            erased_at: None,
        };
        let mut tx = self.db.begin().await?;
        repo::insert_customer(&mut tx.conn(), &row).await?;
        let name = row.first_name.clone().unwrap_or_default();
        send_later(&mut tx.conn(), &row.email, Template::Welcome, serde_json::json!({"name": name}), None).await?;
        self.send_verification(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        customer_of(row)
    }

    async fn send_verification(&self, c: &mut Conn<'_>, row: &repo::CustomerRow) -> Result<()> {
        let token = self.issue_token(c, VERIFY, &row.id, self.options.email_verification_ttl).await?;
        let link = format!("{}/account/verify-email?token={token}", self.options.public_url);
        let data = serde_json::json!({"name": row.first_name.clone().unwrap_or_default(), "link": link});
        send_sealed_later(c, &self.secrets, &row.email, Template::EmailVerification, data).await
    }

    /// Issues a single-use token for `purpose`, voiding the subject's earlier ones.
    async fn issue_token(
        &self,
        c: &mut Conn<'_>,
        purpose: &str,
        subject: &str,
        ttl: chrono::Duration,
    ) -> Result<String> {
        let at = now();
        repo::void_tokens(c, purpose, subject, at).await?;
        let (token, token_hash) = new_secret(TOKEN_PREFIX);
        let row = repo::TokenRow {
            token_hash,
            purpose: purpose.into(),
            subject_id: subject.into(),
            data: JsonColumn(serde_json::json!({})),
            created_at: at,
            expires_at: at + ttl,
            used_at: None,
        };
        repo::insert_token(c, &row).await?;
        Ok(token)
    }

    /// Signs a customer in. Wrong email and wrong password give the same answer, in the same
    /// time; repeated failures lock the account and the client address for a while.
    pub async fn login(&self, email: &str, password: &str, client: Option<IpAddr>) -> Result<TokenPair> {
        let attempt = Attempt::new("customer-login", email, client);
        self.throttle.check(&attempt).await?;
        let found = match Email::parse(email) {
            Ok(email) => {
                let mut conn = self.db.read().await?;
                repo::find_customer_by_email(&mut conn.conn(), email.as_str()).await?
            }
            Err(_) => None,
        }
        .filter(|c| c.status == "active");
        let stored = found.as_ref().and_then(|c| c.password_hash.clone());
        let verified = passwords::verify(password.to_string(), stored).await?;
        let (Some(mut customer), Verified::Yes | Verified::YesRehashed(_)) = (found, &verified) else {
            self.throttle.failed(&attempt).await?;
            return Err(ServiceError::Unauthenticated);
        };
        self.throttle.succeeded(&attempt).await?;
        let mut tx = self.db.begin().await?;
        if let Verified::YesRehashed(new_hash) = verified {
            customer.password_hash = Some(new_hash);
            customer.updated_at = now();
            repo::update_customer(&mut tx.conn(), &customer).await?;
        }
        let pair = self.sessions.start(&mut tx.conn(), SubjectKind::Customer, &customer.id).await?;
        tx.commit().await?;
        Ok(pair)
    }

    /// The signed-in customer behind an access token.
    pub async fn authenticate(&self, access_token: &str) -> Result<CustomerPrincipal> {
        let session = self.sessions.authenticate(SubjectKind::Customer, access_token).await?;
        let customer_id = CustomerId::parse(&session.subject_id).map_err(|_| ServiceError::Unauthenticated)?;
        Ok(CustomerPrincipal { customer_id, session_id: session.id })
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        Ok(self.sessions.refresh(SubjectKind::Customer, refresh_token).await?.0)
    }

    pub async fn logout(&self, who: CustomerPrincipal) -> Result<()> {
        self.sessions.revoke(who.session_id, "logout").await
    }

    async fn row(&self, c: &mut Conn<'_>, id: CustomerId) -> Result<repo::CustomerRow> {
        repo::find_customer(c, &id.to_string())
            .await?
            .filter(|c| c.status == "active")
            .ok_or(ServiceError::NotFound { entity: "customer" })
    }

    pub async fn me(&self, who: CustomerPrincipal) -> Result<Customer> {
        let mut conn = self.db.read().await?;
        customer_of(self.row(&mut conn.conn(), who.customer_id).await?)
    }

    pub async fn update_me(&self, who: CustomerPrincipal, patch: ProfilePatch) -> Result<Customer> {
        let mut tx = self.db.begin().await?;
        let mut row = self.row(&mut tx.conn(), who.customer_id).await?;
        let mut errors = ValidationErrors::new();
        if patch.first_name.is_some() {
            row.first_name = optional_text(&mut errors, "first_name", patch.first_name.as_deref(), 100);
        }
        if patch.last_name.is_some() {
            row.last_name = optional_text(&mut errors, "last_name", patch.last_name.as_deref(), 100);
        }
        if patch.phone.is_some() {
            row.phone = optional_text(&mut errors, "phone", patch.phone.as_deref(), 40);
        }
        errors.finish(|| ())?;
        row.updated_at = now();
        repo::update_customer(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        customer_of(row)
    }

    /// Changes the password after checking the current one; every session ends and a new one
    /// starts for the caller.
    pub async fn change_password(
        &self,
        who: CustomerPrincipal,
        current: &str,
        new: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair> {
        let mut conn = self.db.read().await?;
        let mut row = self.row(&mut conn.conn(), who.customer_id).await?;
        drop(conn);
        let attempt = Attempt::new("customer-login", &row.email, client);
        self.throttle.check(&attempt).await?;
        if passwords::verify(current.to_string(), row.password_hash.clone()).await? == Verified::No {
            self.throttle.failed(&attempt).await?;
            return Err(ServiceError::invalid("current_password", "is not the current password"));
        }
        check_password(new, &row.email)?;
        row.password_hash = Some(passwords::hash(new.to_string()).await?);
        row.updated_at = now();
        let mut tx = self.db.begin().await?;
        repo::update_customer(&mut tx.conn(), &row).await?;
        repo::revoke_sessions_of(&mut tx.conn(), "customer", &row.id, "password_changed", row.updated_at).await?;
        repo::void_tokens(&mut tx.conn(), RESET, &row.id, row.updated_at).await?;
        let pair = self.sessions.start(&mut tx.conn(), SubjectKind::Customer, &row.id).await?;
        tx.commit().await?;
        Ok(pair)
    }

    /// Mails a reset link if the email has an account. Answers the same either way; requests
    /// count against the email and the client address like failed logins.
    pub async fn request_password_reset(&self, email: &str, client: Option<IpAddr>) -> Result<()> {
        let attempt = Attempt::new("password-reset", email, client);
        self.throttle.check(&attempt).await?;
        self.throttle.failed(&attempt).await?;
        let Ok(email) = Email::parse(email) else { return Ok(()) };
        let mut tx = self.db.begin().await?;
        let Some(row) = repo::find_customer_by_email(&mut tx.conn(), email.as_str()).await? else {
            return Ok(());
        };
        if row.status != "active" {
            return Ok(());
        }
        let token = self.issue_token(&mut tx.conn(), RESET, &row.id, self.options.password_reset_ttl).await?;
        let link = format!("{}/account/reset-password?token={token}", self.options.public_url);
        let data = serde_json::json!({"name": row.first_name.clone().unwrap_or_default(), "link": link});
        send_sealed_later(&mut tx.conn(), &self.secrets, &row.email, Template::PasswordReset, data).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password with a reset token (once, before it expires). Ends every session; the
    /// email counts as verified (the link reached its inbox).
    pub async fn reset_password(&self, token: &str, new: &str) -> Result<()> {
        let invalid = || ServiceError::invalid("token", "is invalid, used or expired");
        let mut tx = self.db.begin().await?;
        let used = repo::consume_token(&mut tx.conn(), &digest(token), RESET, now()).await?.ok_or_else(invalid)?;
        let mut row = repo::find_customer(&mut tx.conn(), &used.subject_id)
            .await?
            .filter(|c| c.status == "active")
            .ok_or_else(invalid)?;
        check_password(new, &row.email)?;
        row.password_hash = Some(passwords::hash(new.to_string()).await?);
        row.updated_at = now();
        row.email_verified_at = row.email_verified_at.or(Some(row.updated_at));
        repo::update_customer(&mut tx.conn(), &row).await?;
        repo::revoke_sessions_of(&mut tx.conn(), "customer", &row.id, "password_reset", row.updated_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Mails a new verification link (the previous one stops working).
    pub async fn resend_verification(&self, who: CustomerPrincipal) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let row = self.row(&mut tx.conn(), who.customer_id).await?;
        if row.email_verified_at.is_some() {
            return Ok(());
        }
        self.send_verification(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the email verified with the token from the verification mail.
    pub async fn verify_email(&self, token: &str) -> Result<()> {
        let invalid = || ServiceError::invalid("token", "is invalid, used or expired");
        let mut tx = self.db.begin().await?;
        let used = repo::consume_token(&mut tx.conn(), &digest(token), VERIFY, now()).await?.ok_or_else(invalid)?;
        let mut row = repo::find_customer(&mut tx.conn(), &used.subject_id)
            .await?
            .filter(|c| c.status == "active")
            .ok_or_else(invalid)?;
        row.updated_at = now();
        row.email_verified_at = row.email_verified_at.or(Some(row.updated_at));
        repo::update_customer(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn addresses(&self, who: CustomerPrincipal) -> Result<Vec<Address>> {
        let mut conn = self.db.read().await?;
        repo::list_addresses(&mut conn.conn(), &who.customer_id.to_string())
            .await?
            .into_iter()
            .map(address_of)
            .collect()
    }

    pub async fn address(&self, who: CustomerPrincipal, id: AddressId) -> Result<Address> {
        let mut conn = self.db.read().await?;
        let row = repo::find_address(&mut conn.conn(), &who.customer_id.to_string(), &id.to_string())
            .await?
            .ok_or(ServiceError::NotFound { entity: "address" })?;
        address_of(row)
    }

    /// Applies `input` to `row` (all required fields must end up present).
    fn apply_address(row: &mut repo::AddressRow, input: &AddressInput) -> Result<()> {
        let mut errors = ValidationErrors::new();
        let set =
            |errors: &mut ValidationErrors, field: &str, value: &Option<String>, target: &mut Option<String>, max| {
                if value.is_some() {
                    *target = optional_text(errors, field, value.as_deref(), max);
                }
            };
        set(&mut errors, "first_name", &input.first_name, &mut row.first_name, 100);
        set(&mut errors, "last_name", &input.last_name, &mut row.last_name, 100);
        set(&mut errors, "company", &input.company, &mut row.company, 200);
        set(&mut errors, "line2", &input.line2, &mut row.line2, 200);
        set(&mut errors, "postal_code", &input.postal_code, &mut row.postal_code, 20);
        set(&mut errors, "province", &input.province, &mut row.province, 100);
        set(&mut errors, "phone", &input.phone, &mut row.phone, 40);
        if input.line1.is_some() || row.line1.is_empty() {
            row.line1 = required_text(&mut errors, "line1", input.line1.as_deref(), 200);
        }
        if input.city.is_some() || row.city.is_empty() {
            row.city = required_text(&mut errors, "city", input.city.as_deref(), 100);
        }
        if input.country_code.is_some() || row.country_code.is_empty() {
            match input.country_code.as_deref().map(str::trim) {
                Some(code) if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()) => {
                    row.country_code = code.to_ascii_uppercase();
                }
                Some(_) => errors.add("country_code", "must be an ISO 3166-1 alpha-2 code such as DE"),
                None => errors.add("country_code", "is required"),
            }
        }
        if let Some(is_default) = input.is_default {
            row.is_default = is_default;
        }
        Ok(errors.finish(|| ())?)
    }

    pub async fn add_address(&self, who: CustomerPrincipal, input: AddressInput) -> Result<Address> {
        let at = now();
        let mut row = repo::AddressRow {
            id: AddressId::new().to_string(),
            customer_id: who.customer_id.to_string(),
            first_name: None,
            last_name: None,
            company: None,
            line1: String::new(),
            line2: None,
            city: String::new(),
            postal_code: None,
            province: None,
            country_code: String::new(),
            phone: None,
            is_default: false,
            created_at: at,
            updated_at: at,
        };
        Self::apply_address(&mut row, &input)?;
        let mut tx = self.db.begin().await?;
        let existing = repo::list_addresses(&mut tx.conn(), &row.customer_id).await?;
        if existing.len() >= 50 {
            return Err(ServiceError::invalid("addresses", "an address book holds at most 50 addresses"));
        }
        // The first address is the default.
        row.is_default = row.is_default || existing.is_empty();
        if row.is_default {
            repo::clear_default_address(&mut tx.conn(), &row.customer_id).await?;
        }
        repo::insert_address(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        address_of(row)
    }

    pub async fn update_address(&self, who: CustomerPrincipal, id: AddressId, input: AddressInput) -> Result<Address> {
        let mut tx = self.db.begin().await?;
        let mut row = repo::find_address(&mut tx.conn(), &who.customer_id.to_string(), &id.to_string())
            .await?
            .ok_or(ServiceError::NotFound { entity: "address" })?;
        Self::apply_address(&mut row, &input)?;
        row.updated_at = now();
        if input.is_default == Some(true) {
            repo::clear_default_address(&mut tx.conn(), &row.customer_id).await?;
        }
        repo::update_address(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        address_of(row)
    }

    pub async fn delete_address(&self, who: CustomerPrincipal, id: AddressId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let deleted =
            repo::delete_addresses(&mut tx.conn(), &who.customer_id.to_string(), Some(&id.to_string())).await?;
        if deleted == 0 {
            return Err(ServiceError::NotFound { entity: "address" });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Everything held about the customer, as one JSON document.
    pub async fn export(&self, who: CustomerPrincipal) -> Result<CustomerExport> {
        Ok(CustomerExport {
            exported_at: now(),
            customer: self.me(who).await?,
            addresses: self.addresses(who).await?,
            orders: Vec::new(),
        })
    }

    /// Erases the account: personal fields are removed or replaced by placeholders, addresses
    /// deleted, sessions and tokens ended. The row itself stays (anonymous) so that records
    /// kept for accounting, such as orders, still point somewhere.
    pub async fn erase(&self, who: CustomerPrincipal) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let mut row = self.row(&mut tx.conn(), who.customer_id).await?;
        let at = now();
        let id = row.id.clone();
        row.email = format!("erased+{}@invalid", id.to_lowercase());
        row.email_verified_at = None;
        row.password_hash = None;
        row.first_name = None;
        row.last_name = None;
        row.phone = None;
        row.status = "erased".into();
        row.updated_at = at;
        row.erased_at = Some(at);
        repo::update_customer(&mut tx.conn(), &row).await?;
        repo::delete_addresses(&mut tx.conn(), &id, None).await?;
        repo::revoke_sessions_of(&mut tx.conn(), "customer", &id, "erased", at).await?;
        for purpose in [RESET, VERIFY] {
            repo::void_tokens(&mut tx.conn(), purpose, &id, at).await?;
        }
        tx.commit().await?;
        tracing::info!(customer = %id, "customer data erased");
        Ok(())
    }

    /// Staff view: customers newest first, optionally filtered by email.
    pub async fn list(
        &self,
        email_contains: Option<&str>,
        cursor: Option<CustomerId>,
        limit: u64,
    ) -> Result<Vec<Customer>> {
        let mut conn = self.db.read().await?;
        let before = cursor.map(|c| c.to_string());
        repo::list_customers(&mut conn.conn(), email_contains, before.as_deref(), limit)
            .await?
            .into_iter()
            .map(customer_of)
            .collect()
    }

    /// Staff view of one customer with their addresses.
    pub async fn get(&self, id: CustomerId) -> Result<(Customer, Vec<Address>)> {
        let mut conn = self.db.read().await?;
        let row = self.row(&mut conn.conn(), id).await?;
        let addresses = repo::list_addresses(&mut conn.conn(), &row.id).await?;
        Ok((customer_of(row)?, addresses.into_iter().map(address_of).collect::<Result<_>>()?))
    }
}
