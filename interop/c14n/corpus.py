#!/usr/bin/env python3
"""Generate a deterministic corpus of exclusive-c14n cases with libxml2 (through lxml) as the oracle.

Usage: corpus.py OUT.json [COUNT]

Each case: {"name", "input", "path", "inclusive", "without_comments", "with_comments"} where
`path` is the list of element-child indices from the root element to the element to
canonicalize, `inclusive` the InclusiveNamespaces PrefixList (list, possibly empty), and the two
outputs are lxml's `etree.tostring(el, method="c14n", exclusive=True, with_comments=...,
inclusive_ns_prefixes=...)`: the exclusive c14n of that element's subtree, as XML-DSig uses it.
For the root element a deep copy is canonicalized, so that comments and PIs outside the document
element (which belong to the document, not to the element) are left out, as for nested elements.

Two deliberate gaps, because the oracle cannot speak to them (covered by unit tests in
crates/saml/src/xml/c14n.rs against the W3C text instead):
- lxml silently drops "#default" from inclusive_ns_prefixes (it keeps only prefixes interned in the
  document's dictionary), so "#default" never reaches libxml2: no random case uses it.
- libxml2 writes namespace URIs without escaping (`xmlns:a="?x=1&y=2"`, not well-formed), while
  the W3C text processes namespace nodes as attributes (escaped); no URI here contains & < " or
  whitespace characters.
"""
import copy
import json
import random
import sys

from lxml import etree

URIS = [
    "urn:oasis:names:tc:SAML:2.0:assertion",
    "urn:oasis:names:tc:SAML:2.0:protocol",
    "http://www.w3.org/2000/09/xmldsig#",
    "http://example.com/a",
    "http://example.com/b?x=1;y=2",
    "urn:x-test:c",
]
PREFIXES = ["a", "b", "c", "saml", "samlp", "ds", "ns1", "z"]
LOCALS = ["Response", "Assertion", "e", "f", "Item", "x", "NameID", "Attribute", "v"]
ATTR_LOCALS = ["ID", "id", "a", "b", "Name", "z", "Version", "attr", "q"]
TEXTS = [
    "plain",
    "alice@example.com",
    "a &amp; b",
    "&lt;tag&gt;",
    "x &gt; y",
    "line1\nline2",
    "crlf\r\nend",
    "cr&#13;ref",
    "tab\tchar",
    "&#x9;&#xA;&#xD;",
    "quote \" and '",
    "\u00e9\u00e8 \u4e2d\u6587 \U0001F600",
    "  spaced  ",
    "&#60;&#x3E;&#38;",
    "]]&gt;",
    "",
]
ATTR_VALUES = [
    "v",
    "",
    "a&amp;b",
    "&lt;&gt;",
    "&quot;quoted&quot;",
    "it's",
    "tab\there",
    "nl\nhere",
    "crlf\r\nhere",
    "&#9;&#10;&#13;",
    "&#x9;x&#xA;y&#xD;",
    "  lead and trail  ",
    "\u00fcnic\u00f6de",
    ">",
    "#_abc123",
]


def esc_attr_literal(v):
    # values above are already escaped XML fragments except for raw quotes; use double quotes
    return v.replace('"', "&quot;") if "&quot;" not in v else v


class Gen:
    def __init__(self, rng):
        self.rng = rng

    def element(self, depth, scope, max_depth):
        """Return XML text of a random element. scope: dict prefix-> uri ('' = default)."""
        r = self.rng
        scope = dict(scope)
        decls = []
        # namespace declarations: new, redeclared, unused, default, undeclared default
        for _ in range(r.choice([0, 0, 1, 1, 2, 3])):
            kind = r.random()
            if kind < 0.15:
                if scope.get("", "") != "" or r.random() < 0.3:
                    decls.append(("", ""))
                    scope[""] = ""
            elif kind < 0.35:
                u = r.choice(URIS)
                decls.append(("", u))
                scope[""] = u
            else:
                p = r.choice(PREFIXES)
                u = r.choice(URIS)
                decls.append((p, u))
                scope[p] = u
        # dedupe declarations by prefix (keep last)
        seen = {}
        for p, u in decls:
            seen[p] = u
        decls = list(seen.items())
        r.shuffle(decls)
        prefixed = [p for p in scope if p]
        if prefixed and r.random() < 0.6:
            prefix = r.choice(prefixed)
        else:
            prefix = ""
        name = (prefix + ":" if prefix else "") + r.choice(LOCALS)
        attrs = []
        used = set()
        for _ in range(r.choice([0, 0, 1, 2, 3, 4])):
            if prefixed and r.random() < 0.4:
                p = r.choice(prefixed)
                local = r.choice(ATTR_LOCALS)
                key = (scope[p], local)
                qn = p + ":" + local
            elif r.random() < 0.1:
                local = r.choice(["lang", "space"])
                key = ("xml", local)
                qn = "xml:" + local
            else:
                local = r.choice(ATTR_LOCALS)
                key = ("", local)
                qn = local
            if key in used:
                continue
            used.add(key)
            val = r.choice(ATTR_VALUES)
            if qn == "xml:space":
                val = r.choice(["preserve", "default"])
            q = r.choice(['"', "'"])
            if q == "'" and "'" in val:
                q = '"'
            if q == '"':
                val = val.replace('"', "&quot;")
            attrs.append(qn + "=" + q + val + q)
        items = []
        for p, u in decls:
            items.append(("xmlns:" + p if p else "xmlns") + '="' + u.replace("&", "&amp;") + '"')
        items += attrs
        r.shuffle(items)
        ws = r.choice([" ", " ", "\n  ", "\t", " \r\n "])
        start = "<" + name + "".join(ws + it for it in items)
        children = []
        if depth < max_depth:
            for _ in range(r.choice([0, 1, 1, 2, 3, 4])):
                k = r.random()
                if k < 0.45:
                    children.append(self.element(depth + 1, scope, max_depth))
                elif k < 0.7:
                    children.append(r.choice(TEXTS))
                elif k < 0.8:
                    children.append("<!--" + r.choice([" c ", "", "x-y", " <&> ", "\n"]) + "-->")
                elif k < 0.87:
                    children.append(r.choice(["<?pi?>", "<?pi data?>", "<?target  spaced data ?>", "<?x a=\"1\"?>"]))
                elif k < 0.95:
                    children.append("<![CDATA[" + r.choice(["<raw> & ]] >", "", "a\r\nb", "&amp;"]) + "]]>")
                else:
                    children.append(r.choice(["\n", "\n    ", "\t", " "]))
        if not children and r.random() < 0.5:
            return start + (" " if r.random() < 0.3 else "") + "/>"
        return start + ">" + "".join(children) + "</" + name + ">"

    def document(self, i):
        r = self.rng
        max_depth = r.choice([2, 3, 4, 5]) if i % 25 else r.choice([20, 40])
        body = self.element(1, {}, max_depth)
        if i % 25 == 0:
            # deep chain
            depth = r.choice([20, 40, 60])
            body = "".join("<d%d>" % k for k in range(depth)) + body + "".join("</d%d>" % k for k in reversed(range(depth)))
        pre = ""
        post = ""
        if r.random() < 0.3:
            pre = '<?xml version="1.0" encoding="UTF-8"?>\n'
        if r.random() < 0.3:
            pre += "<!-- outside before -->\n<?pi outside?>\n"
        if r.random() < 0.2:
            post = "\n<!-- outside after -->"
        return pre + body + post


def element_paths(root):
    out = []

    def walk(el, path):
        out.append((path, el))
        kids = [c for c in el if isinstance(c.tag, str)]
        for i, c in enumerate(kids):
            walk(c, path + [i])

    walk(root, [])
    return out


def c14n(el, is_root, with_comments, inclusive):
    target = copy.deepcopy(el) if is_root else el
    return etree.tostring(
        target,
        method="c14n",
        exclusive=True,
        with_comments=with_comments,
        inclusive_ns_prefixes=inclusive or None,
    ).decode("utf-8")


HANDWRITTEN = [
    # W3C exc-c14n spec §2.2 example
    ('<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>', [0], []),
    ('<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>', [0], []),
    ('<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>', [0], ["n2", "n3"]),
    # SAML-like with xsi:type content QName and InclusiveNamespaces xs
    ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_r" Version="2.0"><saml:Issuer>idp</saml:Issuer><saml:Assertion ID="_a"><saml:Subject><saml:NameID>alice@example.com<!---->.evil.com</saml:NameID></saml:Subject><saml:AttributeStatement><saml:Attribute Name="mail"><saml:AttributeValue xsi:type="xs:string">a@b</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>', [1], ["xs"]),
    ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_r" Version="2.0"><saml:Issuer>idp</saml:Issuer><saml:Assertion ID="_a"><saml:Subject><saml:NameID>alice@example.com<!---->.evil.com</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>', [1], []),
    # default namespace undeclaration
    ('<r xmlns="http://example.com/a"><x xmlns=""><y/></x><z/></r>', [0], []),
    ('<r xmlns="http://example.com/a"><x xmlns=""><y/></x><z/></r>', [], []),
    ('<r xmlns="http://example.com/a"><p:x xmlns:p="urn:x-test:c"><y xmlns=""/></p:x></r>', [0], []),
    ('<r xmlns="http://example.com/a"><p:x xmlns:p="urn:x-test:c"><p:y xmlns=""/></p:x></r>', [], []),
    # attribute sorting: namespace URI then local name, unqualified first
    ('<r xmlns:b="http://example.com/a" xmlns:a="http://example.com/b?x=1;y=2" b:z="1" a:a="2" z="3" a="4" b:a="5" xml:lang="de"/>', [], []),
    # prefix bound to same URI twice
    ('<r xmlns:a="urn:x-test:c" xmlns:b="urn:x-test:c"><a:x b:y="1"/></r>', [0], []),
    # redeclaration with same value deeper
    ('<a:r xmlns:a="urn:x-test:c"><a:x xmlns:a="urn:x-test:c"><a:y xmlns:a="http://example.com/a"><a:z xmlns:a="urn:x-test:c"/></a:y></a:x></a:r>', [], []),
    # whitespace and line endings
    ('<r>\r\n  <x a="\r\n\t"> \r </x>\r\n</r>', [], []),
]


def main():
    out_path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rng = random.Random(20261129)
    gen = Gen(rng)
    parser = etree.XMLParser(resolve_entities=False, remove_blank_text=False, strip_cdata=True)
    cases = []

    def add(name, text, path, inclusive):
        root = etree.fromstring(text.encode("utf-8"), parser)
        el = root
        for i in path:
            el = [c for c in el if isinstance(c.tag, str)][i]
        cases.append(
            {
                "name": name,
                "input": text,
                "path": path,
                "inclusive": inclusive,
                "without_comments": c14n(el, el is root, False, inclusive),
                "with_comments": c14n(el, el is root, True, inclusive),
            }
        )

    for k, (text, path, inc) in enumerate(HANDWRITTEN):
        add("hand-%d" % k, text, path, inc)
    i = 0
    attempts = 0
    while i < count:
        attempts += 1
        text = gen.document(i)
        try:
            root = etree.fromstring(text.encode("utf-8"), parser)
        except etree.XMLSyntaxError:
            continue  # e.g. duplicate expanded attribute names after redeclaration
        paths = element_paths(root)
        path, _ = rng.choice(paths) if rng.random() < 0.7 else paths[0]
        inc = []
        if rng.random() < 0.3:
            inc = sorted(set(rng.sample(PREFIXES, rng.choice([1, 2, 3]))))
        try:
            add("gen-%d" % i, text, path, inc)
        except etree.C14NError:
            continue
        i += 1
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"generator": "interop/c14n/corpus.py", "lxml": etree.LXML_VERSION, "libxml2": etree.LIBXML_VERSION, "cases": cases}, f, ensure_ascii=False, indent=0)
    print("wrote %d cases (%d attempts) to %s" % (len(cases), attempts, out_path))


if __name__ == "__main__":
    main()
