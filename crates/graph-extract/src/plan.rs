//! Which passes a selection needs: one pass per top-level stream, its selected children riding on it.

use stream_spec::{Catalog, SpecError, StreamSpec};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Unknown(#[from] SpecError),
    #[error(
        "stream `{stream}` has parent `{parent}`, which has a parent itself; only one level of fan-out is supported"
    )]
    NestedParent { stream: String, parent: String },
}

/// One pass over a top-level stream.
#[derive(Debug, Clone)]
pub struct Pass {
    pub spec: StreamSpec,
    /// Whether the parent's own pages go to the sink (false when only pulled in for its ids).
    pub emit: bool,
    /// Selected child streams fanned out over this stream's ids, sharing this one pass.
    pub children: Vec<StreamSpec>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub passes: Vec<Pass>,
}

impl Plan {
    /// `selection` empty means every declared stream.
    pub fn new(catalog: &Catalog, selection: &[String]) -> Result<Self, PlanError> {
        let selected: Vec<&StreamSpec> = if selection.is_empty() {
            catalog.streams().iter().collect()
        } else {
            let mut specs = selection
                .iter()
                .map(|name| catalog.get(name))
                .collect::<Result<Vec<_>, _>>()?;
            specs.sort_by(|a, b| a.stream.cmp(&b.stream));
            specs.dedup_by(|a, b| a.stream == b.stream);
            specs
        };
        let mut passes: Vec<Pass> = Vec::new();
        for spec in &selected {
            let Some(parent) = &spec.parent else { continue };
            let parent_spec = catalog.get(&parent.stream)?;
            if parent_spec.parent.is_some() {
                return Err(PlanError::NestedParent {
                    stream: spec.stream.clone(),
                    parent: parent.stream.clone(),
                });
            }
            let pass = match passes
                .iter_mut()
                .position(|p| p.spec.stream == parent.stream)
            {
                Some(i) => &mut passes[i],
                None => {
                    passes.push(Pass {
                        spec: parent_spec.clone(),
                        emit: false,
                        children: Vec::new(),
                    });
                    passes.last_mut().expect("just pushed")
                }
            };
            pass.children.push((*spec).clone());
        }
        for spec in selected.iter().filter(|s| s.parent.is_none()) {
            match passes.iter_mut().find(|p| p.spec.stream == spec.stream) {
                Some(pass) => pass.emit = true,
                None => passes.push(Pass {
                    spec: (*spec).clone(),
                    emit: true,
                    children: Vec::new(),
                }),
            }
        }
        passes.sort_by(|a, b| a.spec.stream.cmp(&b.spec.stream));
        Ok(Self { passes })
    }

    /// Every stream the plan touches (emitted or not).
    pub fn streams(&self) -> impl Iterator<Item = &StreamSpec> {
        self.passes
            .iter()
            .flat_map(|p| std::iter::once(&p.spec).chain(p.children.iter()))
    }

    /// Whether a stream's pages go to the sink.
    pub fn emits(&self, stream: &str) -> bool {
        self.passes.iter().any(|p| {
            (p.emit && p.spec.stream == stream) || p.children.iter().any(|c| c.stream == stream)
        })
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
        assert_eq!(plan.passes[0].children[0].stream, "group_member");
        assert_eq!(Plan::new(&catalog(), &[]).unwrap().streams().count(), 5);
    }

    #[test]
    fn unknown_stream_is_an_error() {
        let err = Plan::new(&catalog(), &["nope".into()]).unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
