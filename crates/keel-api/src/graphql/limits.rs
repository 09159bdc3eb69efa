//! Refuses costly queries before they run, remembers persisted queries, and observes every
//! operation. All of it happens in the endpoint around one `execute`, not as a schema extension
//! (which would wrap every field's resolution in extra futures).
//!
//! - Aliases and selection depth are counted by a lexical scan of the query text before the
//!   parser runs, so a thousand aliases cost a scan of their bytes, not a thousand parsed fields.
//! - The parsed document's shape is then measured with every fragment spread expanded, each
//!   fragment once (so fragments that spread others twice, thirty levels down, cost thirty steps,
//!   not 2³⁰): cycles, too many expanded fields and too much depth are refused before the schema
//!   sees the document. Validation then applies the complexity limit proper (each field 1, a
//!   connection its page size times its fields).
//! - Automatic persisted queries: a client may send the SHA-256 of a query instead of the query.

use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

pub(crate) fn refusal(code: &'static str, message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    ext.set("status", 400);
    err.extensions = Some(ext);
    err
}

pub(crate) fn too_deep(max_depth: usize) -> ServerError {
    refusal("query_too_deep", format!("the query nests fields deeper than {max_depth} levels"))
}

pub(crate) fn too_complex(max_complexity: usize) -> ServerError {
    refusal(
        "query_too_complex",
        format!(
            "the query selects too much; the limit is {max_complexity} (a list field counts its page size times its fields)"
        ),
    )
}

/// Refuses a query whose text holds more aliases or deeper selections than allowed.
pub(crate) fn check_text(query: &str, max_aliases: usize, max_depth: usize) -> Result<(), ServerError> {
    let (aliases, depth) = scan(query);
    if aliases > max_aliases {
        return Err(refusal(
            "too_many_aliases",
            format!("the query uses {aliases} aliases; the limit is {max_aliases}"),
        ));
    }
    if depth > max_depth {
        return Err(too_deep(max_depth));
    }
    Ok(())
}

/// What a lexical scan of a query's text finds: the aliases (a name followed by `:` outside
/// parentheses, where arguments and variable definitions live) and the deepest nesting of field
/// selections (`{` outside parentheses, except an inline fragment's). Both are lower bounds of
/// what the parsed document holds, so a query over a limit here is over it there.
fn scan(query: &str) -> (usize, usize) {
    let bytes = query.as_bytes();
    let (mut i, mut parens, mut depth, mut deepest, mut aliases) = (0, 0usize, 0usize, 0, 0);
    let mut after_name = false;
    // After `...`: `on Type` or a directive starts an inline fragment, whose braces add no depth.
    let (mut after_dots, mut inline) = (false, false);
    // Whether each open brace added depth.
    let mut braces: Vec<bool> = Vec::new();
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(br#"""""#) => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(br#"""""#) {
                    i += if bytes[i..].starts_with(br#"\""""#) { 4 } else { 1 };
                }
                i += 3;
                after_name = false;
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                after_name = false;
                continue;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                if after_dots && &bytes[start..i] == b"on" {
                    inline = true;
                }
                after_dots = false;
                after_name = true;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                after_dots = true;
                after_name = false;
                continue;
            }
            b'@' if after_dots => inline = true,
            b'(' => parens += 1,
            b')' => parens = parens.saturating_sub(1),
            b'{' if parens == 0 => {
                let counts = !(inline || after_dots);
                braces.push(counts);
                if counts {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                inline = false;
            }
            // An inline fragment's closing brace pops a brace that added no depth.
            b'}' if parens == 0 && braces.pop().unwrap_or(true) => depth = depth.saturating_sub(1),
            b':' if parens == 0 && after_name => aliases += 1,
            _ => {}
        }
        if bytes[i] != b'@' {
            after_dots = false;
        }
        after_name = false;
        i += 1;
    }
    (aliases, deepest)
}

/// The size of a selection set with its fragment spreads expanded.
#[derive(Clone, Copy, Default)]
struct Shape {
    fields: usize,
    depth: usize,
}

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

fn shape<'a>(
    set: &'a SelectionSet,
    fragments: &'a Fragments,
    memo: &mut HashMap<&'a Name, Shape>,
    visiting: &mut Vec<&'a Name>,
) -> Result<Shape, ServerError> {
    let mut total = Shape::default();
    for item in &set.items {
        let (fields, depth) = match &item.node {
            Selection::Field(f) => {
                let child = shape(&f.node.selection_set.node, fragments, memo, visiting)?;
                (child.fields.saturating_add(1), child.depth + 1)
            }
            Selection::InlineFragment(i) => {
                let child = shape(&i.node.selection_set.node, fragments, memo, visiting)?;
                (child.fields, child.depth)
            }
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                if visiting.contains(&name) {
                    return Err(refusal("invalid_query", format!("fragment {name} spreads itself")));
                }
                let child = match (memo.get(name), fragments.get(name)) {
                    (Some(known), _) => *known,
                    (None, Some(fragment)) => {
                        visiting.push(name);
                        let child = shape(&fragment.node.selection_set.node, fragments, memo, visiting)?;
                        visiting.pop();
                        memo.insert(name, child);
                        child
                    }
                    // An unknown fragment: validation names it.
                    (None, None) => Shape::default(),
                };
                (child.fields, child.depth)
            }
        };
        total.fields = total.fields.saturating_add(fields);
        total.depth = total.depth.max(depth);
    }
    Ok(total)
}

/// Refuses a parsed document that, with its fragments expanded, nests deeper than `max_depth` or
/// selects more than `max_fields` fields, or whose fragments spread themselves.
pub(crate) fn check_document(doc: &ExecutableDocument, max_depth: usize, max_fields: usize) -> Result<(), ServerError> {
    let mut memo = HashMap::new();
    for (_, op) in doc.operations.iter() {
        let found = shape(&op.node.selection_set.node, &doc.fragments, &mut memo, &mut Vec::new())?;
        if found.depth > max_depth {
            return Err(too_deep(max_depth));
        }
        if found.fields > max_fields {
            return Err(too_complex(max_fields));
        }
    }
    Ok(())
}

/// The queries this node was sent with their hash, the oldest forgotten first.
pub(crate) struct PersistedQueries {
    capacity: usize,
    known: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl PersistedQueries {
    pub(crate) fn new(capacity: usize) -> Self {
        PersistedQueries { capacity: capacity.max(1), known: Mutex::new((HashMap::new(), VecDeque::new())) }
    }

    /// Fills in the query of a request that names a persisted one (`extensions.persistedQuery`),
    /// or remembers the query sent with its hash.
    pub(crate) fn resolve(&self, request: &mut async_graphql::Request) -> Result<(), ServerError> {
        let Some(async_graphql::Value::Object(persisted)) = request.extensions.get("persistedQuery") else {
            return Ok(());
        };
        let Some(async_graphql::Value::String(hash)) = persisted.get("sha256Hash") else {
            return Err(refusal("invalid_query", "persistedQuery needs a sha256Hash".to_string()));
        };
        let hash = hash.to_ascii_lowercase();
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if request.query.is_empty() {
            return match known.0.get(&hash) {
                Some(query) => {
                    request.query = query.clone();
                    Ok(())
                }
                None => Err(refusal("persisted_query_not_found", "PersistedQueryNotFound".to_string())),
            };
        }
        if format!("{:x}", Sha256::digest(request.query.as_bytes())) != hash {
            return Err(refusal("persisted_query_mismatch", "provided sha does not match query".to_string()));
        }
        if !known.0.contains_key(&hash) {
            if known.1.len() >= self.capacity
                && let Some(oldest) = known.1.pop_front()
            {
                known.0.remove(&oldest);
            }
            known.1.push_back(hash.clone());
            known.0.insert(hash, request.query.clone());
        }
        Ok(())
    }
}

/// Operation names seen as metric labels, bounded so clients cannot grow the label set at will.
static OPERATION_NAMES: Mutex<Option<HashSet<String>>> = Mutex::new(None);
const MAX_OPERATION_NAMES: usize = 200;

/// The name of a document's first operation (`query Name …`), for a request that names none.
fn first_operation_name(query: &str) -> Option<&str> {
    let text = query.trim_start();
    let rest = text.strip_prefix("query").or_else(|| text.strip_prefix("mutation"))?;
    let rest = rest.strip_prefix(char::is_whitespace)?.trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The metric label of an operation: the name the request gives, else the document's.
pub(crate) fn operation_label(request: &async_graphql::Request) -> String {
    let name = request.operation_name.as_deref().or_else(|| first_operation_name(&request.query));
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

#[cfg(test)]
mod tests {
    use super::scan;

    #[test]
    fn the_scan_counts_aliases_and_depth_outside_arguments_and_strings() {
        assert_eq!(scan("{ a: products { edges { node { id } } } b: regions { id } }"), (2, 4));
        // Arguments, variables, directives and input objects are inside parentheses.
        let args = r#"query Q($first: Int = 3) { products(first: $first, filter: {q: "x"}) @include(if: true) { edges { cursor } } }"#;
        assert_eq!(scan(args), (0, 3));
        // Strings and comments hide what they contain.
        assert_eq!(scan(r#"{ product(handle: "a: ) { b: {") { id } } # c: { d: {"#), (0, 2));
        assert_eq!(scan(r#"{ product(handle: """x: ) { \""" y: {""") { id } }"#), (0, 2));
        // Fragment definitions count too; inline fragments add no depth.
        assert_eq!(scan("{ ...F } fragment F on Query { x: regions { id } }"), (1, 2));
        assert_eq!(scan("{ node { ... on Product { id } ... @include(if: true) { id } ...Spread } }"), (0, 2));
    }

    #[test]
    fn an_unnamed_request_is_labelled_by_its_document() {
        assert_eq!(super::first_operation_name("  query Regions { regions { id } }"), Some("Regions"));
        assert_eq!(super::first_operation_name("mutation Pay($a: ID) { x }"), Some("Pay"));
        assert_eq!(super::first_operation_name("query { x }"), None);
        assert_eq!(super::first_operation_name("{ x }"), None);
        assert_eq!(super::first_operation_name("queryX { x }"), None);
    }
}
