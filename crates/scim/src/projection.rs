//! Attribute projection of returned resources: `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) and
//! the `returned` characteristic of each attribute (RFC 7643 §7).

use crate::filter::AttrPath;
use crate::schema::{AttributeDef, ResourceSchema, Returned, common_attributes};
use serde_json::{Map, Value};

/// Where a selected attribute lives: the top-level object or an extension object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Top,
    Ext(&'static str),
}

/// One resolved entry of `attributes` / `excludedAttributes`.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A whole extension (`attributes=urn:…:enterprise:2.0:User`).
    WholeExt(&'static str),
    /// An attribute, optionally narrowed to one sub-attribute.
    Attr {
        container: Container,
        name: &'static str,
        sub: Option<&'static str>,
    },
}

fn resolve(path: &AttrPath, rs: &ResourceSchema) -> Option<Target> {
    if let Some(uri) = &path.uri {
        let whole = format!("{uri}:{}", path.name);
        if path.sub.is_none()
            && let Some(ext) = rs.extension(&whole)
        {
            return Some(Target::WholeExt(ext.id));
        }
    } else if path.sub.is_none()
        && let Some(ext) = rs.extension(&path.name)
    {
        return Some(Target::WholeExt(ext.id));
    }
    let (schema, def) = rs.resolve(path.uri.as_deref(), &path.name)?;
    let container = match schema {
        Some(s) if s.id != rs.core.id => Container::Ext(s.id),
        _ => Container::Top,
    };
    let sub = match &path.sub {
        None => None,
        Some(sub) => Some(def.sub(sub)?.name),
    };
    Some(Target::Attr {
        container,
        name: def.name,
        sub,
    })
}

/// Selected sub-attributes of one attribute: `None` = the whole attribute.
fn selection(
    targets: &[Target],
    container: Container,
    name: &str,
) -> Option<Option<Vec<&'static str>>> {
    let mut subs: Vec<&'static str> = Vec::new();
    let mut any = false;
    for t in targets {
        match *t {
            Target::WholeExt(id) if container == Container::Ext(id) => return Some(None),
            Target::Attr {
                container: c,
                name: n,
                sub,
            } if c == container && n.eq_ignore_ascii_case(name) => {
                any = true;
                match sub {
                    None => return Some(None),
                    Some(s) => subs.push(s),
                }
            }
            _ => {}
        }
    }
    any.then_some(Some(subs))
}

/// Applies `attributes` (if non-empty) and `excludedAttributes` to a resource in place, honouring the
/// `returned` characteristic: `always` attributes (and `schemas`) are never removed, `never` attributes
/// never returned, `request` attributes only when named in `attributes`. Unresolvable paths are ignored.
pub fn project(
    resource: &mut Value,
    rs: &ResourceSchema,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let include: Vec<Target> = attributes.iter().filter_map(|p| resolve(p, rs)).collect();
    let exclude: Vec<Target> = excluded.iter().filter_map(|p| resolve(p, rs)).collect();
    // `attributes` naming only unknown attributes still means "only the always-returned ones".
    let include = (!attributes.is_empty()).then_some(include.as_slice());

    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys {
        let Some(ext) = rs.extension(&key) else {
            continue;
        };
        let container = Container::Ext(ext.id);
        let keep = match obj.get_mut(&key) {
            Some(Value::Object(inner)) => {
                let lookup = |k: &str| ext.attr(k);
                project_container(inner, &lookup, &|_| false, container, include, &exclude);
                let fully_excluded = exclude
                    .iter()
                    .any(|t| matches!(t, Target::WholeExt(id) if *id == ext.id));
                !inner.is_empty() && !fully_excluded
            }
            _ => false,
        };
        if !keep {
            obj.remove(&key);
        }
    }
    let lookup = |k: &str| {
        common_attributes()
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(k))
            .or_else(|| rs.core.attr(k))
    };
    let skip = |k: &str| k.eq_ignore_ascii_case("schemas") || rs.extension(k).is_some();
    project_container(obj, &lookup, &skip, Container::Top, include, &exclude);
}

fn project_container(
    obj: &mut Map<String, Value>,
    lookup: &dyn Fn(&str) -> Option<&'static AttributeDef>,
    skip: &dyn Fn(&str) -> bool,
    container: Container,
    include: Option<&[Target]>,
    exclude: &[Target],
) {
    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys.into_iter().filter(|k| !skip(k)) {
        let Some(def) = lookup(&key) else {
            // Not described by the schema: returned by default, dropped when `attributes` is given.
            if include.is_some() {
                obj.remove(&key);
            }
            continue;
        };
        let keep_whole;
        let mut keep_subs: Option<Vec<&'static str>> = None;
        let mut drop_subs: Vec<&'static str> = Vec::new();
        match def.returned {
            Returned::Never => keep_whole = false,
            Returned::Always => keep_whole = true,
            Returned::Default | Returned::Request => match include {
                Some(targets) => match selection(targets, container, def.name) {
                    None => keep_whole = false,
                    Some(None) => keep_whole = true,
                    Some(Some(subs)) => {
                        keep_whole = true;
                        keep_subs = Some(subs);
                    }
                },
                None => match selection(exclude, container, def.name) {
                    Some(None) => keep_whole = false,
                    Some(Some(subs)) => {
                        keep_whole = def.returned == Returned::Default;
                        drop_subs = subs;
                    }
                    None => keep_whole = def.returned == Returned::Default,
                },
            },
        }
        if !keep_whole {
            obj.remove(&key);
            continue;
        }
        if let Some(v) = obj.get_mut(&key) {
            let empty = project_subs(v, def, keep_subs.as_deref(), &drop_subs, include.is_some());
            if empty {
                obj.remove(&key);
            }
        }
    }
}

/// Projects the sub-attributes of a complex value (or of each element of a multi-valued one).
/// Returns true when nothing is left.
fn project_subs(
    v: &mut Value,
    def: &AttributeDef,
    keep: Option<&[&'static str]>,
    drop: &[&'static str],
    requested: bool,
) -> bool {
    if def.sub_attributes.is_empty() {
        return false;
    }
    let one = |o: &mut Map<String, Value>| {
        o.retain(|k, _| {
            let Some(sub) = def.sub(k) else {
                return keep.is_none();
            };
            match sub.returned {
                Returned::Never => false,
                Returned::Always => true,
                Returned::Request => keep.is_some_and(|ks| ks.contains(&sub.name)),
                Returned::Default => match keep {
                    Some(ks) => ks.contains(&sub.name),
                    None => !drop.contains(&sub.name),
                },
            }
        });
        o.is_empty()
    };
    match v {
        Value::Object(o) => one(o),
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(o) = item {
                    one(o);
                }
            }
            items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
            items.is_empty() && (requested || keep.is_some() || !drop.is_empty())
        }
        _ => false,
    }
}
