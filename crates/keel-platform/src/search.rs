//! The embedded search engine: Tantivy for text, an in-memory table for facets.
//!
//! Each product is one Tantivy document: its title, description, tags, SKUs, category and
//! collection names and option values as text (BM25 relevance, per-field boosts), its id (to
//! replace or delete it), an ordinal (a fast field) and the product as JSON (stored, returned with
//! the hits). What filters, facets and sorts need — categories with their ancestors, collections,
//! option values, the lowest price per currency, whether anything is in stock, the creation
//! time — lives in a compact table in memory, indexed by ordinal, so a query is: Tantivy finds
//! and scores the matching documents, then one pass over their facts filters, counts facets and
//! sorts.
//!
//! **Typo tolerance.** Each word of a query matches exactly (boosted) or within one edit (words
//! of 4 letters or more; two edits from 8); the last word also matches as a prefix, so results
//! follow as-you-type. Every word must match somewhere (AND across words, OR across fields).
//!
//! The index lives in a directory (one per node) or in memory; it is always rebuildable from the
//! database.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, PoisonError, RwLock};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::fastfield::Column;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, Value};
use tantivy::tokenizer::TokenStream;
use tantivy::{DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal, Term};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(String),
    #[error("reading the catalog for the index failed: {0}")]
    Source(String),
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// One product as the index sees it.
#[derive(Debug, Clone, Default)]
pub struct SearchDoc {
    pub id: String,
    pub handle: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub skus: Vec<String>,
    /// Its categories and their ancestors: (handle, name).
    pub categories: Vec<(String, String)>,
    /// (handle, title).
    pub collections: Vec<(String, String)>,
    /// (option name, value) for every value a variant has.
    pub options: Vec<(String, String)>,
    /// The lowest variant price per currency: (ISO code, minor units).
    pub prices: Vec<(String, i64)>,
    pub in_stock: bool,
    /// Creation time (any monotonic number: newest first sorts on it).
    pub created: i64,
    /// What a hit returns (the product as JSON).
    pub payload: String,
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchSort {
    /// Best match first (newest first without a text query).
    #[default]
    Relevance,
    PriceAscending,
    PriceDescending,
    Newest,
}

/// A search: text, filters (all must hold; values within one filter are alternatives), order, page.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    /// Category handles (a product in a descendant counts).
    pub categories: Vec<String>,
    pub collections: Vec<String>,
    /// (option name, value): values of one option are alternatives, options must all hold.
    pub options: Vec<(String, String)>,
    /// The currency prices are filtered, bucketed and sorted in.
    pub currency: String,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub in_stock: Option<bool>,
    pub sort: SearchSort,
    pub offset: usize,
    pub limit: usize,
}

/// A facet value and how many results carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FacetCount {
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub count: usize,
}

/// A price range (minor units, `max` exclusive; `None`: no upper bound) and its count.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PriceBucket {
    pub min: i64,
    pub max: Option<i64>,
    pub count: usize,
}

/// Facet counts over the results (every filter applied).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Facets {
    pub categories: Vec<FacetCount>,
    pub collections: Vec<FacetCount>,
    /// Ranges of the lowest price in the query's currency.
    pub price: Vec<PriceBucket>,
    /// Per option name, its values.
    pub options: BTreeMap<String, Vec<FacetCount>>,
    /// Results with something in stock, and without.
    pub in_stock: BTreeMap<String, usize>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct SearchResults {
    pub total: usize,
    /// The payloads of this page's hits, in order.
    pub hits: Vec<String>,
    pub facets: Facets,
}

/// An autocomplete suggestion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suggestion {
    pub id: String,
    pub handle: String,
    pub title: String,
}

/// Bucket bounds for price facets, in minor units.
const PRICE_BOUNDS: [i64; 5] = [0, 2_500, 5_000, 10_000, 20_000];

/// Interned strings (facet values), so the fact table holds small numbers.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

struct Facts {
    id: String,
    handle: String,
    title: String,
    categories: Vec<u32>,
    collections: Vec<u32>,
    /// (name, value) interned.
    options: Vec<(u32, u32)>,
    prices: Vec<(u32, i64)>,
    in_stock: bool,
    created: i64,
}

#[derive(Default)]
struct Table {
    facts: Vec<Option<Facts>>,
    by_id: HashMap<String, u64>,
    strings: Interner,
    /// Display labels of category and collection handles.
    labels: HashMap<u32, String>,
}

impl Table {
    fn remove(&mut self, id: &str) {
        if let Some(ord) = self.by_id.remove(id)
            && let Some(slot) = self.facts.get_mut(ord as usize)
        {
            *slot = None;
        }
    }

    /// Adds or replaces a product's facts; a replaced product keeps its ordinal (its old document
    /// is deleted in the same commit), so the table does not grow with updates.
    fn insert(&mut self, doc: &SearchDoc) -> u64 {
        let reuse = self.by_id.get(&doc.id).copied();
        let mut intern_labelled = |pairs: &[(String, String)], prefix: &str| -> Vec<u32> {
            let mut ids: Vec<u32> = pairs
                .iter()
                .map(|(handle, label)| {
                    let id = self.strings.id(&format!("{prefix}{handle}"));
                    self.labels.insert(id, label.clone());
                    id
                })
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let categories = intern_labelled(&doc.categories, "c:");
        let collections = intern_labelled(&doc.collections, "k:");
        let mut options: Vec<(u32, u32)> =
            doc.options.iter().map(|(n, v)| (self.strings.id(n), self.strings.id(v))).collect();
        options.sort_unstable();
        options.dedup();
        let prices = doc.prices.iter().map(|(c, a)| (self.strings.id(c), *a)).collect();
        let facts = Some(Facts {
            id: doc.id.clone(),
            handle: doc.handle.clone(),
            title: doc.title.clone(),
            categories,
            collections,
            options,
            prices,
            in_stock: doc.in_stock,
            created: doc.created,
        });
        let ord = match reuse {
            Some(ord) => {
                self.facts[ord as usize] = facts;
                ord
            }
            None => {
                self.facts.push(facts);
                self.facts.len() as u64 - 1
            }
        };
        self.by_id.insert(doc.id.clone(), ord);
        ord
    }
}

struct Fields {
    id: Field,
    ord: Field,
    payload: Field,
    /// Text fields with their boosts.
    text: Vec<(Field, f32)>,
    title: Field,
}

/// The index of one node.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    table: RwLock<Table>,
}

const WRITER_HEAP: usize = 20_000_000;

impl SearchIndex {
    /// Opens (creating it if needed) the index in `dir`, or one in memory when `dir` is `None`.
    /// An index on disk holds documents but no facts: call [`SearchIndex::replace_all`] before
    /// serving (it is rebuilt from the database at start).
    pub fn open(dir: Option<&Path>) -> Result<SearchIndex> {
        let mut builder = Schema::builder();
        let id = builder.add_text_field("id", STRING);
        let ord = builder.add_u64_field("ord", FAST);
        let payload = builder.add_text_field("payload", STORED);
        let title = builder.add_text_field("title", TEXT);
        let mut text = vec![(title, 3.0)];
        for (name, boost) in [
            ("tags", 2.0),
            ("skus", 2.0),
            ("categories", 1.5),
            ("collections", 1.0),
            ("options", 1.0),
            ("description", 0.5),
        ] {
            text.push((builder.add_text_field(name, TEXT), boost));
        }
        let schema = builder.build();
        let index = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
                let directory =
                    tantivy::directory::MmapDirectory::open(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
                match Index::open_or_create(directory, schema.clone()) {
                    Ok(index) => index,
                    // A directory written by an older schema: start over (it is rebuilt anyway).
                    Err(tantivy::TantivyError::SchemaError(_)) => {
                        std::fs::remove_dir_all(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
                        std::fs::create_dir_all(dir).map_err(|e| SearchError::Directory(e.to_string()))?;
                        let directory = tantivy::directory::MmapDirectory::open(dir)
                            .map_err(|e| SearchError::Directory(e.to_string()))?;
                        Index::create(directory, schema, tantivy::IndexSettings::default())?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => Index::create_in_ram(schema),
        };
        let writer = index.writer_with_num_threads(1, WRITER_HEAP)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields: Fields { id, ord, payload, text, title },
            table: RwLock::default(),
        })
    }

    /// How many products the index holds.
    pub fn len(&self) -> usize {
        self.table.read().unwrap_or_else(PoisonError::into_inner).by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn document(&self, doc: &SearchDoc, ord: u64) -> TantivyDocument {
        let f = &self.fields;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, &doc.id);
        d.add_u64(f.ord, ord);
        d.add_text(f.payload, &doc.payload);
        let [title, tags, skus, categories, collections, options, description] =
            [0, 1, 2, 3, 4, 5, 6].map(|i| f.text[i].0);
        d.add_text(title, &doc.title);
        for tag in &doc.tags {
            d.add_text(tags, tag);
        }
        for sku in &doc.skus {
            d.add_text(skus, sku);
        }
        for (_, name) in &doc.categories {
            d.add_text(categories, name);
        }
        for (_, t) in &doc.collections {
            d.add_text(collections, t);
        }
        for (_, value) in &doc.options {
            d.add_text(options, value);
        }
        d.add_text(description, &doc.description);
        d
    }

    /// Replaces the whole index with `docs` (a rebuild), calling `progress` with the count so far.
    /// An `Err` from `docs` (the source failed) abandons the rebuild: the index stays as it was.
    pub fn replace_all(
        &self,
        docs: impl IntoIterator<Item = Result<SearchDoc, String>>,
        mut progress: impl FnMut(usize),
    ) -> Result<usize> {
        let mut table = Table::default();
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.delete_all_documents()?;
        let mut n = 0;
        for doc in docs {
            let doc = match doc {
                Ok(doc) => doc,
                Err(cause) => {
                    writer.rollback()?;
                    return Err(SearchError::Source(cause));
                }
            };
            let ord = table.insert(&doc);
            if let Err(e) = writer.add_document(self.document(&doc, ord)) {
                writer.rollback()?;
                return Err(e.into());
            }
            n += 1;
            if n % 1000 == 0 {
                progress(n);
            }
        }
        // The new documents and their facts become visible together.
        let mut current = self.table.write().unwrap_or_else(PoisonError::into_inner);
        writer.commit()?;
        self.reader.reload()?;
        *current = table;
        drop(current);
        progress(n);
        Ok(n)
    }

    /// Adds or replaces `upserts` and removes `removals` (product ids), visible on return.
    pub fn apply(&self, upserts: &[SearchDoc], removals: &[String]) -> Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        for id in removals {
            writer.delete_term(Term::from_field_text(self.fields.id, id));
            table.remove(id);
        }
        for doc in upserts {
            writer.delete_term(Term::from_field_text(self.fields.id, &doc.id));
            let ord = table.insert(doc);
            writer.add_document(self.document(doc, ord))?;
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The query for `text`: every word must match some field, exactly, within its edit budget,
    /// or (the last word) as a prefix of a title word.
    fn text_query(&self, text: &str) -> Result<Box<dyn Query>> {
        let mut analyzer = self.index.tokenizer_for_field(self.fields.title)?;
        let mut words = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            words.push(stream.token().text.clone());
        }
        if words.is_empty() {
            return Ok(Box::new(AllQuery));
        }
        let last = words.len() - 1;
        let mut all: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, word) in words.iter().enumerate() {
            let edits = match word.chars().count() {
                0..=3 => 0,
                4..=7 => 1,
                _ => 2,
            };
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for &(field, boost) in &self.fields.text {
                let term = Term::from_field_text(field, word);
                let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(exact), boost * 2.0))));
                if edits > 0 {
                    let fuzzy = FuzzyTermQuery::new(term.clone(), edits, true);
                    any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(fuzzy), boost))));
                }
                if i == last && field == self.fields.title {
                    let prefix = FuzzyTermQuery::new_prefix(term, 0, true);
                    any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(prefix), boost))));
                }
            }
            all.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        Ok(Box::new(BooleanQuery::new(all)))
    }

    /// Runs a search (blocking: call it off the async runtime's workers).
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults> {
        let query = self.text_query(&q.text)?;
        // The table first: writers swap documents and facts under its lock, so the searcher
        // taken under it matches it.
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let searcher = self.reader.searcher();
        let matches = searcher.search(&query, &AllMatches)?;
        let strings = &table.strings;
        let wanted = |prefix: &str, handles: &[String]| -> Option<Vec<u32>> {
            (!handles.is_empty()).then(|| handles.iter().filter_map(|h| strings.get(&format!("{prefix}{h}"))).collect())
        };
        let categories = wanted("c:", &q.categories);
        let collections = wanted("k:", &q.collections);
        let mut options: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut impossible = false;
        for (name, value) in &q.options {
            match (strings.get(name), strings.get(value)) {
                (Some(n), Some(v)) => options.entry(n).or_default().push(v),
                _ => {
                    options.entry(strings.get(name).unwrap_or(u32::MAX)).or_default();
                }
            }
        }
        if options.values().any(Vec::is_empty) {
            impossible = true;
        }
        let currency = strings.get(&q.currency);
        let price = |facts: &Facts| currency.and_then(|c| facts.prices.iter().find(|(k, _)| *k == c).map(|(_, a)| *a));

        let mut hits: Vec<(Score, &Facts, DocAddress)> = Vec::new();
        if !impossible {
            for (score, ord, addr) in matches {
                let Some(Some(facts)) = table.facts.get(ord as usize) else { continue };
                if categories.as_ref().is_some_and(|want| !facts.categories.iter().any(|c| want.contains(c)))
                    || collections.as_ref().is_some_and(|want| !facts.collections.iter().any(|c| want.contains(c)))
                    || q.in_stock.is_some_and(|s| s != facts.in_stock)
                    || !options.iter().all(|(n, vs)| facts.options.iter().any(|(fn_, fv)| fn_ == n && vs.contains(fv)))
                {
                    continue;
                }
                if q.price_min.is_some() || q.price_max.is_some() {
                    let Some(p) = price(facts) else { continue };
                    if q.price_min.is_some_and(|m| p < m) || q.price_max.is_some_and(|m| p > m) {
                        continue;
                    }
                }
                hits.push((score, facts, addr));
            }
        }

        // Facets over every result.
        let mut facets = Facets::default();
        let mut cats: HashMap<u32, usize> = HashMap::new();
        let mut cols: HashMap<u32, usize> = HashMap::new();
        let mut opts: HashMap<(u32, u32), usize> = HashMap::new();
        let mut buckets = [0usize; PRICE_BOUNDS.len()];
        let (mut stocked, mut unstocked) = (0, 0);
        for (_, facts, _) in &hits {
            for c in &facts.categories {
                *cats.entry(*c).or_default() += 1;
            }
            for c in &facts.collections {
                *cols.entry(*c).or_default() += 1;
            }
            for o in &facts.options {
                *opts.entry(*o).or_default() += 1;
            }
            if let Some(p) = price(facts) {
                let i = PRICE_BOUNDS.iter().rposition(|b| p >= *b).unwrap_or(0);
                buckets[i] += 1;
            }
            if facts.in_stock {
                stocked += 1;
            } else {
                unstocked += 1;
            }
        }
        let counted = |map: HashMap<u32, usize>, prefix: &str| -> Vec<FacetCount> {
            let mut out: Vec<FacetCount> = map
                .into_iter()
                .map(|(id, count)| FacetCount {
                    value: strings.name(id).trim_start_matches(prefix).to_string(),
                    label: table.labels.get(&id).cloned(),
                    count,
                })
                .collect();
            out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            out
        };
        facets.categories = counted(cats, "c:");
        facets.collections = counted(cols, "k:");
        for ((name, value), count) in opts {
            facets.options.entry(strings.name(name).to_string()).or_default().push(FacetCount {
                value: strings.name(value).to_string(),
                label: None,
                count,
            });
        }
        for values in facets.options.values_mut() {
            values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        }
        facets.price = PRICE_BOUNDS
            .iter()
            .enumerate()
            .filter(|(i, _)| buckets[*i] > 0)
            .map(|(i, min)| PriceBucket { min: *min, max: PRICE_BOUNDS.get(i + 1).copied(), count: buckets[i] })
            .collect();
        facets.in_stock = [("true".to_string(), stocked), ("false".to_string(), unstocked)].into();

        let sort = match (q.sort, q.text.trim().is_empty()) {
            (SearchSort::Relevance, true) => SearchSort::Newest,
            (s, _) => s,
        };
        match sort {
            SearchSort::Relevance => hits.sort_by(|a, b| {
                b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then_with(|| b.1.created.cmp(&a.1.created))
            }),
            SearchSort::Newest => hits.sort_by(|a, b| b.1.created.cmp(&a.1.created).then_with(|| b.1.id.cmp(&a.1.id))),
            SearchSort::PriceAscending | SearchSort::PriceDescending => {
                let descending = sort == SearchSort::PriceDescending;
                hits.sort_by(|a, b| {
                    // Products without a price in the currency go last either way.
                    let (pa, pb) = (price(a.1), price(b.1));
                    let by_price = match (pa, pb) {
                        (Some(x), Some(y)) if descending => y.cmp(&x),
                        (Some(x), Some(y)) => x.cmp(&y),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    };
                    by_price.then_with(|| b.1.created.cmp(&a.1.created)).then_with(|| a.1.id.cmp(&b.1.id))
                });
            }
        }
        let total = hits.len();
        let mut payloads = Vec::new();
        for (_, _, addr) in hits.iter().skip(q.offset).take(q.limit) {
            let doc: TantivyDocument = searcher.doc(*addr)?;
            if let Some(payload) = doc.get_first(self.fields.payload).and_then(|v| v.as_str()) {
                payloads.push(payload.to_string());
            }
        }
        Ok(SearchResults { total, hits: payloads, facets })
    }

    /// Up to `limit` products whose title matches `text` as typed so far (the last word as a
    /// prefix, earlier words with typo tolerance), best first.
    pub fn suggest(&self, text: &str, limit: usize) -> Result<Vec<Suggestion>> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let query = self.text_query(text)?;
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let searcher = self.reader.searcher();
        let mut matches = searcher.search(&query, &AllMatches)?;
        matches.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        Ok(matches
            .into_iter()
            .filter_map(|(_, ord, _)| table.facts.get(ord as usize).and_then(Option::as_ref))
            .take(limit)
            .map(|f| Suggestion { id: f.id.clone(), handle: f.handle.clone(), title: f.title.clone() })
            .collect())
    }
}

/// Collects every match: (score, ordinal, address).
struct AllMatches;

struct SegmentMatches {
    segment: SegmentOrdinal,
    ords: Column<u64>,
    out: Vec<(Score, u64, DocAddress)>,
}

impl Collector for AllMatches {
    type Fruit = Vec<(Score, u64, DocAddress)>;
    type Child = SegmentMatches;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &tantivy::SegmentReader) -> tantivy::Result<SegmentMatches> {
        Ok(SegmentMatches { segment, ords: reader.fast_fields().u64("ord")?, out: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentMatches {
    type Fruit = Vec<(Score, u64, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(ord) = self.ords.first(doc) {
            self.out.push((score, ord, DocAddress::new(self.segment, doc)));
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, title: &str, category: &str, size: &str, usd: i64, in_stock: bool, created: i64) -> SearchDoc {
        SearchDoc {
            id: id.into(),
            handle: id.into(),
            title: title.into(),
            description: format!("A fine {title}"),
            tags: vec!["cotton".into()],
            skus: vec![format!("SKU-{id}")],
            categories: vec![(category.into(), category.to_uppercase()), ("all".into(), "All".into())],
            collections: vec![],
            options: vec![("Size".into(), size.into())],
            prices: vec![("USD".into(), usd)],
            in_stock,
            created,
            payload: id.into(),
        }
    }

    fn index() -> SearchIndex {
        let index = SearchIndex::open(None).unwrap();
        index
            .replace_all(
                [
                    doc("p1", "Classic Hoodie", "tops", "M", 4_000, true, 1),
                    doc("p2", "Linen Shirt", "tops", "L", 6_000, true, 2),
                    doc("p3", "Wool Socks", "socks", "M", 1_200, false, 3),
                    doc("p4", "Hooded Raincoat", "outer", "L", 15_000, true, 4),
                ]
                .map(Ok),
                |_| {},
            )
            .unwrap();
        index
    }

    fn search(index: &SearchIndex, text: &str, tweak: impl FnOnce(&mut SearchQuery)) -> SearchResults {
        let mut q = SearchQuery { text: text.into(), currency: "USD".into(), limit: 10, ..Default::default() };
        tweak(&mut q);
        index.search(&q).unwrap()
    }

    #[test]
    fn a_typo_still_finds_the_product_and_exact_matches_rank_first() {
        let index = index();
        assert_eq!(search(&index, "hoodie", |_| {}).hits[0], "p1");
        assert_eq!(search(&index, "hoddie", |_| {}).hits, ["p1"], "one letter wrong");
        assert_eq!(search(&index, "linnen shirt", |_| {}).hits, ["p2"], "every word must match");
        assert!(search(&index, "zzzz", |_| {}).hits.is_empty());
        // The last word as a prefix: as-you-type.
        assert_eq!(search(&index, "rainc", |_| {}).hits, ["p4"]);
        let suggested: Vec<String> = index.suggest("hoo", 5).unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(suggested.len(), 2);
        assert!(suggested.contains(&"p1".to_string()) && suggested.contains(&"p4".to_string()));
    }

    #[test]
    fn facets_count_the_filtered_results() {
        let index = index();
        let all = search(&index, "", |_| {});
        assert_eq!(all.total, 4);
        assert_eq!(all.hits, ["p4", "p3", "p2", "p1"], "newest first without text");
        let tops = all.facets.categories.iter().find(|c| c.value == "tops").unwrap();
        assert_eq!((tops.count, tops.label.as_deref()), (2, Some("TOPS")));
        // Filtering by a facet value gives exactly its count.
        for facet in &all.facets.categories {
            let filtered = search(&index, "", |q| q.categories = vec![facet.value.clone()]);
            assert_eq!(filtered.total, facet.count, "{}", facet.value);
        }
        for bucket in &all.facets.price {
            let filtered = search(&index, "", |q| {
                q.price_min = Some(bucket.min);
                q.price_max = bucket.max.map(|m| m - 1);
            });
            assert_eq!(filtered.total, bucket.count, "{bucket:?}");
        }
        let sizes = &all.facets.options["Size"];
        for size in sizes {
            let filtered = search(&index, "", |q| q.options = vec![("Size".into(), size.value.clone())]);
            assert_eq!(filtered.total, size.count);
        }
        assert_eq!(all.facets.in_stock["false"], 1);
        let stocked = search(&index, "", |q| q.in_stock = Some(true));
        assert_eq!(stocked.total, all.facets.in_stock["true"]);
        // Filters combine; an unknown value matches nothing.
        assert_eq!(
            search(&index, "", |q| {
                q.categories = vec!["tops".into()];
                q.options = vec![("Size".into(), "L".into())];
            })
            .hits,
            ["p2"]
        );
        assert_eq!(search(&index, "", |q| q.options = vec![("Size".into(), "XXL".into())]).total, 0);
        assert_eq!(search(&index, "", |q| q.categories = vec!["nope".into()]).total, 0);
    }

    #[test]
    fn sorts_pages_and_updates() {
        let index = index();
        let by_price = search(&index, "", |q| q.sort = SearchSort::PriceAscending);
        assert_eq!(by_price.hits, ["p3", "p1", "p2", "p4"]);
        let page = search(&index, "", |q| {
            q.sort = SearchSort::PriceDescending;
            q.offset = 1;
            q.limit = 2;
        });
        assert_eq!((page.total, page.hits.as_slice()), (4, ["p2".to_string(), "p1".to_string()].as_slice()));
        // A change replaces the product; a removal drops it.
        index.apply(&[doc("p1", "Classic Sweater", "tops", "M", 4_000, true, 1)], &["p3".to_string()]).unwrap();
        assert!(search(&index, "hoodie", |_| {}).hits.is_empty());
        assert_eq!(search(&index, "sweater", |_| {}).hits, ["p1"]);
        assert_eq!(search(&index, "", |_| {}).total, 3);
        assert_eq!(index.len(), 3);
        assert_eq!(index.table.read().unwrap().facts.len(), 4, "a replaced product keeps its slot");
        // A rebuild whose source fails leaves the index as it was.
        let failed = index.replace_all([Ok(doc("p9", "Lone Hat", "hats", "M", 1, true, 9)), Err("db".into())], |_| {});
        assert!(failed.is_err());
        assert_eq!(search(&index, "", |_| {}).total, 3);
        assert!(search(&index, "hat", |_| {}).hits.is_empty());
    }
}
