//! Service errors as GraphQL errors: the message is the REST problem's `detail`, and
//! `extensions` carry its `code`, `status` and, for a validation failure, the field `errors`.

use crate::problem::ApiError;
use async_graphql::{Error, ErrorExtensions, Value};

pub(crate) type GqlResult<T> = async_graphql::Result<T>;

/// The GraphQL error of an API error.
pub(crate) fn gql_error(err: ApiError) -> Error {
    let problem = err.problem();
    let errors: Vec<Value> = problem
        .errors
        .iter()
        .map(|e| {
            let mut map = async_graphql::indexmap::IndexMap::new();
            map.insert(async_graphql::Name::new("field"), Value::from(e.field.clone()));
            map.insert(async_graphql::Name::new("message"), Value::from(e.message.clone()));
            Value::Object(map)
        })
        .collect();
    Error::new(problem.detail).extend_with(|_, ext| {
        ext.set("code", problem.code.clone());
        ext.set("status", problem.status);
        if !errors.is_empty() {
            ext.set("errors", Value::List(errors.clone()));
        }
    })
}

/// Converts a service result for a resolver, keeping the REST error code. (A bare `?` would
/// turn the error into its text and lose the code, so resolvers use `.gql()?`.)
pub(crate) trait OrGql<T> {
    fn gql(self) -> GqlResult<T>;
}

impl<T, E: Into<ApiError>> OrGql<T> for Result<T, E> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(|e| gql_error(e.into()))
    }
}
