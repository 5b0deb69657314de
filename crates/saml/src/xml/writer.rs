//! The writer for all outbound XML. Its output is, by construction, already in Exclusive XML
//! Canonicalization 1.0 form (without comments), so we digest and sign exactly the bytes we send,
//! without re-parsing:
//!
//! - namespace declarations are emitted exactly where exclusive c14n renders them: on the element
//!   whose name or attributes use the prefix, unless an output ancestor already declared the same
//!   prefix with the same URI;
//! - namespace declarations come first, sorted by prefix; attributes follow, sorted by namespace
//!   URI then local name (unqualified attributes first);
//! - text escapes `&`, `<`, `>`, CR; attribute values escape `&`, `<`, `"`, TAB, LF, CR;
//! - elements are never self-closed and no whitespace is added between elements;
//! - characters that XML 1.0 forbids (e.g. U+0000) are replaced by U+FFFD.
//!
//! There is no default namespace: an element created with the prefix `""` is in no namespace.
//!
//! Prefixes resolve through bindings registered with [`Element::ns`] on the element or an ancestor,
//! then through the built-in table [`KNOWN_NAMESPACES`].
//!
//! QNames inside content (e.g. `xsi:type="xs:string"`) are not "visibly utilized", so exclusive c14n
//! would drop their declaration. [`Element::declare_for_content`] forces a declaration onto an
//! element; [`crate::dsig::sign_enveloped`] then lists such prefixes in the `InclusiveNamespaces`
//! `PrefixList` of the exc-c14n transform, which keeps the output canonical. Declare such prefixes
//! on the element whose content uses them (e.g. each `saml:AttributeValue`); such a prefix must not be
//! used by any ancestor ([`Element::check_namespaces`], run by the signer, enforces this).
//!
//! Invariant (tested with proptest): for any tree `t`,
//! `c14n::canonicalize(parse(t.to_xml()).root_element(), inclusive = t.content_prefixes()) == t.to_xml()`,
//! and the same for any sub-element inside its parent's document.

use std::borrow::Cow;

/// Namespace URI of SAML 2.0 protocol (`samlp`).
pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// Namespace URI of SAML 2.0 assertions (`saml`).
pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// Namespace URI of SAML 2.0 metadata (`md`).
pub const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// Namespace URI of XML-DSig (`ds`).
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Namespace URI of XML Schema (`xs`).
pub const NS_XS: &str = "http://www.w3.org/2001/XMLSchema";
/// Namespace URI of XML Schema instance (`xsi`).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Namespace URI of exclusive c14n, for `ec:InclusiveNamespaces`.
pub const NS_EC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Namespace URI of XML Encryption (`xenc`).
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// Namespace URI of the metadata UI extension (`mdui`).
pub const NS_MDUI: &str = "urn:oasis:names:tc:SAML:metadata:ui";
/// Namespace URI of the metadata attribute extension (`mdattr`).
pub const NS_MDATTR: &str = "urn:oasis:names:tc:SAML:metadata:attribute";
/// Namespace URI of the metadata algorithm support extension (`alg`).
pub const NS_ALG: &str = "urn:oasis:names:tc:SAML:metadata:algsupport";
/// Namespace URI of the `xml` prefix (never declared).
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Built-in prefix → namespace URI table.
pub const KNOWN_NAMESPACES: &[(&str, &str)] = &[
    ("samlp", NS_SAMLP),
    ("saml", NS_SAML),
    ("md", NS_MD),
    ("ds", NS_DS),
    ("xs", NS_XS),
    ("xsi", NS_XSI),
    ("ec", NS_EC),
    ("xenc", NS_XENC),
    ("mdui", NS_MDUI),
    ("mdattr", NS_MDATTR),
    ("alg", NS_ALG),
];

/// Looks a prefix up in [`KNOWN_NAMESPACES`] (plus `xml`).
pub fn known_namespace(prefix: &str) -> Option<&'static str> {
    if prefix == "xml" {
        return Some(NS_XML);
    }
    KNOWN_NAMESPACES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| *u)
}

/// A child of an element: another element or a text node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (stored unescaped).
    Text(Cow<'static, str>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Attr {
    prefix: Cow<'static, str>,
    local: Cow<'static, str>,
    value: Cow<'static, str>,
}

/// An element of an outbound document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    prefix: Cow<'static, str>,
    local: Cow<'static, str>,
    attrs: Vec<Attr>,
    bindings: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    forced: Vec<Cow<'static, str>>,
    children: Vec<Node>,
}

fn split_qname(name: Cow<'static, str>) -> (Cow<'static, str>, Cow<'static, str>) {
    match name.find(':') {
        None => (Cow::Borrowed(""), name),
        Some(i) => match name {
            Cow::Borrowed(s) => (Cow::Borrowed(&s[..i]), Cow::Borrowed(&s[i + 1..])),
            Cow::Owned(s) => (
                Cow::Owned(s[..i].to_owned()),
                Cow::Owned(s[i + 1..].to_owned()),
            ),
        },
    }
}

impl Element {
    /// A new element `prefix:local` (`prefix` "" = no namespace).
    pub fn new(prefix: &'static str, local: impl Into<Cow<'static, str>>) -> Self {
        Self {
            prefix: Cow::Borrowed(prefix),
            local: local.into(),
            attrs: Vec::new(),
            bindings: Vec::new(),
            forced: Vec::new(),
            children: Vec::new(),
        }
    }

    /// A new element whose prefix is not `'static` (e.g. copied from configuration).
    pub fn with_prefix(
        prefix: impl Into<Cow<'static, str>>,
        local: impl Into<Cow<'static, str>>,
    ) -> Self {
        let mut e = Self::new("", local);
        e.prefix = prefix.into();
        e
    }

    /// Binds `prefix` to `uri` for this element and its descendants (overrides the built-in table).
    /// The declaration is emitted only where exclusive c14n would render it.
    pub fn ns(
        mut self,
        prefix: impl Into<Cow<'static, str>>,
        uri: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.bindings.push((prefix.into(), uri.into()));
        self
    }

    /// Forces the declaration of `prefix` onto this element, for QNames used in content
    /// (`xsi:type="xs:string"` needs `xs`). See the module documentation.
    pub fn declare_for_content(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        let p = prefix.into();
        if !self.forced.contains(&p) {
            self.forced.push(p);
        }
        self
    }

    /// Sets attribute `name` (`"ID"` or `"xsi:type"`), replacing an earlier value of the same name.
    /// `xmlns:p` names register a binding as [`Element::ns`] does.
    pub fn attr(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Sets an attribute only when `value` is `Some`.
    pub fn attr_opt(
        self,
        name: impl Into<Cow<'static, str>>,
        value: Option<impl Into<Cow<'static, str>>>,
    ) -> Self {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// In-place form of [`Element::attr`].
    pub fn set_attr(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) {
        let (prefix, local) = split_qname(name.into());
        let value = value.into();
        if prefix == "xmlns" {
            self.bindings.push((local, value));
            return;
        }
        if prefix.is_empty() && local == "xmlns" {
            // no default namespaces in this writer: ignore
            return;
        }
        if let Some(a) = self
            .attrs
            .iter_mut()
            .find(|a| a.prefix == prefix && a.local == local)
        {
            a.value = value;
        } else {
            self.attrs.push(Attr {
                prefix,
                local,
                value,
            });
        }
    }

    /// Appends a child element.
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Appends a child element only when `child` is `Some`.
    pub fn child_opt(self, child: Option<Element>) -> Self {
        match child {
            Some(c) => self.child(c),
            None => self,
        }
    }

    /// Appends child elements.
    pub fn children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children
            .extend(children.into_iter().map(Node::Element));
        self
    }

    /// Appends a text node.
    pub fn text(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Appends a child element in place.
    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Inserts a child element at `index` (counting all child nodes); clamps to the end.
    pub fn insert(&mut self, index: usize, child: Element) {
        let i = index.min(self.children.len());
        self.children.insert(i, Node::Element(child));
    }

    /// The child nodes, mutable.
    pub fn children_mut(&mut self) -> &mut Vec<Node> {
        &mut self.children
    }

    /// The child nodes.
    pub fn child_nodes(&self) -> &[Node] {
        &self.children
    }

    /// The prefix of the element name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The local name.
    pub fn local_name(&self) -> &str {
        &self.local
    }

    /// The value of attribute `name` (`"ID"`, `"xsi:type"`), if set.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        let (p, l) = match name.find(':') {
            Some(i) => (&name[..i], &name[i + 1..]),
            None => ("", name),
        };
        self.attrs
            .iter()
            .find(|a| a.prefix == p && a.local == l)
            .map(|a| &*a.value)
    }

    /// Prefixes forced with [`Element::declare_for_content`] anywhere in this subtree, sorted.
    /// These form the `InclusiveNamespaces PrefixList` for signing this element.
    pub fn content_prefixes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.collect_forced(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_forced(&self, out: &mut Vec<String>) {
        for f in &self.forced {
            if !out.iter().any(|o| o == f) {
                out.push(f.to_string());
            }
        }
        for c in &self.children {
            if let Node::Element(e) = c {
                e.collect_forced(out);
            }
        }
    }

    /// Checks that every prefix in this subtree resolves to a namespace URI, and that no prefix
    /// forced with [`Element::declare_for_content`] is also used (visibly or forced) by an
    /// ancestor: that would make the element's canonical form depend on its context.
    pub fn check_namespaces(&self) -> Result<(), WriterError> {
        let mut scope: Vec<(&str, &str)> = Vec::new();
        let mut used: Vec<&str> = Vec::new();
        self.check_rec(&mut scope, &mut used)
    }

    fn check_rec<'a>(
        &'a self,
        scope: &mut Vec<(&'a str, &'a str)>,
        used: &mut Vec<&'a str>,
    ) -> Result<(), WriterError> {
        let mark = scope.len();
        let used_mark = used.len();
        for (p, u) in &self.bindings {
            if p.is_empty() || p == "xml" || p == "xmlns" || p.contains(':') || u.is_empty() {
                return Err(WriterError::BadBinding(p.to_string()));
            }
            scope.push((p, u));
        }
        for f in &self.forced {
            if used.contains(&&**f) {
                return Err(WriterError::ForcedPrefixShadowed(f.to_string()));
            }
        }
        let here = std::iter::once(&*self.prefix)
            .chain(self.attrs.iter().map(|a| &*a.prefix))
            .chain(self.forced.iter().map(|f| &**f));
        for p in here {
            if !p.is_empty() && lookup(scope, p).is_none() {
                return Err(WriterError::UnknownPrefix(p.to_string()));
            }
            if !p.is_empty() {
                used.push(p);
            }
        }
        for (i, a) in self.attrs.iter().enumerate() {
            let uri = |x: &Attr| {
                if x.prefix.is_empty() {
                    Some("")
                } else {
                    lookup(scope, &x.prefix)
                }
            };
            if self.attrs[..i]
                .iter()
                .any(|b| b.local == a.local && uri(b) == uri(a))
            {
                return Err(WriterError::DuplicateAttribute(a.local.to_string()));
            }
        }
        for c in &self.children {
            if let Node::Element(e) = c {
                e.check_rec(scope, used)?;
            }
        }
        scope.truncate(mark);
        used.truncate(used_mark);
        Ok(())
    }

    /// Serializes this element as its own document (already exclusive-canonical).
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(self.size_hint());
        self.write_xml(&mut out);
        out
    }

    /// Appends the serialization of this element to `out`.
    pub fn write_xml(&self, out: &mut String) {
        let mut ser = Ser {
            out,
            rendered: Vec::new(),
            scope: Vec::new(),
        };
        ser.element(self);
    }

    fn size_hint(&self) -> usize {
        let mut n = 2 * (self.prefix.len() + self.local.len()) + 6;
        for a in &self.attrs {
            n += a.prefix.len() + a.local.len() + a.value.len() + 5;
        }
        for c in &self.children {
            n += match c {
                Node::Element(e) => e.size_hint(),
                Node::Text(t) => t.len() + 8,
            };
        }
        n + 64
    }
}

/// Errors found by [`Element::check_namespaces`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriterError {
    /// A prefix is used that neither a binding nor the built-in table defines.
    #[error("namespace prefix {0:?} is not bound")]
    UnknownPrefix(String),
    /// A binding with an empty, reserved prefix or an empty URI.
    #[error("invalid namespace binding for prefix {0:?}")]
    BadBinding(String),
    /// Two attributes with the same namespace URI and local name (via two prefixes).
    #[error("attribute {0:?} appears twice under the same namespace")]
    DuplicateAttribute(String),
    /// A prefix forced for content is also used by an ancestor element.
    #[error("prefix {0:?} is declared for content below an element that already uses it")]
    ForcedPrefixShadowed(String),
}

fn lookup<'a>(scope: &[(&'a str, &'a str)], prefix: &str) -> Option<&'a str> {
    scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| *u)
        .or_else(|| known_namespace(prefix))
}

struct Ser<'o, 'a> {
    out: &'o mut String,
    /// (prefix, uri) declarations rendered by output ancestors, innermost last.
    rendered: Vec<(&'a str, &'a str)>,
    /// (prefix, uri) bindings in scope.
    scope: Vec<(&'a str, &'a str)>,
}

impl<'a> Ser<'_, 'a> {
    fn is_rendered(&self, prefix: &str, uri: &str) -> bool {
        self.rendered
            .iter()
            .rev()
            .find(|(p, _)| *p == prefix)
            .is_some_and(|(_, u)| *u == uri)
    }

    fn element(&mut self, e: &'a Element) {
        let scope_mark = self.scope.len();
        let rendered_mark = self.rendered.len();
        for (p, u) in &e.bindings {
            self.scope.push((p, u));
        }
        // Namespace declarations this element renders.
        let mut decls: Vec<(&'a str, &'a str)> = Vec::new();
        let candidates = std::iter::once(&*e.prefix)
            .chain(e.attrs.iter().map(|a| &*a.prefix))
            .chain(e.forced.iter().map(|f| &**f));
        for p in candidates {
            if p.is_empty() || p == "xml" || decls.iter().any(|(d, _)| *d == p) {
                continue;
            }
            let uri = lookup(&self.scope, p).unwrap_or("");
            if !self.is_rendered(p, uri) {
                decls.push((p, uri));
            }
        }
        decls.sort_unstable_by(|a, b| a.0.cmp(b.0));

        self.out.push('<');
        self.qname(&e.prefix, &e.local);
        for (p, u) in &decls {
            self.out.push_str(" xmlns:");
            self.out.push_str(p);
            self.out.push_str("=\"");
            escape_attr(self.out, u);
            self.out.push('"');
        }
        self.rendered.extend_from_slice(&decls);

        match e.attrs.len() {
            0 => {}
            1 => self.attr(&e.attrs[0]),
            _ => {
                let mut keyed: Vec<(&str, &str, &'a Attr)> = e
                    .attrs
                    .iter()
                    .map(|a| {
                        let uri = if a.prefix.is_empty() {
                            ""
                        } else {
                            lookup(&self.scope, &a.prefix).unwrap_or("")
                        };
                        (uri, &*a.local, a)
                    })
                    .collect();
                keyed.sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
                for (_, _, a) in keyed {
                    self.attr(a);
                }
            }
        }
        self.out.push('>');
        for c in &e.children {
            match c {
                Node::Element(child) => self.element(child),
                Node::Text(t) => escape_text(self.out, t),
            }
        }
        self.out.push_str("</");
        self.qname(&e.prefix, &e.local);
        self.out.push('>');
        self.rendered.truncate(rendered_mark);
        self.scope.truncate(scope_mark);
    }

    fn qname(&mut self, prefix: &str, local: &str) {
        if !prefix.is_empty() {
            self.out.push_str(prefix);
            self.out.push(':');
        }
        self.out.push_str(local);
    }

    fn attr(&mut self, a: &Attr) {
        self.out.push(' ');
        self.qname(&a.prefix, &a.local);
        self.out.push_str("=\"");
        escape_attr(self.out, &a.value);
        self.out.push('"');
    }
}

/// Whether `c` may appear in an XML 1.0 document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Escapes text content the exclusive-c14n way (`&`, `<`, `>`, CR) into `out`.
pub fn escape_text(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\r' => "&#xD;",
            c if c < ' ' && c != '\t' && c != '\n' => "\u{FFFD}",
            c if !is_xml_char(c) => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
}

/// Escapes an attribute value the exclusive-c14n way (`&`, `<`, `"`, TAB, LF, CR) into `out`.
pub fn escape_attr(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '"' => "&quot;",
            '\t' => "&#x9;",
            '\n' => "&#xA;",
            '\r' => "&#xD;",
            c if c < ' ' => "\u{FFFD}",
            c if !is_xml_char(c) => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_where_exc_c14n_renders_them() {
        let t = Element::new("samlp", "Response")
            .attr("ID", "_1")
            .attr("Version", "2.0")
            .child(Element::new("saml", "Issuer").text("https://idp"))
            .child(
                Element::new("saml", "Assertion")
                    .child(Element::new("saml", "Issuer").text("x"))
                    .child(
                        Element::new("saml", "AttributeValue")
                            .declare_for_content("xs")
                            .attr("xsi:type", "xs:string")
                            .text("a&b<c>d\r"),
                    ),
            );
        assert_eq!(
            t.to_xml(),
            concat!(
                r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0">"#,
                r#"<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://idp</saml:Issuer>"#,
                r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:Issuer>x</saml:Issuer>"#,
                r#"<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">a&amp;b&lt;c&gt;d&#xD;</saml:AttributeValue>"#,
                r#"</saml:Assertion></samlp:Response>"#
            )
        );
        assert_eq!(t.content_prefixes(), vec!["xs".to_string()]);
        assert!(t.check_namespaces().is_ok());
    }

    #[test]
    fn attributes_sorted_and_escaped() {
        let e = Element::new("", "e")
            .attr("z", "1")
            .attr("xsi:nil", "true")
            .attr("a", "\t\n\r\"<&>")
            .attr("xml:lang", "en")
            .attr("a", "again\t\"");
        assert_eq!(
            e.to_xml(),
            r#"<e xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" a="again&#x9;&quot;" z="1" xsi:nil="true" xml:lang="en"></e>"#
        );
    }

    #[test]
    fn bindings_and_redeclaration() {
        let e = Element::with_prefix("p", "a")
            .ns("p", "urn:one")
            .child(
                Element::with_prefix("p", "b")
                    .ns("p", "urn:two")
                    .child(Element::with_prefix("p", "c")),
            )
            .child(Element::with_prefix("p", "d"));
        assert_eq!(
            e.to_xml(),
            r#"<p:a xmlns:p="urn:one"><p:b xmlns:p="urn:two"><p:c></p:c></p:b><p:d></p:d></p:a>"#
        );
        assert_eq!(
            Element::with_prefix("zz", "a").check_namespaces(),
            Err(WriterError::UnknownPrefix("zz".into()))
        );
        let shadowed = Element::new("saml", "A")
            .attr("xs:x", "1")
            .child(Element::new("saml", "V").declare_for_content("xs"));
        assert_eq!(
            shadowed.check_namespaces(),
            Err(WriterError::ForcedPrefixShadowed("xs".into()))
        );
        let dup = Element::new("saml", "A")
            .ns("p", "urn:x")
            .ns("q", "urn:x")
            .attr("p:a", "1")
            .attr("q:a", "2");
        assert_eq!(
            dup.check_namespaces(),
            Err(WriterError::DuplicateAttribute("a".into()))
        );
        let nested = Element::new("saml", "A")
            .declare_for_content("xs")
            .child(Element::new("saml", "V").declare_for_content("xs"));
        assert_eq!(
            nested.check_namespaces(),
            Err(WriterError::ForcedPrefixShadowed("xs".into()))
        );
        assert_eq!(
            Element::new("saml", "A")
                .ns("a:b", "urn:x")
                .check_namespaces(),
            Err(WriterError::BadBinding("a:b".into()))
        );
    }

    #[test]
    fn invalid_chars_replaced_and_insert() {
        let mut e = Element::new("ds", "X")
            .text("a\u{0}b\u{1}")
            .attr("v", "\u{FFFF}");
        e.insert(0, Element::new("ds", "Y"));
        e.insert(99, Element::new("ds", "Z"));
        assert_eq!(
            e.to_xml(),
            "<ds:X xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" v=\"\u{FFFD}\"><ds:Y></ds:Y>a\u{FFFD}b\u{FFFD}<ds:Z></ds:Z></ds:X>"
        );
        assert_eq!(e.child_nodes().len(), 3);
        assert_eq!(e.attribute("v"), Some("\u{FFFF}"));
    }
}
