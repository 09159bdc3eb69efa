//! Keel's domain: the types and rules of commerce, free of IO.
//!
//! Everything here is plain data and pure functions: money in integer minor units, typed
//! identifiers, the catalog's value types (handles, SKUs, statuses), validation errors and the
//! permission names the admin API guards its routes with. Nothing in this crate is async, talks to
//! a database or knows about HTTP; the store, services and api crates build on it.

pub mod catalog;
pub mod event;
pub mod id;
pub mod identity;
pub mod money;
pub mod permission;
pub mod pricing;
pub mod promotions;
pub mod retry;
pub mod schedule;
pub mod validation;

pub use id::*;
pub use money::{Currency, Money};
pub use validation::{FieldError, ValidationErrors};
