//! The services' error type: each variant means one thing to a caller, and the api maps each to
//! one HTTP status and problem `code`.

use keel_domain::ValidationErrors;
use keel_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input broke a rule; every offending field is listed.
    #[error("invalid input: {0}")]
    Invalid(ValidationErrors),
    /// No such thing (or not visible to the caller: the same answer, so ids can't be probed).
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// The change collides with existing data, such as a handle already taken.
    #[error("{message}")]
    Conflict { code: &'static str, field: &'static str, message: String },
    /// Well-formed, but refused by a business rule the caller can act on (an expired promotion
    /// code, say): 422 with this `code`.
    #[error("{message}")]
    Refused { code: &'static str, field: &'static str, message: String },
    /// The payment provider declined the payment (402 `payment_declined`); `reason` is its
    /// code (`insufficient_funds`, `expired_card`, …).
    #[error("payment declined: {message}")]
    PaymentDeclined { reason: String, message: String },
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Too many failed attempts: try again after this many seconds.
    #[error("too many attempts; retry after {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// A dependency (the database) cannot be reached right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data: logged in full, shown to clients as a bare 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// Stored data that does not parse back (a bug or corruption): a 500.
    pub fn stored(what: &str) -> Self {
        ServiceError::Internal(format!("stored {what}"))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::new();
        errors.add(field, message);
        ServiceError::Invalid(errors)
    }
}

impl From<ValidationErrors> for ServiceError {
    fn from(errors: ValidationErrors) -> Self {
        ServiceError::Invalid(errors)
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { key } => {
                let (code, field, what) = match key {
                    "product.handle" => ("handle_taken", "handle", "a product with this handle already exists"),
                    "variant.sku" => ("sku_taken", "sku", "a variant with this SKU already exists"),
                    "category.handle" => ("handle_taken", "handle", "a category with this handle already exists"),
                    "collection.handle" => ("handle_taken", "handle", "a collection with this handle already exists"),
                    "option.name" => ("option_name_taken", "options", "option names must be unique"),
                    "customer.email" => ("email_taken", "email", "an account with this email already exists"),
                    "staff.email" => ("email_taken", "email", "a staff member with this email already exists"),
                    "role.name" => ("role_name_taken", "name", "a role with this name already exists"),
                    "customer_group.name" => ("name_taken", "name", "a customer group with this name already exists"),
                    "promotion.code" => ("code_taken", "code", "a promotion with this code already exists"),
                    _ => ("conflict", "", "the change conflicts with existing data"),
                };
                ServiceError::Conflict { code, field, message: what.to_string() }
            }
            StoreError::Unavailable(e) => ServiceError::Unavailable(e.to_string()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}
