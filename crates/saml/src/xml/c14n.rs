//! Exclusive XML Canonicalization 1.0 (<http://www.w3.org/2001/10/xml-exc-c14n#>, with or
//! without comments) of an element subtree of a roxmltree document, as XML-DSig uses it.
//!
//! The node-set is the element, its attributes and namespace nodes, and all its descendants,
//! minus an optional excluded subtree (the enveloped-signature transform removes `ds:Signature`),
//! minus comments unless `with_comments`.
//!
//! Namespace rendering (W3C exc-c14n §3, matching libxml2):
//! - a namespace declaration is output on an element if its prefix is *visibly utilized* there
//!   (the element's own prefix, or the prefix of one of its attributes; an unprefixed element
//!   utilizes the default namespace) or is listed in the `InclusiveNamespaces` PrefixList
//!   (`#default` = the default namespace) and in scope, and the nearest output ancestor has not
//!   already rendered the same prefix with the same URI;
//! - `xmlns=""` is output when the element utilizes (or includes via `#default`) an empty default
//!   namespace while the nearest rendered default namespace is not empty;
//! - the `xml` prefix is never declared; `xml:*` attributes are not inherited.
//!
//! Prefixes are exactly those of the input: they are read from the source text through the
//! node and attribute positions roxmltree records.

use roxmltree::{Node, NodeId, NodeType};

use crate::xml::writer::{escape_attr, escape_text};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Options for [`canonicalize`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct C14nOptions {
    /// Keep comments (the `#WithComments` variant).
    pub with_comments: bool,
    /// The `InclusiveNamespaces` PrefixList (`#default` for the default namespace).
    pub inclusive_prefixes: Vec<String>,
    /// A subtree to leave out (the enveloped `ds:Signature`).
    pub exclude: Option<NodeId>,
}

/// Canonicalization failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum C14nError {
    /// Only element subtrees can be canonicalized here.
    #[error("canonicalization needs an element node")]
    NotAnElement,
    /// The document was not parsed with node positions, so source prefixes cannot be recovered.
    #[error("cannot recover the source prefix of a name")]
    NoPrefix,
}

/// Exclusive c14n of the subtree rooted at `node` (an element).
pub fn canonicalize(node: Node<'_, '_>, opts: &C14nOptions) -> Result<String, C14nError> {
    let mut out = String::with_capacity(node.range().len() + 256);
    canonicalize_into(node, opts, &mut out)?;
    Ok(out)
}

/// Like [`canonicalize`], appending to `out`.
pub fn canonicalize_into(
    node: Node<'_, '_>,
    opts: &C14nOptions,
    out: &mut String,
) -> Result<(), C14nError> {
    if !node.is_element() {
        return Err(C14nError::NotAnElement);
    }
    let mut c = Canon {
        input: node.document().input_text(),
        out,
        opts,
        inclusive_default: opts
            .inclusive_prefixes
            .iter()
            .any(|p| p == "#default" || p.is_empty()),
        rendered: Vec::new(),
        marks: Vec::new(),
        attrs: Vec::new(),
    };
    c.run(node)
}

struct Canon<'a, 'i, 'o> {
    input: &'i str,
    out: &'o mut String,
    opts: &'a C14nOptions,
    inclusive_default: bool,
    /// (prefix, uri) rendered by output ancestors; prefix "" = default namespace.
    rendered: Vec<(&'a str, &'a str)>,
    /// rendered.len() when each open element started.
    marks: Vec<usize>,
    /// scratch for attribute sorting: (namespace uri, local name, index)
    attrs: Vec<(&'a str, &'a str, usize)>,
}

fn qname_prefix(q: &str) -> &str {
    match q.find(':') {
        Some(i) => &q[..i],
        None => "",
    }
}

impl<'a, 'i: 'a> Canon<'a, 'i, '_> {
    fn run(&mut self, top: Node<'a, 'i>) -> Result<(), C14nError> {
        let mut cur = top;
        loop {
            // Enter `cur`.
            let mut descend = false;
            match cur.node_type() {
                NodeType::Element => {
                    if Some(cur.id()) != self.opts.exclude {
                        self.start_tag(cur)?;
                        if cur.has_children() {
                            descend = true;
                        } else {
                            self.end_tag(cur)?;
                        }
                    }
                }
                NodeType::Text => escape_text(self.out, cur.text().unwrap_or_default()),
                NodeType::Comment => {
                    if self.opts.with_comments {
                        self.out.push_str("<!--");
                        self.out.push_str(cur.text().unwrap_or_default());
                        self.out.push_str("-->");
                    }
                }
                NodeType::PI => {
                    if let Some(pi) = cur.pi() {
                        self.out.push_str("<?");
                        self.out.push_str(pi.target);
                        if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                            self.out.push(' ');
                            self.out.push_str(v);
                        }
                        self.out.push_str("?>");
                    }
                }
                NodeType::Root => return Err(C14nError::NotAnElement),
            }
            if descend && let Some(first) = cur.first_child() {
                cur = first;
                continue;
            }
            // Move to the next node in document order, closing finished elements.
            loop {
                if cur == top {
                    return Ok(());
                }
                if let Some(next) = cur.next_sibling() {
                    cur = next;
                    break;
                }
                match cur.parent() {
                    Some(p) => {
                        cur = p;
                        self.end_tag(cur)?;
                    }
                    None => return Ok(()),
                }
            }
        }
    }

    fn element_qname(&self, n: Node<'a, 'i>) -> Result<&'i str, C14nError> {
        let r = n.range();
        let s = self.input.get(r.start..r.end).ok_or(C14nError::NoPrefix)?;
        let s = s.strip_prefix('<').ok_or(C14nError::NoPrefix)?;
        let end = s
            .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .unwrap_or(s.len());
        let q = &s[..end];
        if !q.ends_with(n.tag_name().name()) {
            return Err(C14nError::NoPrefix);
        }
        Ok(q)
    }

    fn is_rendered(&self, prefix: &str, uri: &str) -> bool {
        match self.rendered.iter().rev().find(|(p, _)| *p == prefix) {
            Some((_, u)) => *u == uri,
            // Nothing rendered: only an empty default namespace counts as "already there".
            None => prefix.is_empty() && uri.is_empty(),
        }
    }

    fn in_scope(n: Node<'a, 'i>, prefix: &str) -> Option<&'a str> {
        let want = if prefix.is_empty() {
            None
        } else {
            Some(prefix)
        };
        n.namespaces()
            .find(|ns| ns.name() == want)
            .map(|ns| ns.uri())
    }

    fn start_tag(&mut self, n: Node<'a, 'i>) -> Result<(), C14nError> {
        let qname = self.element_qname(n)?;
        let eprefix = qname_prefix(qname);
        self.marks.push(self.rendered.len());
        let base = self.rendered.len();

        // Collect the declarations to render, into `pending` (kept on the rendered stack after base).
        let mut pending: Vec<(&'a str, &'a str)> = Vec::new();
        let consider =
            |this: &Self, pending: &mut Vec<(&'a str, &'a str)>, prefix: &'a str, uri: &'a str| {
                if prefix == "xml" || pending.iter().any(|(p, _)| *p == prefix) {
                    return;
                }
                if !this.is_rendered(prefix, uri) {
                    pending.push((prefix, uri));
                }
            };

        // Visibly utilized: the element's prefix (default namespace if none).
        let euri = Self::in_scope(n, eprefix).unwrap_or("");
        consider(self, &mut pending, eprefix, euri);
        // Attribute prefixes.
        for a in n.attributes() {
            if a.namespace().is_some() {
                let q = &self.input[a.range_qname()];
                let p = qname_prefix(q);
                if p.is_empty() || p == "xml" {
                    continue;
                }
                let uri = a.namespace().unwrap_or("");
                consider(self, &mut pending, p, uri);
            }
        }
        // InclusiveNamespaces PrefixList.
        let opts = self.opts;
        for p in &opts.inclusive_prefixes {
            let p: &str = if p == "#default" { "" } else { p.as_str() };
            if p.is_empty() {
                continue;
            }
            if let Some(ns) = n.namespaces().find(|ns| ns.name() == Some(p))
                && ns.uri() != XML_NS
            {
                consider(self, &mut pending, ns.name().unwrap_or(""), ns.uri());
            }
        }
        if self.inclusive_default {
            let uri = n
                .namespaces()
                .find(|ns| ns.name().is_none())
                .map(|ns| ns.uri())
                .unwrap_or("");
            consider(self, &mut pending, "", uri);
        }
        pending.sort_unstable_by(|a, b| a.0.cmp(b.0));

        self.out.push('<');
        self.out.push_str(qname);
        for (p, u) in &pending {
            if p.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(p);
                self.out.push_str("=\"");
            }
            escape_attr(self.out, u);
            self.out.push('"');
        }
        self.rendered.truncate(base);
        self.rendered.extend_from_slice(&pending);

        // Attributes, sorted by (namespace URI, local name); unqualified first.
        let mut attrs = std::mem::take(&mut self.attrs);
        attrs.clear();
        for (i, a) in n.attributes().enumerate() {
            attrs.push((a.namespace().unwrap_or(""), a.name(), i));
        }
        attrs.sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        for &(_, _, i) in &attrs {
            if let Some(a) = n.attributes().nth(i) {
                self.out.push(' ');
                self.out.push_str(&self.input[a.range_qname()]);
                self.out.push_str("=\"");
                escape_attr(self.out, a.value());
                self.out.push('"');
            }
        }
        self.attrs = attrs;
        self.out.push('>');
        Ok(())
    }

    fn end_tag(&mut self, n: Node<'a, 'i>) -> Result<(), C14nError> {
        let qname = self.element_qname(n)?;
        self.out.push_str("</");
        self.out.push_str(qname);
        self.out.push('>');
        if let Some(m) = self.marks.pop() {
            self.rendered.truncate(m);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(xml: &str, path: &[usize], inclusive: &[&str], with_comments: bool) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let mut n = doc.root_element();
        for i in path {
            n = n.children().filter(|c| c.is_element()).nth(*i).unwrap();
        }
        let opts = C14nOptions {
            with_comments,
            inclusive_prefixes: inclusive.iter().map(|s| s.to_string()).collect(),
            exclude: None,
        };
        canonicalize(n, &opts).unwrap()
    }

    #[test]
    fn default_namespace_in_prefix_list() {
        let xml = r#"<r xmlns="urn:a"><p:x xmlns:p="urn:p"><y/></p:x></r>"#;
        assert_eq!(
            c(xml, &[0], &[], false),
            r#"<p:x xmlns:p="urn:p"><y xmlns="urn:a"></y></p:x>"#
        );
        assert_eq!(
            c(xml, &[0], &["#default"], false),
            r#"<p:x xmlns="urn:a" xmlns:p="urn:p"><y></y></p:x>"#
        );
        // an empty default under a rendered non-empty one is undeclared
        let xml = r#"<r xmlns="urn:a"><p:x xmlns:p="urn:p" xmlns=""><y/></p:x></r>"#;
        assert_eq!(
            c(xml, &[], &["#default"], false),
            r#"<r xmlns="urn:a"><p:x xmlns="" xmlns:p="urn:p"><y></y></p:x></r>"#
        );
        assert_eq!(
            c(xml, &[], &[], false),
            r#"<r xmlns="urn:a"><p:x xmlns:p="urn:p"><y xmlns=""></y></p:x></r>"#
        );
        // nothing rendered yet: an empty default needs no undeclaration
        assert_eq!(
            c(xml, &[0], &["#default"], false),
            r#"<p:x xmlns:p="urn:p"><y></y></p:x>"#
        );
    }

    #[test]
    fn namespace_uris_are_escaped_like_attributes() {
        assert_eq!(
            c(
                r#"<p:r xmlns:p="urn:x?a=1&amp;b=&quot;2&quot;&#9;"/>"#,
                &[],
                &[],
                false
            ),
            r#"<p:r xmlns:p="urn:x?a=1&amp;b=&quot;2&quot;&#x9;"></p:r>"#
        );
    }

    #[test]
    fn comments_pis_and_exclusion() {
        let xml = "<r><!--c--><?t d?><s><x/></s>t<?u?></r>";
        let doc = roxmltree::Document::parse(xml).unwrap();
        let root = doc.root_element();
        let s = root.children().find(|n| n.has_tag_name("s")).unwrap();
        let opts = C14nOptions {
            with_comments: true,
            inclusive_prefixes: vec![],
            exclude: Some(s.id()),
        };
        assert_eq!(
            canonicalize(root, &opts).unwrap(),
            "<r><!--c--><?t d?>t<?u?></r>"
        );
        let opts = C14nOptions {
            with_comments: false,
            ..C14nOptions::default()
        };
        assert_eq!(
            canonicalize(root, &opts).unwrap(),
            "<r><?t d?><s><x></x></s>t<?u?></r>"
        );
        assert_eq!(
            canonicalize(doc.root(), &opts),
            Err(C14nError::NotAnElement)
        );
        let text = root.children().find(|n| n.is_text()).unwrap();
        assert_eq!(canonicalize(text, &opts), Err(C14nError::NotAnElement));
    }

    #[test]
    fn excluding_the_apex_yields_nothing() {
        let doc = roxmltree::Document::parse("<r><a/></r>").unwrap();
        let opts = C14nOptions {
            exclude: Some(doc.root_element().id()),
            ..C14nOptions::default()
        };
        assert_eq!(canonicalize(doc.root_element(), &opts).unwrap(), "");
    }

    #[test]
    fn xml_attributes_not_inherited_and_never_declared() {
        let xml = r#"<r xml:lang="en"><s xml:space="preserve" b="1" a="2"/></r>"#;
        assert_eq!(
            c(xml, &[0], &["xml"], false),
            r#"<s a="2" b="1" xml:space="preserve"></s>"#
        );
    }
}
