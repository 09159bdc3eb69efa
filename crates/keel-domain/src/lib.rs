//! Keel's domain: the types and rules of commerce, free of IO.
//!
//! Everything here is plain data and pure functions: money in integer minor units, typed
//! identifiers, the catalog's value types (handles, SKUs, statuses), validation errors and the
//! permission names the admin API guards its routes with. Nothing in this crate is async, talks to
//! a database or knows about HTTP; the store, services and api crates build on it.

/// Makes a serde type appear in GraphQL as the `JSON` scalar, in exactly its REST shape: for
/// values whose shape varies by kind (a promotion's benefit), which GraphQL objects express poorly.
#[macro_export]
macro_rules! graphql_json {
    ($($ty:ty),* $(,)?) => {$(
        impl async_graphql::OutputType for $ty {
            fn type_name() -> std::borrow::Cow<'static, str> {
                <serde_json::Value as async_graphql::OutputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <serde_json::Value as async_graphql::OutputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                _: &async_graphql::ContextSelectionSet<'_>,
                _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                async_graphql::Value::from_json(serde_json::to_value(self).unwrap_or_default())
                    .map_err(|e| async_graphql::ServerError::new(e.to_string(), None))
            }
        }

        impl async_graphql::InputType for $ty {
            type RawValueType = Self;

            fn type_name() -> std::borrow::Cow<'static, str> {
                <serde_json::Value as async_graphql::InputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <serde_json::Value as async_graphql::InputType>::create_type_info(registry)
            }

            fn parse(value: Option<async_graphql::Value>) -> async_graphql::InputValueResult<Self> {
                let json = value.unwrap_or_default().into_json().map_err(async_graphql::InputValueError::custom)?;
                serde_json::from_value(json).map_err(async_graphql::InputValueError::custom)
            }

            fn to_value(&self) -> async_graphql::Value {
                serde_json::to_value(self).ok().and_then(|v| async_graphql::Value::from_json(v).ok()).unwrap_or_default()
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }
        }
    )*};
}

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
