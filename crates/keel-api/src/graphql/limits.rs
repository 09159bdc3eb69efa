//! Refuses costly queries before they run, and observes every operation.
//!
//! Aliases and depth are counted on the parsed document, before validation does any work, so a
//! hostile query costs its parse and nothing more; complexity (each field counts 1, a list field
//! its page size times its children) comes from validation. Each refusal has its own
//! `extensions.code`.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Response, ServerError, ServerResult, ValidationResult, Variables};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

pub(crate) struct Limits {
    pub schema: &'static str,
    pub max_depth: usize,
    pub max_aliases: usize,
    pub max_complexity: usize,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension {
            schema: self.schema,
            max_depth: self.max_depth,
            max_aliases: self.max_aliases,
            max_complexity: self.max_complexity,
        })
    }
}

struct LimitsExtension {
    schema: &'static str,
    max_depth: usize,
    max_aliases: usize,
    max_complexity: usize,
}

fn refusal(code: &'static str, message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    ext.set("status", 400);
    err.extensions = Some(ext);
    err
}

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => usize::from(f.node.alias.is_some()) + count_aliases(&f.node.selection_set.node),
            Selection::InlineFragment(i) => count_aliases(&i.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Whether a field of `set` sits deeper than `max`, its fields being at `level`. Fragment
/// spreads are followed (each at most once per path, so a cycle cannot loop).
fn too_deep<'a>(
    set: &'a SelectionSet,
    fragments: &'a Fragments,
    level: usize,
    max: usize,
    path: &mut Vec<&'a Name>,
) -> bool {
    for item in &set.items {
        let deeper = match &item.node {
            Selection::Field(f) => {
                level > max
                    || (!f.node.selection_set.node.items.is_empty()
                        && too_deep(&f.node.selection_set.node, fragments, level + 1, max, path))
            }
            Selection::InlineFragment(i) => too_deep(&i.node.selection_set.node, fragments, level, max, path),
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                match fragments.get(name) {
                    Some(fragment) if !path.contains(&name) => {
                        path.push(name);
                        let deeper = too_deep(&fragment.node.selection_set.node, fragments, level, max, path);
                        path.pop();
                        deeper
                    }
                    _ => false,
                }
            }
        };
        if deeper {
            return true;
        }
    }
    false
}

impl LimitsExtension {
    fn check(&self, doc: &ExecutableDocument) -> ServerResult<()> {
        let aliases: usize =
            doc.operations.iter().map(|(_, op)| count_aliases(&op.node.selection_set.node)).sum::<usize>()
                + doc.fragments.values().map(|f| count_aliases(&f.node.selection_set.node)).sum::<usize>();
        if aliases > self.max_aliases {
            return Err(refusal(
                "too_many_aliases",
                format!("the query uses {aliases} aliases; the limit is {}", self.max_aliases),
            ));
        }
        for (_, op) in doc.operations.iter() {
            if too_deep(&op.node.selection_set.node, &doc.fragments, 1, self.max_depth, &mut Vec::new()) {
                return Err(refusal(
                    "query_too_deep",
                    format!("the query nests fields deeper than {} levels", self.max_depth),
                ));
            }
        }
        Ok(())
    }
}

/// Operation names seen as metric labels, bounded so clients cannot grow the label set at will.
static OPERATION_NAMES: Mutex<Option<HashSet<String>>> = Mutex::new(None);
const MAX_OPERATION_NAMES: usize = 200;

fn operation_label(name: Option<&str>) -> String {
    let Some(name) = name.filter(|n| n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) else {
        return "anonymous".to_string();
    };
    let mut seen = OPERATION_NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen = seen.get_or_insert_with(HashSet::new);
    if seen.contains(name) {
        return name.to_string();
    }
    if seen.len() < MAX_OPERATION_NAMES {
        seen.insert(name.to_string());
        return name.to_string();
    }
    "other".to_string()
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        self.check(&doc)?;
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.complexity > self.max_complexity {
            return Err(vec![refusal(
                "query_too_complex",
                format!(
                    "the query's complexity is {}; the limit is {} (a list field counts its page size times its fields)",
                    result.complexity, self.max_complexity
                ),
            )]);
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let label = operation_label(operation_name);
        let span = tracing::info_span!("graphql", schema = self.schema, operation = %label);
        let started = Instant::now();
        let response = next.run(ctx, operation_name).instrument(span).await;
        let outcome = if response.errors.is_empty() { "ok" } else { "error" };
        metrics::counter!("keel_graphql_operations_total", "schema" => self.schema, "operation" => label.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("keel_graphql_operation_duration_seconds", "schema" => self.schema, "operation" => label)
            .record(started.elapsed().as_secs_f64());
        response
    }
}
