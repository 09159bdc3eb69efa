//! The GraphQL API: a store schema at `POST /graphql` and an admin schema at
//! `POST /v1/admin/graphql`, over the same services, authentication and errors as REST.
//!
//! - **One source of truth.** Resolvers call the services the REST handlers call; an error
//!   carries `extensions.code` equal to the REST problem `code` (and `status`, and the field
//!   `errors` of a validation failure). GraphQL errors answer HTTP 200, per convention; a body
//!   that is not a GraphQL request answers 400.
//! - **No N+1.** A product's relations (variants with prices, options, images, tags, categories,
//!   collections) and a variant's stock and price go through per-request dataloaders, and a
//!   product list primes them for its whole page from the selection, so a page costs the same
//!   number of statements for 5 products as for 100.
//! - **Protection.** Depth, alias and complexity limits refuse a query before it runs (with
//!   `extensions.code` `query_too_deep`, `too_many_aliases`, `query_too_complex`); pages hold at
//!   most 100 items; the body has its own size limit; introspection can be switched off;
//!   automatic persisted queries let a client send a SHA-256 hash instead of the query text.
//! - **Observed.** Each operation runs in a `graphql` span naming it, and is counted and timed
//!   in `keel_graphql_operations_total` / `keel_graphql_operation_duration_seconds`.
//!
//! These checks run in the endpoint around one `execute` rather than as schema extensions, which
//! would wrap every field's resolution in extra futures.

mod admin;
mod catalog;
mod error;
mod graphiql;
mod limits;
mod store;

use crate::AppState;
use crate::auth::ClientAddr;
use crate::problem::ApiError;
use async_graphql::{EmptySubscription, ObjectType, Schema, SchemaBuilder};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_services::Services;
use keel_services::identity::{CustomerPrincipal, Principal};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub(crate) use error::{GqlResult, OrGql};
pub use graphiql::{graphiql_asset, graphiql_page};

/// GraphQL settings from configuration.
#[derive(Debug, Clone)]
pub struct GraphqlConfig {
    /// Whether `__schema` and `__type` answer (switch off to hide the schema in production).
    pub introspection: bool,
    /// How deeply selections may nest (the introspection query GraphiQL sends needs 13).
    pub max_depth: usize,
    /// The most fields a query may select, counting each list field's page size.
    pub max_complexity: usize,
    /// The most aliases a query may use.
    pub max_aliases: usize,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// How many persisted queries each node remembers.
    pub persisted_queries: usize,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        GraphqlConfig {
            introspection: true,
            max_depth: 15,
            max_complexity: 5_000,
            max_aliases: 30,
            max_body_bytes: 64 * 1024,
            persisted_queries: 1_000,
        }
    }
}

pub type StoreSchema = Schema<store::StoreQuery, store::StoreMutation, EmptySubscription>;
pub type AdminSchema = Schema<admin::AdminQuery, admin::AdminMutation, EmptySubscription>;

/// Both schemas, built once at start, and what the endpoints check around them.
#[derive(Clone)]
pub struct Schemas {
    pub store: StoreSchema,
    pub admin: AdminSchema,
    config: GraphqlConfig,
    persisted: Arc<limits::PersistedQueries>,
}

fn configure<Q, M>(
    builder: SchemaBuilder<Q, M, EmptySubscription>,
    config: &GraphqlConfig,
) -> Schema<Q, M, EmptySubscription>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
{
    let builder = builder
        // The parser's own guard against stack exhaustion; the lexical scan refuses deep queries
        // first, with a clearer error.
        .limit_recursive_depth(256)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity);
    if config.introspection { builder.finish() } else { builder.disable_introspection().finish() }
}

impl Schemas {
    pub fn new(config: &GraphqlConfig) -> Self {
        Schemas {
            store: configure(Schema::build(store::StoreQuery, store::StoreMutation, EmptySubscription), config),
            admin: configure(Schema::build(admin::AdminQuery, admin::AdminMutation, EmptySubscription), config),
            config: config.clone(),
            persisted: Arc::new(limits::PersistedQueries::new(config.persisted_queries)),
        }
    }

    /// The limits a query's text and shape must keep, checked before the schema validates it;
    /// the parsed document is handed on so the query is parsed once.
    fn check(&self, request: &mut async_graphql::Request) -> Result<(), async_graphql::ServerError> {
        let config = &self.config;
        limits::check_text(&request.query, config.max_aliases, config.max_depth)?;
        // A query that does not parse is left to the schema, which reports where.
        if let Ok(doc) = async_graphql::parser::parse_query(&request.query) {
            limits::check_document(&doc, config.max_depth, config.max_complexity)?;
            request.set_parsed_query(doc);
        }
        Ok(())
    }

    /// Runs one request: persisted query, text limits, then the schema, in a `graphql` span,
    /// counted and timed per operation.
    async fn run<Q, M>(
        &self,
        schema: &Schema<Q, M, EmptySubscription>,
        name: &'static str,
        mut request: async_graphql::Request,
    ) -> async_graphql::Response
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
    {
        let started = Instant::now();
        let checked = self.persisted.resolve(&mut request).and_then(|()| self.check(&mut request));
        let label = limits::operation_label(&request);
        let response = match checked {
            Ok(()) => {
                let span = tracing::info_span!("graphql", schema = name, operation = %label);
                schema.execute(request).instrument(span).await
            }
            Err(refusal) => async_graphql::Response::from_errors(vec![refusal]),
        };
        let outcome = if response.errors.is_empty() { "ok" } else { "error" };
        metrics::counter!("keel_graphql_operations_total", "schema" => name, "operation" => label.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("keel_graphql_operation_duration_seconds", "schema" => name, "operation" => label)
            .record(started.elapsed().as_secs_f64());
        response
    }
}

/// The SDL of both schemas (what `keel graphql-schema` prints).
pub fn sdl() -> String {
    let schemas = Schemas::new(&GraphqlConfig::default());
    format!(
        "# Keel store schema: POST /graphql\n\n{}\n# Keel admin schema: POST /v1/admin/graphql\n\n{}",
        schemas.store.sdl(),
        schemas.admin.sdl()
    )
}

/// Who is calling, and the services: what every resolver reaches through the context.
pub(crate) struct Caller {
    pub services: std::sync::Arc<Services>,
    pub customer: Option<CustomerPrincipal>,
    pub staff: Option<Principal>,
    pub client: Option<IpAddr>,
    pub request_id: Option<String>,
    /// The request's standing with the rate limits (absent when they are off).
    pub limits: Option<crate::ratelimit::Charge>,
}

impl Caller {
    /// Counts a sign-in, registration or checkout against its stricter class, as the REST route
    /// would (the request as a whole counted as `default`).
    pub async fn charge(&self, class: crate::ratelimit::Class) -> GqlResult<()> {
        match &self.limits {
            Some(limits) => limits.charge(class).await.gql(),
            None => Ok(()),
        }
    }
}

pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> &'a Caller {
    ctx.data_unchecked::<Caller>()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

/// Reads a GraphQL request from a JSON body, or says why it is not one (an HTTP-level error,
/// answered as problem+json like any other).
fn parse_request(schemas: &Schemas, body: &Bytes) -> Result<async_graphql::Request, ApiError> {
    if body.len() > schemas.config.max_body_bytes {
        let detail = format!("the request body is larger than {} bytes", schemas.config.max_body_bytes);
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail));
    }
    serde_json::from_slice::<async_graphql::Request>(body).map_err(|e| {
        let detail = format!("the body is not a GraphQL request (a JSON object with `query`): {e}");
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    })
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Gives every error a `code`: those raised by GraphQL itself rather than by a service are a
/// query that does not parse or fit the schema (`invalid_query`), an argument of the wrong
/// form (`invalid_argument`), or a value that could not be written (`internal`).
fn with_codes(config: &GraphqlConfig, mut response: async_graphql::Response) -> async_graphql::Response {
    for err in &mut response.errors {
        // The schema's own depth and complexity limits, in Keel's words.
        match err.message.as_str() {
            "Query is nested too deep." => *err = limits::too_deep(config.max_depth),
            "Query is too complex." => *err = limits::too_complex(config.max_complexity),
            _ => {}
        }
        let ext = err.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_some() {
            continue;
        }
        // Arguments are checked as they are read, so their errors carry the field's path.
        let (code, status) = match (err.path.is_empty(), err.message.starts_with("Failed to parse")) {
            (true, _) => ("invalid_query", 400),
            (false, true) => ("invalid_argument", 400),
            (false, false) => ("internal", 500),
        };
        ext.set("code", code);
        ext.set("status", status);
    }
    response
}

fn respond(config: &GraphqlConfig, response: async_graphql::Response) -> Response {
    match serde_json::to_vec(&with_codes(config, response)) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an unexpected error occurred").into_response()
        }
    }
}

/// Credentials that do not authenticate: a GraphQL error (HTTP 200) with the REST code.
fn auth_refusal(config: &GraphqlConfig, err: keel_services::ServiceError) -> Response {
    let error = error::gql_error(err.into()).into_server_error(async_graphql::Pos::default());
    respond(config, async_graphql::Response::from_errors(vec![error]))
}

/// Which schema an endpoint serves, and so whose credentials it reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    Store,
    Admin,
}

/// Reads the request and the caller: credentials are optional (the admin schema's fields need
/// them), but an `Authorization` header must hold valid ones, as in REST.
async fn endpoint(
    state: &AppState,
    audience: Audience,
    client: Option<IpAddr>,
    limits: Option<crate::ratelimit::Charge>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let schemas = &state.graphql;
    let request = match parse_request(schemas, body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut caller = Caller {
        services: state.services.clone(),
        customer: None,
        staff: None,
        client,
        request_id: request_id(headers),
        limits,
    };
    if headers.contains_key(header::AUTHORIZATION) {
        let authenticated = match (crate::auth::bearer_token(headers), audience) {
            (None, _) => Err(keel_services::ServiceError::Unauthenticated),
            (Some(token), Audience::Store) => {
                state.services.customers.authenticate(token).await.map(|who| caller.customer = Some(who))
            }
            (Some(token), Audience::Admin) => {
                state.services.staff.authenticate(token).await.map(|who| caller.staff = Some(who))
            }
        };
        if let Err(e) = authenticated {
            return auth_refusal(&schemas.config, e);
        }
    }
    let request = catalog::with_loaders(request, &state.services).data(caller);
    let response = match audience {
        Audience::Store => schemas.run(&schemas.store, "store", request).await,
        Audience::Admin => schemas.run(&schemas.admin, "admin", request).await,
    };
    respond(&schemas.config, response)
}

/// `POST /graphql`: the store schema. A customer's access token is optional, as in the REST
/// store API.
pub async fn store_endpoint(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    limits: Option<axum::Extension<crate::ratelimit::Charge>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    endpoint(&state, Audience::Store, client, limits.map(|l| l.0), &headers, &body).await
}

/// `POST /v1/admin/graphql`: the admin schema. A staff access token or API key; each field needs
/// the permission its REST twin needs.
pub async fn admin_endpoint(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    limits: Option<axum::Extension<crate::ratelimit::Charge>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    endpoint(&state, Audience::Admin, client, limits.map(|l| l.0), &headers, &body).await
}

/// The page size and the `after` cursor of a list paged by id (newest first), read as REST reads
/// them (`rest::id_page`: the same defaults, bounds and errors).
pub(crate) fn id_page<T>(
    first: Option<i32>,
    default: u64,
    after: Option<&str>,
    parse: impl Fn(&str) -> Result<T, keel_domain::id::InvalidId>,
) -> GqlResult<(u64, Option<T>)> {
    let first = first.map(|n| u64::try_from(n).unwrap_or(0));
    crate::rest::id_page(first, default, after, parse).gql()
}

/// A connection from a list read with one item more than the page size (which tells whether
/// another page follows); each item's id is its cursor.
pub(crate) fn id_connection<T: async_graphql::OutputType>(
    mut items: Vec<T>,
    limit: u64,
    has_previous: bool,
    id: impl Fn(&T) -> String,
) -> async_graphql::connection::Connection<String, T> {
    let has_next = items.len() as u64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    connection_of(items, has_previous, has_next, id)
}

/// A connection of one page of items, each item's id being its cursor.
pub(crate) fn connection_of<T: async_graphql::OutputType>(
    items: Vec<T>,
    has_previous: bool,
    has_next: bool,
    id: impl Fn(&T) -> String,
) -> async_graphql::connection::Connection<String, T> {
    let mut connection = async_graphql::connection::Connection::new(has_previous, has_next);
    connection.edges.extend(items.into_iter().map(|item| async_graphql::connection::Edge::new(id(&item), item)));
    connection
}
