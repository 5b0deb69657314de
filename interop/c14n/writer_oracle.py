#!/usr/bin/env python3
"""Exclusive c14n oracle for documents produced by our XML writer: libxml2 (through lxml).

Batch protocol (one process for the whole batch), used by crates/saml/tests/it/writer_lxml.rs:

stdin, one JSON object (UTF-8):
  {"cases": [{"xml": "<...>", "inclusive": ["xs", ...],
              "subs": [{"path": [0, 2], "inclusive": [...]}, ...]}, ...]}
stdout, one JSON object (ASCII):
  {"results": [{"doc": [without_comments, with_comments],
                "subs": [[without_comments, with_comments], ...]}, ...]}
  or, when libxml2 refuses an input, {"error": "...", "case": index} (exit status 1).

"doc" is the exclusive c14n of the whole document (the ElementTree, not the root element), "subs"
the exclusive c14n of the element at `path` (element-child indices from the root element) inside
that document, as XML-DSig uses it for a signed element. `inclusive` is the InclusiveNamespaces
PrefixList. Inputs are parsed with entity resolution off, as they would be on the wire.
"""
import json
import sys

from lxml import etree


def c14n(target, with_comments, inclusive):
    return etree.tostring(
        target,
        method="c14n",
        exclusive=True,
        with_comments=with_comments,
        inclusive_ns_prefixes=inclusive or None,
    ).decode("utf-8")


def main():
    batch = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    parser = etree.XMLParser(resolve_entities=False, remove_blank_text=False, huge_tree=True)
    results = []
    for index, case in enumerate(batch["cases"]):
        try:
            root = etree.fromstring(case["xml"].encode("utf-8"), parser)
        except etree.XMLSyntaxError as e:
            sys.stdout.write(json.dumps({"error": str(e), "case": index}))
            return 1
        doc = root.getroottree()
        result = {"doc": [c14n(doc, False, case["inclusive"]), c14n(doc, True, case["inclusive"])], "subs": []}
        for sub in case["subs"]:
            el = root
            for i in sub["path"]:
                el = [c for c in el if isinstance(c.tag, str)][i]
            result["subs"].append([c14n(el, False, sub["inclusive"]), c14n(el, True, sub["inclusive"])])
        results.append(result)
    sys.stdout.write(json.dumps({"results": results}, ensure_ascii=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
