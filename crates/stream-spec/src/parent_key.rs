//! The ids a child row hangs under, and the one string (a *scope*) that names them in state, keys
//! and deletes.

use std::fmt;
use std::sync::Arc;

/// The ids of a child stream's parent, outermost ancestor first: `[user id]` for a mail message,
/// `[team id, channel id]` for a channel message. Cheap to clone (pages of one parent share it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParentKey(Arc<[String]>);

impl ParentKey {
    /// A parent that is a top-level row.
    pub fn top(id: impl Into<String>) -> Self {
        Self(Arc::from(vec![id.into()]))
    }

    /// The key from its ids, outermost first; `None` when `ids` is empty.
    pub fn from_ids(ids: Vec<String>) -> Option<Self> {
        (!ids.is_empty()).then(|| Self(Arc::from(ids)))
    }

    /// The key of a row of this parent's stream that is itself a parent (a channel of a team).
    pub fn child(&self, id: &str) -> Self {
        let mut ids = self.0.to_vec();
        ids.push(id.to_string());
        Self(Arc::from(ids))
    }

    /// Every id, outermost first.
    pub fn ids(&self) -> &[String] {
        &self.0
    }

    /// The parent's own id (the last).
    pub fn id(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or_default()
    }

    /// The scope string: see [`scope_of`].
    pub fn scope(&self) -> String {
        scope_of(self.ids())
    }
}

impl fmt::Display for ParentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scope())
    }
}

/// The scope of a parent key: its ids joined by `/`, each with `%` and `/` escaped, so distinct
/// keys never meet. A top-level parent's scope is its id (ids there never hold either), which
/// keeps states written before grandchildren existed valid.
pub fn scope_of<S: AsRef<str>>(ids: &[S]) -> String {
    let escaped: Vec<String> = ids
        .iter()
        .map(|id| id.as_ref().replace('%', "%25").replace('/', "%2F"))
        .collect();
    escaped.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_of_distinct_keys_differ_and_top_level_ids_stay_as_they_are() {
        let team = ParentKey::top("t1");
        assert_eq!(team.scope(), "t1");
        let channel = team.child("19:a@thread");
        assert_eq!(channel.scope(), "t1/19:a@thread");
        assert_eq!(channel.id(), "19:a@thread");
        assert_ne!(scope_of(&["a/b", "c"]), scope_of(&["a", "b/c"]));
        assert_ne!(scope_of(&["a%2Fb"]), scope_of(&["a/b"]));
    }
}
