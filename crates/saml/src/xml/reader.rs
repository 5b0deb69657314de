//! The one hardened parser for every inbound XML document (SAML messages, metadata).
//!
//! roxmltree underneath: no DTD (any `<!DOCTYPE` is rejected, even an empty one), no entities
//! besides the five predefined ones and character references, no external resources. On top of
//! that, limits on size, depth, attributes per element and node count.
//!
//! IDs: SAML identifies elements by the unqualified `ID` attribute, and that is the only name
//! [`element_by_id`] resolves. To defeat wrapping tricks that rely on a different ID notion in some
//! other verifier, uniqueness is checked across the unqualified attributes `ID`, `Id` and `id` of
//! all elements together ([`check_unique_ids`]).

use roxmltree::{Document, Node, NodeType, ParsingOptions};

/// Limits applied by [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum document size in bytes (default 256 KiB).
    pub max_bytes: usize,
    /// Maximum element nesting depth, the root element being depth 1 (default 64).
    pub max_depth: usize,
    /// Maximum attributes on one element, namespace declarations excluded (default 64).
    pub max_attributes_per_element: usize,
    /// Maximum number of nodes of all kinds (default 20 000).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            max_depth: 64,
            max_attributes_per_element: 64,
            max_nodes: 20_000,
        }
    }
}

/// Why an inbound document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The document is larger than `max_bytes`.
    #[error("document too large: {size} bytes (limit {max})")]
    TooLarge {
        /// Actual size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The document has a DOCTYPE (DTDs are never accepted).
    #[error("document type declarations are not allowed")]
    Doctype,
    /// Elements nest deeper than `max_depth`.
    #[error("document nests deeper than {max} elements")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// An element has more than `max_attributes_per_element` attributes.
    #[error("an element has more than {max} attributes")]
    TooManyAttributes {
        /// The limit.
        max: usize,
    },
    /// The document has more than `max_nodes` nodes.
    #[error("document has more than {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// Not well-formed (or namespace-invalid) XML.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Two elements carry the same ID value.
    #[error("duplicate ID {0:?}")]
    DuplicateId(String),
    /// No element has this ID.
    #[error("no element with ID {0:?}")]
    IdNotFound(String),
}

/// Parses `text` with the hardening described in the module documentation.
pub fn parse<'i>(text: &'i str, limits: &Limits) -> Result<Document<'i>, XmlError> {
    if text.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: text.len(),
            max: limits.max_bytes,
        });
    }
    if text.contains("<!DOCTYPE") {
        return Err(XmlError::Doctype);
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: u32::try_from(limits.max_nodes).unwrap_or(u32::MAX),
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Doctype,
        roxmltree::Error::NodesLimitReached => XmlError::TooManyNodes {
            max: limits.max_nodes,
        },
        other => XmlError::Malformed(other.to_string()),
    })?;
    check_shape(&doc, limits)?;
    Ok(doc)
}

fn check_shape(doc: &Document<'_>, limits: &Limits) -> Result<(), XmlError> {
    // Open-element stack, maintained in document order: O(nodes).
    let mut open: Vec<roxmltree::NodeId> = Vec::with_capacity(limits.max_depth.min(128));
    for n in doc.root().descendants() {
        if !n.is_element() {
            continue;
        }
        let parent = n.parent().map(|p| p.id());
        while let Some(top) = open.last() {
            if Some(*top) == parent {
                break;
            }
            open.pop();
        }
        open.push(n.id());
        if open.len() > limits.max_depth {
            return Err(XmlError::TooDeep {
                max: limits.max_depth,
            });
        }
        if n.attributes().len() > limits.max_attributes_per_element {
            return Err(XmlError::TooManyAttributes {
                max: limits.max_attributes_per_element,
            });
        }
    }
    Ok(())
}

/// The text of a node: the concatenation of ALL descendant text nodes (CDATA included), in
/// document order. Comments and processing instructions are skipped, never truncate:
/// `alice@x.com<!---->.evil` reads `alice@x.com.evil`.
pub fn text_of(node: Node<'_, '_>) -> String {
    if node.is_text() {
        return node.text().unwrap_or_default().to_owned();
    }
    let mut out = String::new();
    for d in node.descendants() {
        if d.node_type() == NodeType::Text {
            out.push_str(d.text().unwrap_or_default());
        }
    }
    out
}

/// The names of the unqualified attributes treated as IDs for uniqueness.
pub const ID_ATTRIBUTES: [&str; 3] = ["ID", "Id", "id"];

/// Fails with [`XmlError::DuplicateId`] if two elements share an ID value (across `ID`/`Id`/`id`).
pub fn check_unique_ids(doc: &Document<'_>) -> Result<(), XmlError> {
    let mut seen: Vec<&str> = Vec::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            if a.namespace().is_none() && ID_ATTRIBUTES.contains(&a.name()) {
                seen.push(a.value());
            }
        }
    }
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(XmlError::DuplicateId(w[0].to_owned()));
    }
    Ok(())
}

/// The single element whose unqualified `ID` attribute equals `id`. Errors if none, or if the
/// value occurs more than once anywhere in the document (on `ID`, `Id` or `id`).
pub fn element_by_id<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Result<Node<'a, 'i>, XmlError> {
    let mut found: Option<Node<'a, 'i>> = None;
    let mut count = 0usize;
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            if a.namespace().is_none() && ID_ATTRIBUTES.contains(&a.name()) && a.value() == id {
                count += 1;
                if a.name() == "ID" && found.is_none() {
                    found = Some(n);
                }
            }
        }
    }
    if count > 1 {
        return Err(XmlError::DuplicateId(id.to_owned()));
    }
    found.ok_or_else(|| XmlError::IdNotFound(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_doctype_even_empty() {
        let l = Limits::default();
        assert_eq!(
            parse("<!DOCTYPE a><a/>", &l).unwrap_err(),
            XmlError::Doctype
        );
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(parse(laughs, &l).unwrap_err(), XmlError::Doctype);
        let xxe = r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert_eq!(parse(xxe, &l).unwrap_err(), XmlError::Doctype);
    }

    #[test]
    fn limits() {
        let l = Limits {
            max_bytes: 100,
            max_depth: 3,
            max_attributes_per_element: 2,
            max_nodes: 10,
        };
        assert!(matches!(
            parse(&"<a></a>".repeat(20), &l),
            Err(XmlError::TooLarge { .. })
        ));
        assert!(parse("<a><b><c/></b></a>", &l).is_ok());
        assert_eq!(
            parse("<a><b><c><d/></c></b></a>", &l).unwrap_err(),
            XmlError::TooDeep { max: 3 }
        );
        assert_eq!(parse("<a><b/><b><c/></b><b/></a>", &l).map(|_| ()), Ok(()));
        assert_eq!(
            parse("<a x='1' y='2' z='3'/>", &l).unwrap_err(),
            XmlError::TooManyAttributes { max: 2 }
        );
        assert!(parse("<a xmlns:p='u' x='1' y='2'/>", &l).is_ok());
        assert_eq!(
            parse("<a><b/><b/><b/><b/><b/><b/><b/><b/><b/><b/><b/></a>", &l).unwrap_err(),
            XmlError::TooManyNodes { max: 10 }
        );
        assert!(matches!(
            parse("<a><b></a>", &Limits::default()),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            parse("<a>&unknown;</a>", &Limits::default()),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            parse("<p:a/>", &Limits::default()),
            Err(XmlError::Malformed(_))
        ));
    }

    #[test]
    fn deep_documents_are_linear() {
        let depth = 20_000;
        let text = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let l = Limits {
            max_bytes: 1 << 20,
            max_nodes: 100_000,
            ..Limits::default()
        };
        assert_eq!(parse(&text, &l).unwrap_err(), XmlError::TooDeep { max: 64 });
    }

    #[test]
    fn comments_never_truncate_text() {
        let doc = parse(
            "<n>alice@x.com<!---->.evil<![CDATA[.x]]><i>y</i><?pi z?></n>",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(text_of(doc.root_element()), "alice@x.com.evil.xy");
        assert_eq!(doc.root_element().text(), Some("alice@x.com"));
    }

    #[test]
    fn ids() {
        let doc = parse(
            r#"<r ID="a"><x ID="b"/><y Id="c"/></r>"#,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(element_by_id(&doc, "b").unwrap().tag_name().name(), "x");
        assert_eq!(
            element_by_id(&doc, "c").unwrap_err(),
            XmlError::IdNotFound("c".into())
        );
        assert!(check_unique_ids(&doc).is_ok());
        let dup = parse(r#"<r ID="a"><x ID="a"/></r>"#, &Limits::default()).unwrap();
        assert_eq!(
            element_by_id(&dup, "a").unwrap_err(),
            XmlError::DuplicateId("a".into())
        );
        assert_eq!(
            check_unique_ids(&dup).unwrap_err(),
            XmlError::DuplicateId("a".into())
        );
        let mixed = parse(r#"<r ID="a"><x id="a"/></r>"#, &Limits::default()).unwrap();
        assert_eq!(
            element_by_id(&mixed, "a").unwrap_err(),
            XmlError::DuplicateId("a".into())
        );
        let ns = parse(
            r#"<r xmlns:p="u" ID="a"><x p:ID="a"/></r>"#,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(element_by_id(&ns, "a").unwrap().tag_name().name(), "r");
    }
}
