//! `msgraph-sync streams new --path /print/printers`: a declaration for a Graph collection this
//! build does not ship, its fields from the shipped CSDL (the rules `cargo xtask gen-schemas`
//! applies), for `sync --streams-dir DIR`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use graph_csdl::{FieldRules, ResolvedPath, Shape, entity_fields};
use stream_spec::{Catalog, Incremental, PageSize, ParentRef, StreamKind, StreamSpec, snake_case};

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// The collection's Graph path (`/devices`, `/print/printers`, `/users/{id}/messages`); a
    /// `{…}` segment is a parent's id.
    #[arg(long)]
    path: String,
    /// The stream's name [default: the path's last segment in snake_case]
    #[arg(long)]
    name: Option<String>,
    /// The stream whose ids fill the path's `{…}` segment; needed exactly when it has one.
    #[arg(long, value_name = "STREAM")]
    parent: Option<String>,
    /// The column carrying the parent's id [default: the parent's name, singular, + `_id`]
    #[arg(long, value_name = "COLUMN", requires = "parent")]
    parent_column: Option<String>,
    /// The application permission the stream needs [default: that of a shipped declaration with
    /// the same path or entity type]
    #[arg(long)]
    permission: Option<String>,
    /// The endpoint's `$top` limit, or `unsupported` where it refuses `$top`.
    #[arg(long, value_name = "N|unsupported", default_value = "999", value_parser = page_size)]
    page_size: PageSize,
    /// Write DIR/<stream>.json [default: the current directory]
    #[arg(long, value_name = "DIR", conflicts_with = "stdout")]
    out: Option<PathBuf>,
    /// Replace DIR/<stream>.json if it exists.
    #[arg(long, conflicts_with = "stdout")]
    force: bool,
    /// Print the declaration instead of writing a file.
    #[arg(long)]
    stdout: bool,
}

pub fn run(args: &Args) -> Result<(), Failure> {
    let config = |e: anyhow::Error| Failure::Config(e);
    let model = graph_csdl::embedded().map_err(|e| Failure::Other(e.into()))?;
    let resolved = model
        .resolve_path(&args.path)
        .map_err(|e| config(anyhow!("--path: {e}")))?;
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let shipped = Catalog::embedded();
    // A parent may be declared beside the new stream rather than shipped.
    let local = match (args.stdout, dir.is_dir()) {
        (false, true) => Some(Catalog::from_dir(&dir).map_err(|e| config(e.into()))?),
        _ => None,
    };
    let declared = |name: &str| {
        local.as_ref().and_then(|l| l.get(name).ok()).is_some() || shipped.get(name).is_ok()
    };

    let stream = args
        .name
        .clone()
        .unwrap_or_else(|| snake_case(&resolved.last_segment));
    if !is_snake_case(&stream) {
        return Err(config(anyhow!(
            "--name `{stream}`: a stream's name is snake_case (`printer_jobs`)"
        )));
    }
    let parent = parent(args, &resolved, &stream, &shipped, &declared)?;
    let (permission, from) = match &args.permission {
        Some(permission) if permission.trim().is_empty() => {
            return Err(config(anyhow!(
                "--permission is empty: name the application permission (`Printer.Read.All`)"
            )));
        }
        Some(permission) => (permission.clone(), None),
        None => known_permission(&shipped, &resolved).map_err(config)?,
    };

    // A grandchild's path names its parent's own parent-key columns (`{team_id}`) before
    // `{parent_id}`, and its rows carry them all.
    let ancestors: Vec<String> = match &parent {
        Some(p) => local
            .as_ref()
            .and_then(|l| l.get(&p.stream).ok())
            .or_else(|| shipped.get(&p.stream).ok())
            .map(|s| s.parent_columns().into_iter().map(String::from).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let path = match &parent {
        None => resolved.path.clone(),
        Some(p) => {
            let names: Vec<&str> = ancestors.iter().map(String::as_str).collect();
            resolved.with_ancestors(&names).ok_or_else(|| {
                config(anyhow!(
                    "--path `{}` has {} key segment(s), but rows of `{}` hang under {} id(s) \
                     ([{}], then its own): give one key per id, outermost first",
                    args.path,
                    resolved.keys,
                    p.stream,
                    ancestors.len() + 1,
                    ancestors.join(", ")
                ))
            })?
        }
    };
    let mut primary_key = vec!["id".to_string()];
    primary_key.extend(ancestors.iter().cloned());
    primary_key.extend(parent.as_ref().map(|p| p.column.clone()));
    let rules = FieldRules {
        shape: Shape::for_entity(&resolved.entity),
        exclude: &[],
        parent_column: parent.as_ref().map(|p| p.column.as_str()),
        primary_key: &primary_key,
    };
    let fields = entity_fields(model, &resolved.entity, &rules).map_err(|e| config(e.into()))?;
    let spec = StreamSpec {
        selected_by_default: false,
        mock: Default::default(),
        stream: stream.clone(),
        kind: StreamKind::Collection,
        path,
        parent,
        primary_key,
        query: Default::default(),
        domain_property: None,
        page_size: args.page_size,
        entity: Some(resolved.entity.clone()),
        permission,
        outlook_mailbox_limit: false,
        incremental: Incremental::Compare,
        fields,
    };
    // The same text gen-schemas writes, read back the way every reader checks it.
    let mut text = serde_json::to_string_pretty(&spec).map_err(|e| Failure::Other(e.into()))?;
    text.push('\n');
    StreamSpec::from_json(&stream, &text).map_err(|e| config(e.into()))?;

    if let Some(from) = from {
        eprintln!(
            "permission: {}, as the shipped `{from}` declares",
            spec.permission
        );
    }
    if args.stdout {
        print!("{text}");
        return Ok(());
    }
    write(&dir, &stream, &text, args.force)?;
    let replaces = if shipped.get(&stream).is_ok() {
        format!(" (replaces the shipped `{stream}`)")
    } else {
        String::new()
    };
    let d = dir.display();
    println!(
        "wrote {}{replaces}: check with `msgraph-sync streams check {d}`, land with \
         `msgraph-sync sync --streams-dir {d} --streams {stream}`",
        dir.join(format!("{stream}.json")).display()
    );
    Ok(())
}

/// The `parent` of the declaration: given exactly when the path has a key segment.
fn parent(
    args: &Args,
    resolved: &ResolvedPath,
    stream: &str,
    shipped: &Catalog,
    declared: &dyn Fn(&str) -> bool,
) -> Result<Option<ParentRef>, Failure> {
    let Some(parent) = &args.parent else {
        if !resolved.keyed {
            return Ok(None);
        }
        // The collection the key indexes: a shipped stream reading it is the likely parent.
        let prefix = resolved.path.split("/{").next().unwrap_or_default();
        let likely: Vec<&str> = shipped
            .streams()
            .iter()
            .filter(|s| s.path.eq_ignore_ascii_case(prefix))
            .map(|s| s.stream.as_str())
            .collect();
        let hint = match likely.as_slice() {
            [] => String::new(),
            some => format!(
                " (`--parent {}` reads {prefix})",
                some.join("` or `--parent ")
            ),
        };
        return Err(Failure::Config(anyhow!(
            "--path `{}` has a key segment: name the stream whose ids fill it with --parent \
             STREAM{hint}",
            args.path
        )));
    };
    if !resolved.keyed {
        return Err(Failure::Config(anyhow!(
            "--parent {parent}: `{}` has no key segment (`{{id}}`) for the parent's ids",
            args.path
        )));
    }
    if parent == stream {
        return Err(Failure::Config(anyhow!(
            "--parent {parent}: a stream cannot be its own parent"
        )));
    }
    if !declared(parent) {
        return Err(Failure::Config(anyhow!(
            "--parent {parent}: no such stream, shipped or in the output directory (run \
             `msgraph-sync streams` for the list)"
        )));
    }
    let column = match &args.parent_column {
        Some(column) if !is_snake_case(column) => {
            return Err(Failure::Config(anyhow!(
                "--parent-column `{column}`: a column name is snake_case (`printer_id`)"
            )));
        }
        Some(column) => column.clone(),
        None => format!("{}_id", singular(parent)),
    };
    Ok(Some(ParentRef {
        stream: parent.clone(),
        column,
    }))
}

/// The permission of a shipped declaration of the same path, else of the same entity type when
/// those agree; `None` beside it when given, else the stream it came from.
fn known_permission(
    shipped: &Catalog,
    resolved: &ResolvedPath,
) -> anyhow::Result<(String, Option<String>)> {
    let pattern = |path: &str| {
        path.split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".into()
                } else {
                    s.to_lowercase()
                }
            })
            .collect::<Vec<String>>()
    };
    let same_path = shipped
        .streams()
        .iter()
        .find(|s| pattern(&s.path) == pattern(&resolved.path));
    if let Some(s) = same_path {
        return Ok((s.permission.clone(), Some(s.stream.clone())));
    }
    let same_entity: Vec<&StreamSpec> = shipped
        .streams()
        .iter()
        .filter(|s| s.entity.as_deref() == Some(resolved.entity.as_str()))
        .collect();
    let mut permissions: Vec<&str> = same_entity.iter().map(|s| s.permission.as_str()).collect();
    permissions.sort();
    permissions.dedup();
    match (permissions.as_slice(), same_entity.first()) {
        ([one], Some(first)) => Ok((one.to_string(), Some(first.stream.clone()))),
        ([], _) => Err(anyhow!(
            "no shipped stream reads {} or {}: pass --permission, the application permission \
             Microsoft's documentation of `GET {}` lists",
            resolved.entity,
            resolved.path,
            resolved.path
        )),
        _ => {
            let each: Vec<String> = same_entity
                .iter()
                .map(|s| format!("{} needs {}", s.stream, s.permission))
                .collect();
            Err(anyhow!(
                "the shipped streams of {} need different permissions ({}): pass --permission",
                resolved.entity,
                each.join(", ")
            ))
        }
    }
}

fn write(dir: &Path, stream: &str, text: &str, force: bool) -> Result<(), Failure> {
    let file = dir.join(format!("{stream}.json"));
    if file.exists() && !force {
        return Err(Failure::Config(anyhow!(
            "{} exists: pass --force to replace it",
            file.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&file, text))
        .map_err(|e| Failure::Other(anyhow!("writing {}: {e}", file.display())))
}

/// `--page-size 999` or `--page-size unsupported`.
fn page_size(text: &str) -> Result<PageSize, String> {
    match text {
        "unsupported" => Ok(PageSize::Unsupported),
        n => match n.parse::<u32>() {
            Ok(cap) if cap > 0 => Ok(PageSize::Cap(cap)),
            _ => Err("a positive number, or `unsupported`".into()),
        },
    }
}

fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `users` -> `user`, `policies` -> `policy`, `mailboxes` -> `mailbox`: enough for a default
/// parent column (`--parent-column` names any other).
fn singular(plural: &str) -> String {
    if let Some(stem) = plural.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suffix in ["sses", "shes", "ches", "xes", "zes"] {
        if plural.ends_with(suffix) {
            return plural[..plural.len() - 2].to_string();
        }
    }
    let keeps_its_s = ["ss", "us", "is"].iter().any(|s| plural.ends_with(s));
    match plural.strip_suffix('s') {
        Some(stem) if !keeps_its_s => stem.to_string(),
        _ => plural.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_columns_are_singular() {
        for (plural, one) in [
            ("users", "user"),
            ("teams", "team"),
            ("printers", "printer"),
            ("directory_roles", "directory_role"),
            ("policies", "policy"),
            ("mailboxes", "mailbox"),
            ("addresses", "address"),
            ("status", "status"),
            ("mail", "mail"),
        ] {
            assert_eq!(singular(plural), one, "{plural}");
        }
    }

    #[test]
    fn page_sizes_are_a_cap_or_unsupported() {
        assert_eq!(page_size("50"), Ok(PageSize::Cap(50)));
        assert_eq!(page_size("unsupported"), Ok(PageSize::Unsupported));
        assert!(page_size("0").is_err() && page_size("many").is_err());
    }

    #[test]
    fn the_permission_comes_from_a_shipped_path_or_entity() {
        let model = graph_csdl::embedded().unwrap();
        let shipped = Catalog::embedded();
        let permission = |path: &str| known_permission(&shipped, &model.resolve_path(path)?);
        // Same path pattern, whatever the key's name.
        let (p, from) = permission("/users/{id}/messages").unwrap();
        assert_eq!(
            (p.as_str(), from.as_deref()),
            ("Mail.Read", Some("mail_messages"))
        );
        // Same entity type, another path: groups and teams both read groups, with one permission.
        let (p, _) = permission("/groups/{id}/transitiveMembers/microsoft.graph.group").unwrap();
        assert_eq!(p, "Group.Read.All");
        // Shipped streams of one type that disagree: no guess.
        let err = permission("/directory/administrativeUnits/{id}/members")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("different permissions") && err.contains("--permission"),
            "{err}"
        );
        let err = permission("/print/printers").unwrap_err().to_string();
        assert!(
            err.contains("--permission") && err.contains("microsoft.graph.printer"),
            "{err}"
        );
    }
}
