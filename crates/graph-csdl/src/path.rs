//! A Graph path (`/users/{id}/messages`) resolved against the CSDL, segment by segment: an entity
//! set or singleton of the container first, then navigation properties, a `{…}` key after each
//! collection that goes on, and type casts (`microsoft.graph.user`) where the CSDL allows them.

use crate::CsdlError;
use crate::model::Model;

/// How a declaration writes the key segment its parent's ids fill in.
pub const PARENT_PLACEHOLDER: &str = "{parent_id}";

/// A Graph path that names a collection of entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    /// The path as a declaration writes it: each segment spelt as in the CSDL, every key
    /// segment as `{parent_id}` (see [`ResolvedPath::with_ancestors`] for a grandchild's).
    pub path: String,
    /// The entity type of the collection's rows (`microsoft.graph.message`).
    pub entity: String,
    /// Whether the path has a key segment, so the stream fans out over a parent's ids.
    pub keyed: bool,
    /// How many key segments: one for a child, two for a grandchild (a channel's messages).
    pub keys: usize,
    /// The last entity set or navigation property (`messages`): a stream's default name.
    pub last_segment: String,
}

impl ResolvedPath {
    /// The path with its keys but the last named after `ancestors` (a grandchild's parent's
    /// parent-key columns, outermost first: `/teams/{team_id}/channels/{parent_id}/messages`);
    /// `None` unless there is one such key per ancestor.
    pub fn with_ancestors(&self, ancestors: &[&str]) -> Option<String> {
        if self.keys != ancestors.len() + 1 {
            return None;
        }
        let mut path = self.path.clone();
        for column in ancestors {
            path = path.replacen(PARENT_PLACEHOLDER, &format!("{{{column}}}"), 1);
        }
        Some(path)
    }
}

/// Why a Graph path does not resolve to a collection of one entity type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("a Graph path starts with `/` (`/devices`), not `{0}`")]
    NotAbsolute(String),
    /// The path carries a query string.
    #[error("`{0}`: give the path alone, without a query (`?…`)")]
    HasQuery(String),
    /// The path is `/` or empty.
    #[error("the path names no collection: give one such as `/devices`")]
    Empty,
    /// A segment is no entity set, singleton or navigation property where it stands.
    #[error("{}", unknown_message(.segment, .after, .expected, .candidates))]
    UnknownSegment {
        /// The segment not found.
        segment: String,
        /// The path before the segment (empty at the root).
        after: String,
        /// What was looked for (`an entity set or singleton`, `a navigation property of X`).
        expected: String,
        /// Every name that could follow, closest first.
        candidates: Vec<String>,
    },
    /// A collection is followed by something other than a key.
    #[error(
        "`{segment}` after `{after}`: a collection of {entity} goes on with a key `{{parent_id}}` \
         (one entity), or ends the path (bound functions such as `delta` are not resolved)"
    )]
    KeyExpected {
        /// The segment found where a key was expected.
        segment: String,
        /// The path before it: a collection.
        after: String,
        /// The collection's entity type.
        entity: String,
    },
    /// A key segment follows a single entity.
    #[error(
        "`{segment}` after `{after}`: a key follows a collection, and `{after}` is one {entity}"
    )]
    KeyNotAllowed {
        /// The key segment.
        segment: String,
        /// The path before it: a single entity.
        after: String,
        /// That entity's type.
        entity: String,
    },
    /// The path ends at a single entity, not a collection.
    #[error("{}", not_a_collection(.path, .entity, .below))]
    NotACollection {
        /// The path.
        path: String,
        /// The entity type it ends at.
        entity: String,
        /// Its collection-valued navigation properties.
        below: Vec<String>,
    },
    /// The CSDL itself could not be read.
    #[error(transparent)]
    Csdl(#[from] CsdlError),
}

/// Where a path has got to.
enum At {
    Root,
    Collection(String),
    Single(String),
}

impl Model {
    /// Resolves `path` (relative to Graph's version root; a leading `/v1.0` is accepted).
    pub fn resolve_path(&self, path: &str) -> Result<ResolvedPath, PathError> {
        if path.contains('?') {
            return Err(PathError::HasQuery(path.to_string()));
        }
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| PathError::NotAbsolute(path.to_string()))?;
        let rest = rest.strip_prefix("v1.0/").unwrap_or(rest);
        let mut at = At::Root;
        let mut written = String::new();
        let mut keys = 0;
        let mut last_segment = String::new();
        for segment in rest.split('/').filter(|s| !s.is_empty()) {
            let is_key = segment.starts_with('{') && segment.ends_with('}');
            let (next, spelt) = match &at {
                At::Root => {
                    if let Some((name, ty)) = find(&self.entity_sets, segment) {
                        (At::Collection(ty.clone()), name.clone())
                    } else if let Some((name, ty)) = find(&self.singletons, segment) {
                        (At::Single(ty.clone()), name.clone())
                    } else {
                        let names = self.entity_sets.keys().chain(self.singletons.keys());
                        return Err(unknown(
                            segment,
                            &written,
                            "an entity set or singleton of Graph v1.0".into(),
                            names.map(String::as_str),
                        ));
                    }
                }
                At::Collection(ty) if is_key => {
                    keys += 1;
                    (At::Single(ty.clone()), PARENT_PLACEHOLDER.to_string())
                }
                At::Collection(ty) => match self.cast(ty, segment) {
                    Some(cast) => (At::Collection(cast), segment.to_string()),
                    None => {
                        return Err(PathError::KeyExpected {
                            segment: segment.to_string(),
                            after: written,
                            entity: ty.clone(),
                        });
                    }
                },
                At::Single(ty) if is_key => {
                    return Err(PathError::KeyNotAllowed {
                        segment: segment.to_string(),
                        after: written,
                        entity: ty.clone(),
                    });
                }
                At::Single(ty) => {
                    let navigation = self.all_navigation(ty)?;
                    let found = navigation
                        .iter()
                        .find(|n| n.name == segment)
                        .copied()
                        .or_else(|| unique_ignoring_case(&navigation, segment));
                    if let Some(nav) = found {
                        let next = if nav.collection {
                            At::Collection(nav.target.clone())
                        } else {
                            At::Single(nav.target.clone())
                        };
                        (next, nav.name.clone())
                    } else if let Some(cast) = self.cast(ty, segment) {
                        (At::Single(cast), segment.to_string())
                    } else {
                        return Err(unknown(
                            segment,
                            &written,
                            format!("a navigation property of {ty}"),
                            navigation.iter().map(|n| n.name.as_str()),
                        ));
                    }
                }
            };
            if !is_key && !segment.contains('.') {
                last_segment = spelt.clone();
            }
            written.push('/');
            written.push_str(&spelt);
            at = next;
        }
        match at {
            At::Root => Err(PathError::Empty),
            At::Single(entity) => Err(PathError::NotACollection {
                below: self
                    .all_navigation(&entity)?
                    .iter()
                    .filter(|n| n.collection)
                    .map(|n| n.name.clone())
                    .collect(),
                path: written,
                entity,
            }),
            At::Collection(entity) => Ok(ResolvedPath {
                path: written,
                entity,
                keyed: keys > 0,
                keys,
                last_segment,
            }),
        }
    }

    /// A type-cast segment (`microsoft.graph.user`) to a type derived from `ty`.
    fn cast(&self, ty: &str, segment: &str) -> Option<String> {
        if !segment.contains('.') {
            return None;
        }
        let cast = self.resolve(segment);
        self.derives_from(&cast, ty).then_some(cast)
    }
}

/// Graph matches segments regardless of case; the CSDL's spelling is what gets written.
fn find<'a>(
    roots: &'a std::collections::BTreeMap<String, String>,
    segment: &str,
) -> Option<(&'a String, &'a String)> {
    roots.get_key_value(segment).or_else(|| {
        let mut matches = roots
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(segment));
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    })
}

fn unique_ignoring_case<'a>(
    navigation: &[&'a crate::Navigation],
    segment: &str,
) -> Option<&'a crate::Navigation> {
    let mut matches = navigation
        .iter()
        .filter(|n| n.name.eq_ignore_ascii_case(segment));
    let first = *matches.next()?;
    matches.next().is_none().then_some(first)
}

fn unknown<'a>(
    segment: &str,
    after: &str,
    expected: String,
    names: impl Iterator<Item = &'a str>,
) -> PathError {
    let mut candidates: Vec<(usize, &str)> = names
        .map(|name| {
            (
                distance(&segment.to_lowercase(), &name.to_lowercase()),
                name,
            )
        })
        .collect();
    candidates.sort();
    candidates.dedup_by(|a, b| a.1 == b.1);
    PathError::UnknownSegment {
        segment: segment.to_string(),
        after: after.to_string(),
        expected,
        candidates: candidates.into_iter().map(|(_, n)| n.to_string()).collect(),
    }
}

/// The error text: near names as "did you mean", otherwise a few of what could follow.
fn unknown_message(segment: &str, after: &str, expected: &str, candidates: &[String]) -> String {
    let place = if after.is_empty() {
        String::new()
    } else {
        format!(" after `{after}`")
    };
    let head = format!("unknown segment `{segment}`{place}: not {expected}");
    // Closest first (see `unknown`).
    let near: Vec<&String> = candidates
        .iter()
        .filter(|c| is_near(segment, c))
        .take(5)
        .collect();
    if candidates.is_empty() {
        return format!("{head}, which has none");
    }
    if !near.is_empty() {
        let near: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
        return format!("{head}; did you mean {}?", near.join(" or "));
    }
    let mut some: Vec<&String> = candidates.iter().collect();
    some.sort();
    let shown: Vec<&str> = some.iter().take(8).map(|s| s.as_str()).collect();
    let more = if some.len() > shown.len() {
        format!(", … ({} in all)", some.len())
    } else {
        String::new()
    };
    format!("{head}; it has: {}{more}", shown.join(", "))
}

fn not_a_collection(path: &str, entity: &str, below: &[String]) -> String {
    let head = format!("`{path}` is one {entity}, not a collection: a stream reads a collection");
    if below.is_empty() {
        return head;
    }
    let shown: Vec<&str> = below.iter().take(8).map(String::as_str).collect();
    let more = if below.len() > shown.len() {
        format!(", … ({} in all)", below.len())
    } else {
        String::new()
    };
    format!("{head}; below it: {}{more}", shown.join(", "))
}

fn is_near(segment: &str, candidate: &str) -> bool {
    let (s, c) = (segment.to_lowercase(), candidate.to_lowercase());
    distance(&s, &c) <= (s.len() / 3).max(2) || (s.len() >= 4 && c.starts_with(&s))
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
