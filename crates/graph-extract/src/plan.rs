//! Which passes a selection needs: one pass per top-level stream, its selected descendants riding
//! on it (children fan out over its ids, grandchildren over each child's, and so on).

use stream_spec::{Catalog, SpecError, StreamSpec};

/// Why a selection could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A selected stream is not declared in the catalog.
    #[error(transparent)]
    Unknown(#[from] SpecError),
}

/// One stream read in a pass: a top-level stream, or a stream fanned out over its parent's rows.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The stream's declaration.
    pub spec: StreamSpec,
    /// Whether the stream's own pages go to the sink (false when only pulled in for its ids).
    pub emit: bool,
    /// Planned streams fanned out over this stream's rows, sharing this one pass.
    pub children: Vec<Pass>,
}

impl Pass {
    fn new(spec: &StreamSpec) -> Self {
        Self {
            spec: spec.clone(),
            emit: false,
            children: Vec::new(),
        }
    }

    /// This stream and every stream below it, parents first.
    pub fn streams(&self) -> Box<dyn Iterator<Item = &Pass> + '_> {
        Box::new(std::iter::once(self).chain(self.children.iter().flat_map(Pass::streams)))
    }

    /// The planned child of this stream named `stream`, added (not emitted) if missing.
    fn child_mut(&mut self, spec: &StreamSpec) -> &mut Pass {
        match self
            .children
            .iter()
            .position(|c| c.spec.stream == spec.stream)
        {
            Some(i) => &mut self.children[i],
            None => {
                self.children.push(Pass::new(spec));
                self.children
                    .sort_by(|a, b| a.spec.stream.cmp(&b.spec.stream));
                self.child_mut(spec)
            }
        }
    }
}

/// What a run reads for one selection (see [`Plan::new`]).
#[derive(Debug, Clone)]
pub struct Plan {
    /// One per top-level stream the selection needs, by stream name.
    pub passes: Vec<Pass>,
}

impl Plan {
    /// `selection` empty means every declared stream.
    pub fn new(catalog: &Catalog, selection: &[String]) -> Result<Self, PlanError> {
        let selected: Vec<&StreamSpec> = if selection.is_empty() {
            catalog.streams().iter().collect()
        } else {
            selection
                .iter()
                .map(|name| catalog.get(name))
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut passes: Vec<Pass> = Vec::new();
        for spec in selected {
            // The stream's ancestors, outermost first: each is read for the ids below it.
            let mut line = vec![spec];
            while let Some(parent) = &line[0].parent {
                line.insert(0, catalog.get(&parent.stream)?);
            }
            let top = match passes.iter().position(|p| p.spec.stream == line[0].stream) {
                Some(i) => &mut passes[i],
                None => {
                    passes.push(Pass::new(line[0]));
                    passes.last_mut().expect("just pushed")
                }
            };
            let node = line[1..]
                .iter()
                .fold(top, |node, spec| node.child_mut(spec));
            node.emit = true;
        }
        passes.sort_by(|a, b| a.spec.stream.cmp(&b.spec.stream));
        Ok(Self { passes })
    }

    /// Every stream the plan touches (emitted or not), parents before their children.
    pub fn streams(&self) -> impl Iterator<Item = &StreamSpec> {
        self.passes
            .iter()
            .flat_map(Pass::streams)
            .map(|pass| &pass.spec)
    }

    /// Whether a stream's pages go to the sink.
    pub fn emits(&self, stream: &str) -> bool {
        self.passes
            .iter()
            .flat_map(Pass::streams)
            .any(|p| p.emit && p.spec.stream == stream)
    }

    /// The planned children of `stream`.
    pub fn children_of(&self, stream: &str) -> Vec<&Pass> {
        self.passes
            .iter()
            .flat_map(Pass::streams)
            .find(|p| p.spec.stream == stream)
            .map(|p| p.children.iter().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn catalog() -> Catalog {
        let dir = std::env::temp_dir().join(format!("plan-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let stream = |name: &str, path: &str, parent: Option<&str>| {
            let parent = parent
                .map(|p| format!(r#","parent":{{"stream":"{p}","column":"{p}_id"}}"#))
                .unwrap_or_default();
            format!(
                r#"{{"stream":"{name}","kind":"collection","path":"{path}"{parent},"primary_key":["id"],
                "page_size":{{"cap":999}},"permission":"P","fields":[{{"graph":"id","name":"id","type":"utf8","nullable":false}}]}}"#
            )
        };
        for (name, path, parent) in [
            ("users", "/users", None),
            ("groups", "/groups", None),
            (
                "mail_messages",
                "/users/{parent_id}/messages",
                Some("users"),
            ),
            ("contacts", "/users/{parent_id}/contacts", Some("users")),
            (
                "group_member",
                "/groups/{parent_id}/members",
                Some("groups"),
            ),
        ] {
            std::fs::write(dir.join(format!("{name}.json")), stream(name, path, parent)).unwrap();
        }
        let catalog = Catalog::from_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        catalog
    }

    #[test]
    fn child_pulls_in_parent_without_emitting_it() {
        let plan = Plan::new(&catalog(), &["mail_messages".into(), "contacts".into()]).unwrap();
        assert_eq!(
            plan.passes.len(),
            1,
            "both children share one pass over users"
        );
        let pass = &plan.passes[0];
        assert_eq!(pass.spec.stream, "users");
        assert!(!pass.emit);
        assert_eq!(pass.children.len(), 2);
        assert!(!plan.emits("users") && plan.emits("contacts"));
    }

    #[test]
    fn selecting_parent_and_child_emits_both_in_one_pass() {
        let plan = Plan::new(
            &catalog(),
            &["group_member".into(), "groups".into(), "users".into()],
        )
        .unwrap();
        let names: Vec<_> = plan
            .passes
            .iter()
            .map(|p| (p.spec.stream.as_str(), p.emit))
            .collect();
        assert_eq!(names, vec![("groups", true), ("users", true)]);
        assert_eq!(plan.passes[0].children[0].spec.stream, "group_member");
        assert_eq!(Plan::new(&catalog(), &[]).unwrap().streams().count(), 5);
    }

    #[test]
    fn a_grandchild_pulls_in_its_parent_and_grandparent_in_one_pass() {
        let dir = tempfile_dir();
        let stream = |name: &str, path: &str, parent: Option<(&str, &str)>, key: &str| {
            let parent = parent
                .map(|(p, c)| format!(r#","parent":{{"stream":"{p}","column":"{c}"}}"#))
                .unwrap_or_default();
            format!(
                r#"{{"stream":"{name}","kind":"collection","path":"{path}"{parent},"primary_key":{key},
                "page_size":{{"cap":50}},"permission":"P","fields":[{{"graph":"id","name":"id","type":"utf8","nullable":false}}]}}"#
            )
        };
        for (name, text) in [
            ("teams", stream("teams", "/teams", None, r#"["id"]"#)),
            (
                "channels",
                stream(
                    "channels",
                    "/teams/{parent_id}/channels",
                    Some(("teams", "team_id")),
                    r#"["id","team_id"]"#,
                ),
            ),
            (
                "channel_messages",
                stream(
                    "channel_messages",
                    "/teams/{team_id}/channels/{parent_id}/messages",
                    Some(("channels", "channel_id")),
                    r#"["id","team_id","channel_id"]"#,
                ),
            ),
        ] {
            std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
        }
        let catalog = Catalog::from_dir(&dir).unwrap();
        catalog.check_parents().unwrap();
        let plan = Plan::new(&catalog, &["channel_messages".into()]).unwrap();
        assert_eq!(plan.passes.len(), 1);
        let streams: Vec<_> = plan.streams().map(|s| s.stream.as_str()).collect();
        assert_eq!(streams, ["teams", "channels", "channel_messages"]);
        assert!(!plan.emits("teams") && !plan.emits("channels"));
        assert!(plan.emits("channel_messages"));
        assert_eq!(
            plan.children_of("channels")[0].spec.stream,
            "channel_messages"
        );
        let messages = catalog.get("channel_messages").unwrap();
        assert_eq!(messages.parent_columns(), ["team_id", "channel_id"]);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("plan-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn unknown_stream_is_an_error() {
        let err = Plan::new(&catalog(), &["nope".into()]).unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
