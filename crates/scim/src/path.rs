//! PATCH paths (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`): `name.givenName`,
//! `emails[type eq "work"]`, `emails[type eq "work"].value`, and URN-qualified forms such as
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`.

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, Filter, parse_path_syntax};

/// A parsed PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute for `attr.sub` paths).
    pub attr: AttrPath,
    /// The value filter of `attr[filter]`, paths relative to `attr`.
    pub value_filter: Option<Filter>,
    /// The sub-attribute after `]` in `attr[filter].sub`.
    pub sub_attr: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path; any error is 400 invalidPath.
    pub fn parse(input: &str) -> Result<PatchPath, ScimError> {
        let (attr, value_filter, sub_attr) = parse_path_syntax(input.trim()).map_err(|e| {
            ScimError::bad_request(
                ScimType::InvalidPath,
                format!("invalid path {input:?}: {e}"),
            )
        })?;
        Ok(PatchPath {
            attr,
            value_filter,
            sub_attr,
        })
    }
}

impl std::fmt::Display for PatchPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.value_filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PatchPath {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let p = PatchPath::parse("name.givenName").unwrap();
        assert_eq!(p.attr.name, "name");
        assert_eq!(p.attr.sub.as_deref(), Some("givenName"));
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr.name, "emails");
        assert!(p.value_filter.is_some());
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
        let p = PatchPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.attr.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr.name, "manager");
        assert_eq!(p.attr.sub.as_deref(), Some("value"));
    }

    #[test]
    fn errors_are_invalid_path() {
        for bad in [
            "",
            "emails[",
            "emails[type eq]",
            "a.b.c",
            "emails[type eq \"x\"].",
            "emails]",
            "name.x[value eq 1]",
            "x y",
        ] {
            let e = PatchPath::parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            r#"emails[type eq "work" and primary eq true].value"#,
            "members",
            "name.familyName",
        ] {
            let p = PatchPath::parse(s).unwrap();
            assert_eq!(PatchPath::parse(&p.to_string()).unwrap(), p);
        }
    }
}
