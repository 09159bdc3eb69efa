//! Keel's adapters to the world outside the database. Each has an embedded default that needs no
//! other service, and a distributed implementation chosen by configuration:
//!
//! | adapter | embedded | distributed |
//! | --- | --- | --- |
//! | [`bus::EventBus`] | in-process broadcast | NATS JetStream |
//! | [`search::SearchIndex`] | Tantivy in the data directory | the same on every api node, fed by the event stream |
//! | [`cache::TaggedCache`] | in-process (moka), invalidated by events | the same, with [`cache::SharedTier`] in Redis behind it |
//! | [`ratelimit::Limiter`] | in-process GCRA | GCRA in Redis, shared by every node |
//! | [`mail::Mailer`] | `.eml` files in the data directory | SMTP (STARTTLS or TLS) |
//! | [`files::FileStore`] | a local directory | (object storage, later) |
//!
//! and [`http`], the guarded client for calls to addresses other people chose (webhooks), and
//! [`trace`], log lines and OpenTelemetry spans exported over OTLP with W3C trace context.
//!
//! Nothing here holds business rules; the services decide what to publish, the adapters only
//! carry it.

pub mod bus;
pub mod cache;
pub mod circuit;
pub mod files;
pub mod http;
pub mod mail;
pub mod ratelimit;
pub mod redis;
pub mod search;
pub mod secrets;
pub mod trace;
