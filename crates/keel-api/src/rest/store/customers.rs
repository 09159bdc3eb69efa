//! Store routes for shoppers' accounts: register, sign in and out, profile, address book,
//! password change and reset, email verification, data export and erasure.
//!
//! `/v1/store/customers/me…` routes take the caller's access token and only ever touch the
//! caller's own data. Sign-in, refresh, reset and verification routes are public (throttled).

use crate::AppState;
use crate::auth::{ClientAddr, SignedIn};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_domain::AddressId;
use keel_services::identity::TokenPair;
use keel_services::identity::customers::{Address, AddressInput, Customer, CustomerExport, ProfilePatch, Register};
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery")]
    pub password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailOnly {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The token from the reset email.
    pub token: String,
    pub password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenOnly {
    pub token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

const PROBLEM: &str = "application/problem+json";

/// Create a customer account. A welcome mail and an email-verification link are sent.
#[utoipa::path(
    post, path = "/v1/store/customers", tag = "store", operation_id = "store_register_customer",
    request_body = Register,
    responses(
        (status = 201, description = "Registered", body = Customer),
        (status = 409, description = "The email already has an account", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid email, password or names", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<Register>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.customers.register(input).await?)))
}

/// Sign in with email and password. A wrong email and a wrong password get the same 401; after
/// repeated failures the account and the client address are locked for a while (429,
/// `Retry-After`).
#[utoipa::path(
    post, path = "/v1/store/auth/token", tag = "store", operation_id = "store_login",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(state.services.customers.login(&input.email, &input.password, client).await?))
}

/// Exchange a refresh token for a new token pair. Each refresh token works once; replaying a used
/// one ends its session.
#[utoipa::path(
    post, path = "/v1/store/auth/refresh", tag = "store", operation_id = "store_refresh",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "Unknown, used, expired or revoked refresh token", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(state.services.customers.refresh(&input.refresh_token).await?))
}

/// Sign out: the session's access and refresh tokens stop working at once.
#[utoipa::path(
    delete, path = "/v1/store/auth/token", tag = "store", operation_id = "store_logout",
    security(("customer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn logout(State(state): State<AppState>, SignedIn(who): SignedIn) -> Result<StatusCode, ApiError> {
    state.services.customers.logout(who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a password reset link. Always 202, whether or not the email has an account.
#[utoipa::path(
    post, path = "/v1/store/auth/password-reset", tag = "store", operation_id = "store_request_password_reset",
    request_body = EmailOnly,
    responses(
        (status = 202, description = "If the email has an account, a link is on its way"),
        (status = 429, description = "Too many requests for this email or address", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn request_password_reset(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<EmailOnly>,
) -> Result<StatusCode, ApiError> {
    state.services.customers.request_password_reset(&input.email, client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Set a new password with the emailed token (single use, one hour). Every session ends.
#[utoipa::path(
    post, path = "/v1/store/auth/password-reset/confirm", tag = "store", operation_id = "store_confirm_password_reset",
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "Password changed"),
        (status = 422, description = "Invalid, used or expired token, or a weak password", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ResetConfirm>,
) -> Result<StatusCode, ApiError> {
    state.services.customers.reset_password(&input.token, &input.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Confirm an email address with the token from the verification mail.
#[utoipa::path(
    post, path = "/v1/store/auth/verify-email", tag = "store", operation_id = "store_verify_email",
    request_body = TokenOnly,
    responses(
        (status = 204, description = "Verified"),
        (status = 422, description = "Invalid, used or expired token", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TokenOnly>,
) -> Result<StatusCode, ApiError> {
    state.services.customers.verify_email(&input.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in customer's profile.
#[utoipa::path(
    get, path = "/v1/store/customers/me", tag = "store", operation_id = "store_get_me",
    security(("customer" = [])),
    responses(
        (status = 200, description = "The profile", body = Customer),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_me(State(state): State<AppState>, SignedIn(who): SignedIn) -> Result<Json<Customer>, ApiError> {
    Ok(Json(state.services.customers.me(who).await?))
}

/// Change names or phone (absent fields stay, empty strings clear).
#[utoipa::path(
    patch, path = "/v1/store/customers/me", tag = "store", operation_id = "store_update_me",
    request_body = ProfilePatch,
    security(("customer" = [])),
    responses(
        (status = 200, description = "The profile", body = Customer),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(state.services.customers.update_me(who, patch).await?))
}

/// Erase the account: personal data is removed (order records stay, anonymised); every session
/// ends.
#[utoipa::path(
    delete, path = "/v1/store/customers/me", tag = "store", operation_id = "store_erase_me",
    security(("customer" = [])),
    responses(
        (status = 204, description = "Erased"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn erase_me(State(state): State<AppState>, SignedIn(who): SignedIn) -> Result<StatusCode, ApiError> {
    state.services.customers.erase(who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything Keel holds about the signed-in customer, as JSON.
#[utoipa::path(
    get, path = "/v1/store/customers/me/export", tag = "store", operation_id = "store_export_me",
    security(("customer" = [])),
    responses(
        (status = 200, description = "The export", body = CustomerExport),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn export_me(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
) -> Result<Json<CustomerExport>, ApiError> {
    Ok(Json(state.services.customers.export(who).await?))
}

/// Change the password (the current one is required). Every session ends; the answer is a new
/// pair for this client.
#[utoipa::path(
    post, path = "/v1/store/customers/me/password", tag = "store", operation_id = "store_change_password",
    request_body = PasswordChange,
    security(("customer" = [])),
    responses(
        (status = 200, description = "Changed; a new token pair", body = TokenPair),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Wrong current password or a weak new one", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<PasswordChange>,
) -> Result<Json<TokenPair>, ApiError> {
    let pair =
        state.services.customers.change_password(who, &input.current_password, &input.new_password, client).await?;
    Ok(Json(pair))
}

/// Send a new email-verification link.
#[utoipa::path(
    post, path = "/v1/store/customers/me/verification", tag = "store", operation_id = "store_resend_verification",
    security(("customer" = [])),
    responses(
        (status = 202, description = "A new link is on its way (nothing is sent when already verified)"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
) -> Result<StatusCode, ApiError> {
    state.services.customers.resend_verification(who).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The address book.
#[utoipa::path(
    get, path = "/v1/store/customers/me/addresses", tag = "store", operation_id = "store_list_addresses",
    security(("customer" = [])),
    responses(
        (status = 200, description = "Addresses, oldest first", body = ListOf<Address>),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_addresses(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
) -> Result<Json<ListOf<Address>>, ApiError> {
    Ok(Json(ListOf { data: state.services.customers.addresses(who).await? }))
}

/// Add an address (`line1`, `city` and `country_code` are required; the first is the default).
#[utoipa::path(
    post, path = "/v1/store/customers/me/addresses", tag = "store", operation_id = "store_add_address",
    request_body = AddressInput,
    security(("customer" = [])),
    responses(
        (status = 201, description = "Added", body = Address),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn add_address(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ApiJson(input): ApiJson<AddressInput>,
) -> Result<(StatusCode, Json<Address>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.customers.add_address(who, input).await?)))
}

/// One of the caller's addresses (another customer's address is 404).
#[utoipa::path(
    get, path = "/v1/store/customers/me/addresses/{address_id}", tag = "store", operation_id = "store_get_address",
    params(("address_id" = AddressId, Path)),
    security(("customer" = [])),
    responses(
        (status = 200, description = "The address", body = Address),
        (status = 404, description = "Not one of the caller's addresses", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_address(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ApiPath(id): ApiPath<AddressId>,
) -> Result<Json<Address>, ApiError> {
    Ok(Json(state.services.customers.address(who, id).await?))
}

/// Change an address (absent fields stay).
#[utoipa::path(
    patch, path = "/v1/store/customers/me/addresses/{address_id}", tag = "store", operation_id = "store_update_address",
    params(("address_id" = AddressId, Path)),
    request_body = AddressInput,
    security(("customer" = [])),
    responses(
        (status = 200, description = "The address", body = Address),
        (status = 404, description = "Not one of the caller's addresses", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn update_address(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ApiPath(id): ApiPath<AddressId>,
    ApiJson(input): ApiJson<AddressInput>,
) -> Result<Json<Address>, ApiError> {
    Ok(Json(state.services.customers.update_address(who, id, input).await?))
}

/// Remove an address.
#[utoipa::path(
    delete, path = "/v1/store/customers/me/addresses/{address_id}", tag = "store", operation_id = "store_delete_address",
    params(("address_id" = AddressId, Path)),
    security(("customer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not one of the caller's addresses", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn delete_address(
    State(state): State<AppState>,
    SignedIn(who): SignedIn,
    ApiPath(id): ApiPath<AddressId>,
) -> Result<StatusCode, ApiError> {
    state.services.customers.delete_address(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
