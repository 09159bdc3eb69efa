//! Identity tables: customers and addresses, staff and roles, sessions, single-use tokens, login
//! throttling, the audit log and OpenID Connect logins in flight.
//!
//! Every lookup of a customer's own data takes the customer id as well as the object id, so a
//! query can never return another customer's row. Single-use things (refresh tokens, reset
//! tokens, OIDC states) are consumed by one conditional statement, so two racing requests cannot
//! both use them.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, LikeExpr, OnConflict, Order, Query, SelectStatement};
use sqlx::types::Json;

#[derive(Iden)]
enum Customers {
    Table,
    Id,
    Email,
    EmailVerifiedAt,
    PasswordHash,
    FirstName,
    LastName,
    Phone,
    Status,
    CreatedAt,
    UpdatedAt,
    ErasedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: String,
    pub email: String,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub password_hash: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
}

const CUSTOMER_COLUMNS: [Customers; 11] = [
    Customers::Id,
    Customers::Email,
    Customers::EmailVerifiedAt,
    Customers::PasswordHash,
    Customers::FirstName,
    Customers::LastName,
    Customers::Phone,
    Customers::Status,
    Customers::CreatedAt,
    Customers::UpdatedAt,
    Customers::ErasedAt,
];

pub async fn insert_customer(c: &mut Conn<'_>, r: &CustomerRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Customers::Table)
        .columns(CUSTOMER_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.email.clone().into(),
            r.email_verified_at.into(),
            r.password_hash.clone().into(),
            r.first_name.clone().into(),
            r.last_name.clone().into(),
            r.phone.clone().into(),
            r.status.clone().into(),
            r.created_at.into(),
            r.updated_at.into(),
            r.erased_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

fn select_customers() -> SelectStatement {
    Query::select().columns(CUSTOMER_COLUMNS).from(Customers::Table).to_owned()
}

pub async fn find_customer(c: &mut Conn<'_>, id: &str) -> Result<Option<CustomerRow>> {
    c.fetch_optional(&select_customers().and_where(Expr::col(Customers::Id).eq(id)).to_owned()).await
}

pub async fn find_customer_by_email(c: &mut Conn<'_>, email: &str) -> Result<Option<CustomerRow>> {
    c.fetch_optional(&select_customers().and_where(Expr::col(Customers::Email).eq(email)).to_owned()).await
}

/// Customers newest first, after the cursor id.
pub async fn list_customers(
    c: &mut Conn<'_>,
    email_contains: Option<&str>,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<CustomerRow>> {
    let mut q = select_customers().and_where(Expr::col(Customers::Status).eq("active")).to_owned();
    if let Some(text) = email_contains {
        q.and_where(Expr::col(Customers::Email).like(LikeExpr::new(crate::catalog::escape_like(text)).escape('\\')));
    }
    if let Some(id) = before_id {
        q.and_where(Expr::col(Customers::Id).lt(id));
    }
    c.fetch_all(&q.order_by(Customers::Id, Order::Desc).limit(limit).to_owned()).await
}

/// Writes the profile fields and password hash of `r` back.
pub async fn update_customer(c: &mut Conn<'_>, r: &CustomerRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Customers::Table)
        .values([
            (Customers::Email, r.email.clone().into()),
            (Customers::EmailVerifiedAt, r.email_verified_at.into()),
            (Customers::PasswordHash, r.password_hash.clone().into()),
            (Customers::FirstName, r.first_name.clone().into()),
            (Customers::LastName, r.last_name.clone().into()),
            (Customers::Phone, r.phone.clone().into()),
            (Customers::Status, r.status.clone().into()),
            (Customers::UpdatedAt, r.updated_at.into()),
            (Customers::ErasedAt, r.erased_at.into()),
        ])
        .and_where(Expr::col(Customers::Id).eq(r.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Iden)]
enum CustomerAddresses {
    Table,
    Id,
    CustomerId,
    FirstName,
    LastName,
    Company,
    Line1,
    Line2,
    City,
    PostalCode,
    Province,
    CountryCode,
    Phone,
    IsDefault,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddressRow {
    pub id: String,
    pub customer_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: Option<String>,
    pub province: Option<String>,
    pub country_code: String,
    pub phone: Option<String>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ADDRESS_COLUMNS: [CustomerAddresses; 15] = [
    CustomerAddresses::Id,
    CustomerAddresses::CustomerId,
    CustomerAddresses::FirstName,
    CustomerAddresses::LastName,
    CustomerAddresses::Company,
    CustomerAddresses::Line1,
    CustomerAddresses::Line2,
    CustomerAddresses::City,
    CustomerAddresses::PostalCode,
    CustomerAddresses::Province,
    CustomerAddresses::CountryCode,
    CustomerAddresses::Phone,
    CustomerAddresses::IsDefault,
    CustomerAddresses::CreatedAt,
    CustomerAddresses::UpdatedAt,
];

pub async fn insert_address(c: &mut Conn<'_>, r: &AddressRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(CustomerAddresses::Table)
        .columns(ADDRESS_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.customer_id.clone().into(),
            r.first_name.clone().into(),
            r.last_name.clone().into(),
            r.company.clone().into(),
            r.line1.clone().into(),
            r.line2.clone().into(),
            r.city.clone().into(),
            r.postal_code.clone().into(),
            r.province.clone().into(),
            r.country_code.clone().into(),
            r.phone.clone().into(),
            r.is_default.into(),
            r.created_at.into(),
            r.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn list_addresses(c: &mut Conn<'_>, customer_id: &str) -> Result<Vec<AddressRow>> {
    let q = Query::select()
        .columns(ADDRESS_COLUMNS)
        .from(CustomerAddresses::Table)
        .and_where(Expr::col(CustomerAddresses::CustomerId).eq(customer_id))
        .order_by(CustomerAddresses::CreatedAt, Order::Asc)
        .order_by(CustomerAddresses::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// One of `customer_id`'s addresses; another customer's address is simply not found.
pub async fn find_address(c: &mut Conn<'_>, customer_id: &str, id: &str) -> Result<Option<AddressRow>> {
    let q = Query::select()
        .columns(ADDRESS_COLUMNS)
        .from(CustomerAddresses::Table)
        .and_where(Expr::col(CustomerAddresses::Id).eq(id))
        .and_where(Expr::col(CustomerAddresses::CustomerId).eq(customer_id))
        .to_owned();
    c.fetch_optional(&q).await
}

pub async fn update_address(c: &mut Conn<'_>, r: &AddressRow) -> Result<bool> {
    let stmt = Query::update()
        .table(CustomerAddresses::Table)
        .values([
            (CustomerAddresses::FirstName, r.first_name.clone().into()),
            (CustomerAddresses::LastName, r.last_name.clone().into()),
            (CustomerAddresses::Company, r.company.clone().into()),
            (CustomerAddresses::Line1, r.line1.clone().into()),
            (CustomerAddresses::Line2, r.line2.clone().into()),
            (CustomerAddresses::City, r.city.clone().into()),
            (CustomerAddresses::PostalCode, r.postal_code.clone().into()),
            (CustomerAddresses::Province, r.province.clone().into()),
            (CustomerAddresses::CountryCode, r.country_code.clone().into()),
            (CustomerAddresses::Phone, r.phone.clone().into()),
            (CustomerAddresses::IsDefault, r.is_default.into()),
            (CustomerAddresses::UpdatedAt, r.updated_at.into()),
        ])
        .and_where(Expr::col(CustomerAddresses::Id).eq(r.id.clone()))
        .and_where(Expr::col(CustomerAddresses::CustomerId).eq(r.customer_id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Clears the default flag on every address of the customer (before setting a new default).
pub async fn clear_default_address(c: &mut Conn<'_>, customer_id: &str) -> Result<()> {
    let stmt = Query::update()
        .table(CustomerAddresses::Table)
        .value(CustomerAddresses::IsDefault, false)
        .and_where(Expr::col(CustomerAddresses::CustomerId).eq(customer_id))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Deletes one address (`id: None`: all) of the customer.
pub async fn delete_addresses(c: &mut Conn<'_>, customer_id: &str, id: Option<&str>) -> Result<u64> {
    let mut stmt = Query::delete()
        .from_table(CustomerAddresses::Table)
        .and_where(Expr::col(CustomerAddresses::CustomerId).eq(customer_id))
        .to_owned();
    if let Some(id) = id {
        stmt.and_where(Expr::col(CustomerAddresses::Id).eq(id));
    }
    c.execute(&stmt).await
}

#[derive(Iden)]
enum Roles {
    Table,
    Name,
    Description,
    Permissions,
    Builtin,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    pub name: String,
    pub description: String,
    pub permissions: Json<Vec<String>>,
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ROLE_COLUMNS: [Roles; 6] =
    [Roles::Name, Roles::Description, Roles::Permissions, Roles::Builtin, Roles::CreatedAt, Roles::UpdatedAt];

pub async fn list_roles(c: &mut Conn<'_>) -> Result<Vec<RoleRow>> {
    let q = Query::select()
        .columns(ROLE_COLUMNS)
        .from(Roles::Table)
        .order_by(Roles::Builtin, Order::Desc)
        .order_by(Roles::CreatedAt, Order::Asc)
        .order_by(Roles::Name, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

pub async fn find_role(c: &mut Conn<'_>, name: &str) -> Result<Option<RoleRow>> {
    c.fetch_optional(
        &Query::select().columns(ROLE_COLUMNS).from(Roles::Table).and_where(Expr::col(Roles::Name).eq(name)).to_owned(),
    )
    .await
}

pub async fn insert_role(c: &mut Conn<'_>, r: &RoleRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Roles::Table)
        .columns(ROLE_COLUMNS)
        .values_panic([
            r.name.clone().into(),
            r.description.clone().into(),
            serde_json::json!(r.permissions.0).into(),
            r.builtin.into(),
            r.created_at.into(),
            r.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Rewrites a custom role; built-in roles are never changed.
pub async fn update_role(c: &mut Conn<'_>, r: &RoleRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Roles::Table)
        .values([
            (Roles::Description, r.description.clone().into()),
            (Roles::Permissions, serde_json::json!(r.permissions.0).into()),
            (Roles::UpdatedAt, r.updated_at.into()),
        ])
        .and_where(Expr::col(Roles::Name).eq(r.name.clone()))
        .and_where(Expr::col(Roles::Builtin).eq(false))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Deletes a custom role; fails with a foreign-key error while staff hold it.
pub async fn delete_role(c: &mut Conn<'_>, name: &str) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(Roles::Table)
        .and_where(Expr::col(Roles::Name).eq(name))
        .and_where(Expr::col(Roles::Builtin).eq(false))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Iden)]
enum StaffUsers {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    Role,
    Status,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub role: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

const STAFF_COLUMNS: [StaffUsers; 9] = [
    StaffUsers::Id,
    StaffUsers::Email,
    StaffUsers::Name,
    StaffUsers::PasswordHash,
    StaffUsers::Role,
    StaffUsers::Status,
    StaffUsers::CreatedAt,
    StaffUsers::UpdatedAt,
    StaffUsers::LastLoginAt,
];

pub async fn insert_staff(c: &mut Conn<'_>, r: &StaffRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(StaffUsers::Table)
        .columns(STAFF_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.email.clone().into(),
            r.name.clone().into(),
            r.password_hash.clone().into(),
            r.role.clone().into(),
            r.status.clone().into(),
            r.created_at.into(),
            r.updated_at.into(),
            r.last_login_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

fn select_staff() -> SelectStatement {
    Query::select().columns(STAFF_COLUMNS).from(StaffUsers::Table).to_owned()
}

pub async fn find_staff(c: &mut Conn<'_>, id: &str) -> Result<Option<StaffRow>> {
    c.fetch_optional(&select_staff().and_where(Expr::col(StaffUsers::Id).eq(id)).to_owned()).await
}

pub async fn find_staff_by_email(c: &mut Conn<'_>, email: &str) -> Result<Option<StaffRow>> {
    c.fetch_optional(&select_staff().and_where(Expr::col(StaffUsers::Email).eq(email)).to_owned()).await
}

pub async fn list_staff(c: &mut Conn<'_>) -> Result<Vec<StaffRow>> {
    c.fetch_all(
        &select_staff().order_by(StaffUsers::CreatedAt, Order::Asc).order_by(StaffUsers::Id, Order::Asc).to_owned(),
    )
    .await
}

pub async fn count_active_staff_with_role(c: &mut Conn<'_>, role: &str) -> Result<i64> {
    let q = Query::select()
        .expr(Expr::col(StaffUsers::Id).count())
        .from(StaffUsers::Table)
        .and_where(Expr::col(StaffUsers::Role).eq(role))
        .and_where(Expr::col(StaffUsers::Status).eq("active"))
        .to_owned();
    c.fetch_i64(&q).await
}

pub async fn update_staff(c: &mut Conn<'_>, r: &StaffRow) -> Result<bool> {
    let stmt = Query::update()
        .table(StaffUsers::Table)
        .values([
            (StaffUsers::Name, r.name.clone().into()),
            (StaffUsers::PasswordHash, r.password_hash.clone().into()),
            (StaffUsers::Role, r.role.clone().into()),
            (StaffUsers::Status, r.status.clone().into()),
            (StaffUsers::UpdatedAt, r.updated_at.into()),
            (StaffUsers::LastLoginAt, r.last_login_at.into()),
        ])
        .and_where(Expr::col(StaffUsers::Id).eq(r.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Iden)]
enum StaffIdentities {
    Table,
    Provider,
    Subject,
    StaffId,
    CreatedAt,
}

/// The staff member linked to an account at an OpenID provider.
pub async fn find_identity(c: &mut Conn<'_>, provider: &str, subject: &str) -> Result<Option<String>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        staff_id: String,
    }
    let q = Query::select()
        .column(StaffIdentities::StaffId)
        .from(StaffIdentities::Table)
        .and_where(Expr::col(StaffIdentities::Provider).eq(provider))
        .and_where(Expr::col(StaffIdentities::Subject).eq(subject))
        .to_owned();
    Ok(c.fetch_optional::<Row>(&q).await?.map(|r| r.staff_id))
}

pub async fn insert_identity(
    c: &mut Conn<'_>,
    provider: &str,
    subject: &str,
    staff_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let stmt = Query::insert()
        .into_table(StaffIdentities::Table)
        .columns([
            StaffIdentities::Provider,
            StaffIdentities::Subject,
            StaffIdentities::StaffId,
            StaffIdentities::CreatedAt,
        ])
        .values_panic([provider.into(), subject.into(), staff_id.into(), at.into()])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

#[derive(Iden)]
enum Sessions {
    Table,
    Id,
    SubjectKind,
    SubjectId,
    AccessHash,
    AccessExpiresAt,
    RefreshHash,
    PreviousRefreshHash,
    RefreshExpiresAt,
    CreatedAt,
    RefreshedAt,
    RevokedAt,
    RevokedReason,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub access_hash: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_hash: String,
    pub previous_refresh_hash: Option<String>,
    pub refresh_expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

const SESSION_COLUMNS: [Sessions; 12] = [
    Sessions::Id,
    Sessions::SubjectKind,
    Sessions::SubjectId,
    Sessions::AccessHash,
    Sessions::AccessExpiresAt,
    Sessions::RefreshHash,
    Sessions::PreviousRefreshHash,
    Sessions::RefreshExpiresAt,
    Sessions::CreatedAt,
    Sessions::RefreshedAt,
    Sessions::RevokedAt,
    Sessions::RevokedReason,
];

pub async fn insert_session(c: &mut Conn<'_>, r: &SessionRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Sessions::Table)
        .columns(SESSION_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.subject_kind.clone().into(),
            r.subject_id.clone().into(),
            r.access_hash.clone().into(),
            r.access_expires_at.into(),
            r.refresh_hash.clone().into(),
            r.previous_refresh_hash.clone().into(),
            r.refresh_expires_at.into(),
            r.created_at.into(),
            r.refreshed_at.into(),
            r.revoked_at.into(),
            r.revoked_reason.clone().into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// The live (not revoked) session holding this token hash in `column`.
async fn find_session_by(c: &mut Conn<'_>, column: Sessions, hash: &str) -> Result<Option<SessionRow>> {
    let q = Query::select()
        .columns(SESSION_COLUMNS)
        .from(Sessions::Table)
        .and_where(Expr::col(column).eq(hash))
        .and_where(Expr::col(Sessions::RevokedAt).is_null())
        .to_owned();
    c.fetch_optional(&q).await
}

pub async fn find_session_by_access(c: &mut Conn<'_>, access_hash: &str) -> Result<Option<SessionRow>> {
    find_session_by(c, Sessions::AccessHash, access_hash).await
}

pub async fn find_session_by_refresh(c: &mut Conn<'_>, refresh_hash: &str) -> Result<Option<SessionRow>> {
    find_session_by(c, Sessions::RefreshHash, refresh_hash).await
}

/// A live session whose *previous* refresh token this is: a replayed, already rotated token.
pub async fn find_session_by_previous_refresh(c: &mut Conn<'_>, refresh_hash: &str) -> Result<Option<SessionRow>> {
    find_session_by(c, Sessions::PreviousRefreshHash, refresh_hash).await
}

/// Replaces both tokens of a session, only if `old_refresh_hash` is still its current refresh
/// token (so one refresh token rotates once, however many requests race with it).
pub async fn rotate_session(c: &mut Conn<'_>, old_refresh_hash: &str, next: &SessionRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Sessions::Table)
        .values([
            (Sessions::AccessHash, next.access_hash.clone().into()),
            (Sessions::AccessExpiresAt, next.access_expires_at.into()),
            (Sessions::RefreshHash, next.refresh_hash.clone().into()),
            (Sessions::PreviousRefreshHash, old_refresh_hash.into()),
            (Sessions::RefreshedAt, next.refreshed_at.into()),
        ])
        .and_where(Expr::col(Sessions::Id).eq(next.id.clone()))
        .and_where(Expr::col(Sessions::RefreshHash).eq(old_refresh_hash))
        .and_where(Expr::col(Sessions::RevokedAt).is_null())
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn revoke_session(c: &mut Conn<'_>, id: &str, reason: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Sessions::Table)
        .values([(Sessions::RevokedAt, at.into()), (Sessions::RevokedReason, reason.into())])
        .and_where(Expr::col(Sessions::Id).eq(id))
        .and_where(Expr::col(Sessions::RevokedAt).is_null())
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Revokes every live session of a subject (password change, erasure, staff disabled).
pub async fn revoke_sessions_of(
    c: &mut Conn<'_>,
    kind: &str,
    subject_id: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<u64> {
    let stmt = Query::update()
        .table(Sessions::Table)
        .values([(Sessions::RevokedAt, at.into()), (Sessions::RevokedReason, reason.into())])
        .and_where(Expr::col(Sessions::SubjectKind).eq(kind))
        .and_where(Expr::col(Sessions::SubjectId).eq(subject_id))
        .and_where(Expr::col(Sessions::RevokedAt).is_null())
        .to_owned();
    c.execute(&stmt).await
}

/// Deletes sessions whose refresh token expired before `before`, and revoked ones older than it.
pub async fn purge_sessions(c: &mut Conn<'_>, before: DateTime<Utc>) -> Result<u64> {
    let stmt = Query::delete()
        .from_table(Sessions::Table)
        .cond_where(
            Expr::col(Sessions::RefreshExpiresAt)
                .lt(before)
                .or(Expr::col(Sessions::RevokedAt).is_not_null().and(Expr::col(Sessions::RevokedAt).lt(before))),
        )
        .to_owned();
    c.execute(&stmt).await
}

#[derive(Iden)]
enum AuthTokens {
    Table,
    TokenHash,
    Purpose,
    SubjectId,
    Data,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub token_hash: String,
    pub purpose: String,
    pub subject_id: String,
    pub data: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: [AuthTokens; 7] = [
    AuthTokens::TokenHash,
    AuthTokens::Purpose,
    AuthTokens::SubjectId,
    AuthTokens::Data,
    AuthTokens::CreatedAt,
    AuthTokens::ExpiresAt,
    AuthTokens::UsedAt,
];

pub async fn insert_token(c: &mut Conn<'_>, r: &TokenRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(AuthTokens::Table)
        .columns(TOKEN_COLUMNS)
        .values_panic([
            r.token_hash.clone().into(),
            r.purpose.clone().into(),
            r.subject_id.clone().into(),
            r.data.0.clone().into(),
            r.created_at.into(),
            r.expires_at.into(),
            r.used_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Uses a token: marks it used and returns it, if it exists for `purpose`, is unused and has
/// not expired. One statement, so a token is used at most once.
pub async fn consume_token(
    c: &mut Conn<'_>,
    hash: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<Option<TokenRow>> {
    let stmt = Query::update()
        .table(AuthTokens::Table)
        .value(AuthTokens::UsedAt, now)
        .and_where(Expr::col(AuthTokens::TokenHash).eq(hash))
        .and_where(Expr::col(AuthTokens::Purpose).eq(purpose))
        .and_where(Expr::col(AuthTokens::UsedAt).is_null())
        .and_where(Expr::col(AuthTokens::ExpiresAt).gt(now))
        .returning(Query::returning().columns(TOKEN_COLUMNS))
        .to_owned();
    c.fetch_optional(&stmt).await
}

/// Marks every outstanding token of a subject for `purpose` used (a newer one replaces them, or
/// the password they would reset was changed).
pub async fn void_tokens(c: &mut Conn<'_>, purpose: &str, subject_id: &str, now: DateTime<Utc>) -> Result<u64> {
    let stmt = Query::update()
        .table(AuthTokens::Table)
        .value(AuthTokens::UsedAt, now)
        .and_where(Expr::col(AuthTokens::Purpose).eq(purpose))
        .and_where(Expr::col(AuthTokens::SubjectId).eq(subject_id))
        .and_where(Expr::col(AuthTokens::UsedAt).is_null())
        .to_owned();
    c.execute(&stmt).await
}

/// Outstanding (unused, unexpired) tokens for `purpose`, newest first.
pub async fn outstanding_tokens(c: &mut Conn<'_>, purpose: &str, now: DateTime<Utc>) -> Result<Vec<TokenRow>> {
    let q = Query::select()
        .columns(TOKEN_COLUMNS)
        .from(AuthTokens::Table)
        .and_where(Expr::col(AuthTokens::Purpose).eq(purpose))
        .and_where(Expr::col(AuthTokens::UsedAt).is_null())
        .and_where(Expr::col(AuthTokens::ExpiresAt).gt(now))
        .order_by(AuthTokens::CreatedAt, Order::Desc)
        .to_owned();
    c.fetch_all(&q).await
}

#[derive(Iden)]
enum AuthThrottle {
    Table,
    Key,
    Failures,
    LockedUntil,
    UpdatedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThrottleRow {
    pub key: String,
    pub failures: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// The latest lock end among `keys`, if any is locked after `now`.
pub async fn locked_until(c: &mut Conn<'_>, keys: &[String], now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let q = Query::select()
        .columns([AuthThrottle::Key, AuthThrottle::Failures, AuthThrottle::LockedUntil, AuthThrottle::UpdatedAt])
        .from(AuthThrottle::Table)
        .and_where(Expr::col(AuthThrottle::Key).is_in(keys.iter().cloned()))
        .and_where(Expr::col(AuthThrottle::LockedUntil).gt(now))
        .to_owned();
    let rows: Vec<ThrottleRow> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().filter_map(|r| r.locked_until).max())
}

/// Counts one failure against `key` and returns the count. Failures older than `window_start`
/// are forgotten (the count starts again at 1). One statement, so concurrent failures all count.
pub async fn record_failure(
    c: &mut Conn<'_>,
    key: &str,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
) -> Result<i32> {
    #[derive(sqlx::FromRow)]
    struct Count {
        failures: i32,
    }
    let stmt = Query::insert()
        .into_table(AuthThrottle::Table)
        .columns([AuthThrottle::Key, AuthThrottle::Failures, AuthThrottle::LockedUntil, AuthThrottle::UpdatedAt])
        .values_panic([key.into(), 1i32.into(), Option::<DateTime<Utc>>::None.into(), now.into()])
        .on_conflict(
            OnConflict::column(AuthThrottle::Key)
                .values([
                    (
                        AuthThrottle::Failures,
                        Expr::case(Expr::col((AuthThrottle::Table, AuthThrottle::UpdatedAt)).lt(window_start), 1i32)
                            .finally(Expr::col((AuthThrottle::Table, AuthThrottle::Failures)).add(1i32))
                            .into(),
                    ),
                    (AuthThrottle::UpdatedAt, Expr::val(now)),
                ])
                .to_owned(),
        )
        .returning(Query::returning().column(AuthThrottle::Failures))
        .to_owned();
    let row: Option<Count> = c.fetch_optional(&stmt).await?;
    Ok(row.map_or(1, |r| r.failures))
}

pub async fn lock(c: &mut Conn<'_>, key: &str, until: DateTime<Utc>) -> Result<()> {
    let stmt = Query::update()
        .table(AuthThrottle::Table)
        .value(AuthThrottle::LockedUntil, until)
        .and_where(Expr::col(AuthThrottle::Key).eq(key))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn clear_failures(c: &mut Conn<'_>, key: &str) -> Result<()> {
    c.execute(
        &Query::delete().from_table(AuthThrottle::Table).and_where(Expr::col(AuthThrottle::Key).eq(key)).to_owned(),
    )
    .await?;
    Ok(())
}

#[derive(Iden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorKind,
    ActorId,
    ActorLabel,
    Action,
    Method,
    Path,
    Status,
    Before,
    After,
    RequestId,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_label: String,
    pub action: String,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub before: Option<Json<serde_json::Value>>,
    pub after: Option<Json<serde_json::Value>>,
    pub request_id: Option<String>,
}

const AUDIT_COLUMNS: [AuditLog; 12] = [
    AuditLog::Id,
    AuditLog::At,
    AuditLog::ActorKind,
    AuditLog::ActorId,
    AuditLog::ActorLabel,
    AuditLog::Action,
    AuditLog::Method,
    AuditLog::Path,
    AuditLog::Status,
    AuditLog::Before,
    AuditLog::After,
    AuditLog::RequestId,
];

pub async fn insert_audit(c: &mut Conn<'_>, r: &AuditRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(AuditLog::Table)
        .columns(AUDIT_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.at.into(),
            r.actor_kind.clone().into(),
            r.actor_id.clone().into(),
            r.actor_label.clone().into(),
            r.action.clone().into(),
            r.method.clone().into(),
            r.path.clone().into(),
            r.status.into(),
            r.before.as_ref().map(|j| j.0.clone()).into(),
            r.after.as_ref().map(|j| j.0.clone()).into(),
            r.request_id.clone().into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Audit entries newest first (ids are time-ordered), optionally of one actor, before a cursor id.
pub async fn list_audit(
    c: &mut Conn<'_>,
    actor_id: Option<&str>,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<AuditRow>> {
    let mut q = Query::select().columns(AUDIT_COLUMNS).from(AuditLog::Table).to_owned();
    if let Some(actor) = actor_id {
        q.and_where(Expr::col(AuditLog::ActorId).eq(actor));
    }
    if let Some(id) = before_id {
        q.and_where(Expr::col(AuditLog::Id).lt(id));
    }
    c.fetch_all(&q.order_by(AuditLog::Id, Order::Desc).limit(limit).to_owned()).await
}

#[derive(Iden)]
enum OidcLogins {
    Table,
    State,
    Provider,
    Nonce,
    PkceVerifier,
    BrowserHash,
    CreatedAt,
    ExpiresAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OidcLoginRow {
    pub state: String,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub browser_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

const OIDC_COLUMNS: [OidcLogins; 7] = [
    OidcLogins::State,
    OidcLogins::Provider,
    OidcLogins::Nonce,
    OidcLogins::PkceVerifier,
    OidcLogins::BrowserHash,
    OidcLogins::CreatedAt,
    OidcLogins::ExpiresAt,
];

pub async fn insert_oidc_login(c: &mut Conn<'_>, r: &OidcLoginRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(OidcLogins::Table)
        .columns(OIDC_COLUMNS)
        .values_panic([
            r.state.clone().into(),
            r.provider.clone().into(),
            r.nonce.clone().into(),
            r.pkce_verifier.clone().into(),
            r.browser_hash.clone().into(),
            r.created_at.into(),
            r.expires_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Takes (deletes and returns) the login started with `state`: a state works once.
pub async fn take_oidc_login(c: &mut Conn<'_>, state: &str) -> Result<Option<OidcLoginRow>> {
    let stmt = Query::delete()
        .from_table(OidcLogins::Table)
        .and_where(Expr::col(OidcLogins::State).eq(state))
        .returning(Query::returning().columns(OIDC_COLUMNS))
        .to_owned();
    c.fetch_optional(&stmt).await
}

/// Deletes OIDC logins and used or expired tokens older than `before`.
pub async fn purge_stale(c: &mut Conn<'_>, before: DateTime<Utc>) -> Result<u64> {
    let logins = c
        .execute(
            &Query::delete()
                .from_table(OidcLogins::Table)
                .and_where(Expr::col(OidcLogins::ExpiresAt).lt(before))
                .to_owned(),
        )
        .await?;
    let tokens = c
        .execute(
            &Query::delete()
                .from_table(AuthTokens::Table)
                .and_where(Expr::col(AuthTokens::ExpiresAt).lt(before))
                .to_owned(),
        )
        .await?;
    Ok(logins + tokens)
}
