#!/usr/bin/env python3
"""A SAML 2.0 IdP we did not write: pysaml2's own `saml2.server.Server` (signatures by the xmlsec1 CLI).

Used by crates/cloudsso/tests/it/idp_interop.rs to check that the Cloud SSO SP accepts Responses
from a third-party IdP after its metadata is uploaded. See interop/idp/README.md.

  pysaml2_idp.py metadata --key K --cert C --entity-id E --sso-url U
      prints the IdP metadata (XML) on stdout.

  pysaml2_idp.py respond --key K --cert C --entity-id E --sso-url U
      (--sp-metadata FILE | --sp-entity-id ID --acs-url URL)
      --name-id VALUE [--name-id-format URN]
      [--in-response-to ID | --authn-request VALUE --binding post|redirect]
      [--sign-response]
      prints JSON {"saml_response": base64, "in_response_to": ID or null, "destination", "audience"}.

The assertion is always signed (RSA-SHA256, SHA-256 digests); --sign-response signs the Response too.
With --authn-request the library parses the SP's AuthnRequest (the SAMLRequest form or query
value, URL-decoded; the IdP does not require signed requests, so a detached Redirect signature is
not passed) and answers it: InResponseTo is the request's ID and the Response goes to the request's ACS URL
(which pysaml2 checks against the SP metadata). Exit code 0 on success, 2 on any error (reason on stderr).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig, SPConfig  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_UNSPECIFIED, NameID  # noqa: E402
from saml2.server import Server  # noqa: E402

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def xmlsec_binary() -> str:
    path = shutil.which("xmlsec1")
    if not path:
        raise RuntimeError("xmlsec1 not on PATH (pysaml2 signs with it)")
    return path


def sp_metadata_text(entity_id: str, acs_url: str) -> str:
    """SP metadata made by pysaml2 for an SP known only by entity ID and ACS URL."""
    conf = SPConfig()
    conf.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": xmlsec_binary(),
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
                    "want_assertions_signed": True,
                }
            },
        }
    )
    return create_metadata_string(None, config=conf).decode("utf-8")


def idp_server(args, sp_metadata_files: list[str]) -> Server:
    conf = IdPConfig()
    conf.load(
        {
            "entityid": args.entity_id,
            "xmlsec_binary": xmlsec_binary(),
            "key_file": args.key,
            "cert_file": args.cert,
            "signing_algorithm": RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "metadata": {"local": sp_metadata_files},
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            (args.sso_url, BINDING_HTTP_REDIRECT),
                            (args.sso_url, BINDING_HTTP_POST),
                        ]
                    },
                    "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
                    "want_authn_requests_signed": False,
                    "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
                }
            },
        }
    )
    return Server(config=conf)


def cmd_metadata(args) -> None:
    server = idp_server(args, [])
    sys.stdout.write(create_metadata_string(None, config=server.config).decode("utf-8"))


def cmd_respond(args, tmp: str) -> None:
    if args.sp_metadata:
        sp_md = args.sp_metadata
    else:
        if not (args.sp_entity_id and args.acs_url):
            raise RuntimeError("--sp-metadata or both --sp-entity-id and --acs-url are required")
        sp_md = os.path.join(tmp, "sp.xml")
        with open(sp_md, "w", encoding="utf-8") as fh:
            fh.write(sp_metadata_text(args.sp_entity_id, args.acs_url))
    server = idp_server(args, [sp_md])

    if args.authn_request:
        binding = BINDING_HTTP_REDIRECT if args.binding == "redirect" else BINDING_HTTP_POST
        req = server.parse_authn_request(args.authn_request, binding)
        resp_args = server.response_args(req.message, [BINDING_HTTP_POST])
        in_response_to = resp_args["in_response_to"]
        destination = resp_args["destination"]
        sp_entity_id = resp_args["sp_entity_id"]
        if args.sp_entity_id and args.sp_entity_id != sp_entity_id:
            raise RuntimeError(f"AuthnRequest Issuer {sp_entity_id!r} is not --sp-entity-id {args.sp_entity_id!r}")
    else:
        in_response_to = args.in_response_to
        sp_entity_id = args.sp_entity_id or next(iter(server.metadata.keys()))
        destination = args.acs_url or server.metadata.assertion_consumer_service(sp_entity_id, BINDING_HTTP_POST)[0][
            "location"
        ]

    xml = server.create_authn_response(
        identity={"mail": [args.name_id]},
        in_response_to=in_response_to,
        destination=destination,
        sp_entity_id=sp_entity_id,
        name_id=NameID(format=args.name_id_format, text=args.name_id),
        authn={"class_ref": PPT, "authn_auth": args.entity_id},
        sign_response=args.sign_response,
        sign_assertion=True,
        sign_alg=RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    json.dump(
        {
            "saml_response": base64.b64encode(str(xml).encode("utf-8")).decode("ascii"),
            "in_response_to": in_response_to,
            "destination": destination,
            "audience": sp_entity_id,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("metadata", "respond"):
        s = sub.add_parser(name)
        s.add_argument("--key", required=True, help="IdP signing key (PEM)")
        s.add_argument("--cert", required=True, help="IdP certificate (PEM)")
        s.add_argument("--entity-id", required=True, help="IdP entity ID")
        s.add_argument("--sso-url", required=True, help="IdP SSO URL (both bindings)")
        if name == "respond":
            s.add_argument("--sp-metadata", help="the SP's metadata file")
            s.add_argument("--sp-entity-id", help="audience (an SP known without metadata)")
            s.add_argument("--acs-url", help="Destination/Recipient (with --sp-entity-id)")
            s.add_argument("--name-id", required=True)
            s.add_argument("--name-id-format", default=NAMEID_FORMAT_UNSPECIFIED)
            s.add_argument("--in-response-to", help="answer this request ID (default: unsolicited)")
            s.add_argument("--authn-request", help="the SAMLRequest value to parse and answer")
            s.add_argument("--binding", choices=("post", "redirect"), default="post")
            s.add_argument("--sign-response", action="store_true", help="sign the Response as well")
    return p


def main() -> int:
    args = parser().parse_args()
    tmp = tempfile.mkdtemp(prefix="pysaml2-idp-")
    try:
        if args.command == "metadata":
            cmd_metadata(args)
        else:
            cmd_respond(args, tmp)
        return 0
    except Exception as err:  # the harness failed: the test treats exit 2 as a failure
        print(f"pysaml2_idp: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
