//! Opaque page cursors: base64url of a small JSON object naming the sort and the last row's key.
//!
//! Clients must not build cursors; a cursor made for one sort is refused with another.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keel_domain::ProductId;
use keel_store::catalog::SortKey;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Raw {
    /// The sort the cursor belongs to, e.g. "-created" or "price:EUR".
    s: String,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<i64>,
}

pub(crate) fn encode(sort: &str, id: ProductId, key: &SortKey) -> String {
    let raw = Raw {
        s: sort.to_string(),
        id: id.to_string(),
        t: match key {
            SortKey::Title(t) => Some(t.clone()),
            _ => None,
        },
        p: match key {
            SortKey::Price(p) => Some(*p),
            _ => None,
        },
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&raw).unwrap_or_default())
}

/// Reads a cursor made by [`encode`] for the same sort.
pub(crate) fn decode(sort: &str, cursor: &str) -> Result<(ProductId, SortKey), &'static str> {
    const BAD: &str = "is not a cursor returned by this list (or was made for another sort)";
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| BAD)?;
    let raw: Raw = serde_json::from_slice(&bytes).map_err(|_| BAD)?;
    if raw.s != sort {
        return Err(BAD);
    }
    let id = ProductId::parse(&raw.id).map_err(|_| BAD)?;
    let key = match (raw.t, raw.p) {
        (Some(t), None) => SortKey::Title(t),
        (None, Some(p)) => SortKey::Price(p),
        (None, None) => SortKey::Created,
        _ => return Err(BAD),
    };
    Ok((id, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_another_sort() {
        let id = ProductId::new();
        let c = encode("title", id, &SortKey::Title("Linen".into()));
        assert_eq!(decode("title", &c).unwrap(), (id, SortKey::Title("Linen".into())));
        assert!(decode("-title", &c).is_err());
        assert!(decode("title", "not-base64!").is_err());
    }
}
