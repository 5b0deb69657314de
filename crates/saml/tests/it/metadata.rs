//! Metadata: every real-world fixture parses with the right parser and yields the values read from
//! the files; hostile and malformed documents are refused; our IdP metadata round-trips.

use std::path::Path;

use saml::key::{Certificate, SigningKey};
use saml::metadata::{
    BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, IdpMetadata, MAX_METADATA_BYTES, MetadataError,
    parse_idp_metadata, parse_sp_metadata,
};
use saml::xml::reader::XmlError;
use time::macros::datetime;

use crate::support;

const ARTIFACT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact";

fn read(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    text.strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text)
}

/// Which parser(s) each fixture must satisfy.
const SP_FILES: &[&str] = &[
    "crewjam-sp-middleware.xml",
    "okta-sp-inbound.xml",
    "phpsaml-sp-signed.xml",
    "adfs-idp-sempreser.xml",
    "testshib-federation-providers.xml",
];
const IDP_FILES: &[&str] = &[
    "adfs-idp-sempreser.xml",
    "google-idp-C02dfl1r1.xml",
    "jumpcloud-idp-bitdefender.xml",
    "okta-idp-oktapreview.xml",
    "onelogin-idp-383123.xml",
    "onelogin-idp-486670.xml",
    "onelogin-idp-503983.xml",
    "samling-idp-fujifish.xml",
    "shibboleth-idp-samltest.xml",
    "testshib-federation-providers.xml",
];

#[test]
fn every_fixture_parses_with_the_right_parser() {
    let Some(dir) = support::fixtures("every_fixture_parses_with_the_right_parser") else {
        return;
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        seen += 1;
        let name = path.file_name().unwrap().to_str().unwrap();
        let xml = read(&dir, name);
        let is_sp = SP_FILES.contains(&name);
        let is_idp = IDP_FILES.contains(&name);
        assert!(
            is_sp || is_idp,
            "fixture {name} is not classified in this test"
        );
        let sp = parse_sp_metadata(&xml);
        let idp = parse_idp_metadata(&xml);
        if is_sp {
            let sps = sp.unwrap_or_else(|e| panic!("{name}: SP parse failed: {e}"));
            assert!(
                sps.iter()
                    .all(|s| !s.assertion_consumer_services.is_empty()),
                "{name}"
            );
        } else {
            assert!(
                matches!(sp, Err(MetadataError::NoServiceProvider)),
                "{name}: {sp:?}"
            );
        }
        if is_idp {
            let idps = idp.unwrap_or_else(|e| panic!("{name}: IdP parse failed: {e}"));
            assert!(idps.iter().all(|i| !i.signing_certs.is_empty()), "{name}");
        } else {
            assert!(
                matches!(idp, Err(MetadataError::NoIdentityProvider)),
                "{name}: {idp:?}"
            );
        }
    }
    assert!(seen >= 13, "expected at least 13 fixtures, found {seen}");
}

#[test]
fn crewjam_sp() {
    let Some(dir) = support::fixtures("crewjam_sp") else {
        return;
    };
    let sps = parse_sp_metadata(&read(&dir, "crewjam-sp-middleware.xml")).unwrap();
    assert_eq!(sps.len(), 1);
    let sp = &sps[0];
    assert_eq!(sp.entity_id, "https://15661444.ngrok.io/saml2/metadata");
    assert_eq!(sp.assertion_consumer_services.len(), 2);
    assert_eq!(sp.assertion_consumer_services[1].binding, ARTIFACT);
    let acs = sp.default_acs().unwrap();
    assert_eq!(acs.location, "https://15661444.ngrok.io/saml2/acs");
    assert_eq!(acs.index, 1);
    assert_eq!(acs.binding, BINDING_HTTP_POST);
    assert!(sp.signing_certs.is_empty());
    assert_eq!(sp.encryption_certs.len(), 1);
    // The empty <NameIDFormat></NameIDFormat> is skipped.
    assert!(sp.name_id_formats.is_empty());
    assert!(!sp.authn_requests_signed);
    assert!(sp.want_assertions_signed);
    // The earlier of the two validUntil values (entity: .123, role: .123456789).
    assert_eq!(sp.valid_until, Some(datetime!(2015-12-03 01:57:09.123 UTC)));
    assert_eq!(sp.single_logout_services.len(), 1);
    assert_eq!(
        sp.single_logout_services[0].response_location.as_deref(),
        Some("https://15661444.ngrok.io/saml2/slo")
    );
}

#[test]
fn okta_sp() {
    let Some(dir) = support::fixtures("okta_sp") else {
        return;
    };
    let sp = parse_sp_metadata(&read(&dir, "okta-sp-inbound.xml"))
        .unwrap()
        .remove(0);
    assert_eq!(
        sp.entity_id,
        "https://www.okta.com/saml2/service-provider/spzpimvfyndsqqgdgakx"
    );
    let acs = sp.default_acs().unwrap();
    assert_eq!(
        acs.location,
        "https://dev-599847.oktapreview.com/sso/saml2/0oa9shiqyztury7Qv0h7"
    );
    assert_eq!((acs.index, acs.is_default), (0, Some(true)));
    assert_eq!(sp.signing_certs.len(), 1);
    assert_eq!(sp.encryption_certs.len(), 1);
    assert_eq!(sp.signing_certs[0], sp.encryption_certs[0]);
    assert_eq!(sp.name_id_formats.len(), 4);
    assert_eq!(
        sp.name_id_formats[3],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    );
    assert!(sp.authn_requests_signed);
    assert!(sp.want_assertions_signed);
    assert_eq!(sp.valid_until, None);
}

#[test]
fn phpsaml_signed_sp() {
    let Some(dir) = support::fixtures("phpsaml_signed_sp") else {
        return;
    };
    let sp = parse_sp_metadata(&read(&dir, "phpsaml-sp-signed.xml"))
        .unwrap()
        .remove(0);
    assert_eq!(sp.entity_id, "https://example.com//demo1/metadata.php");
    assert_eq!(
        sp.default_acs().unwrap().location,
        "https://example.com//demo1/index.php?acs"
    );
    // The certificate inside the metadata's own ds:Signature is not an SP key.
    assert_eq!(sp.signing_certs.len(), 1);
    assert_eq!(sp.encryption_certs.len(), 1);
    assert!(sp.authn_requests_signed);
    assert!(!sp.want_assertions_signed);
    assert_eq!(sp.valid_until, Some(datetime!(2015-01-17 11:39:11 UTC)));
    assert_eq!(sp.single_logout_services[0].binding, BINDING_HTTP_REDIRECT);
    assert_eq!(
        sp.single_logout_services[0].location,
        "https://example.com//demo1/index.php?sls"
    );
}

#[test]
fn adfs_has_both_roles_and_ws_fed_descriptors_are_ignored() {
    let Some(dir) = support::fixtures("adfs_has_both_roles_and_ws_fed_descriptors_are_ignored")
    else {
        return;
    };
    let xml = read(&dir, "adfs-idp-sempreser.xml");
    let idp = parse_idp_metadata(&xml).unwrap().remove(0);
    assert_eq!(
        idp.entity_id,
        "http://sts.sempreser.com.br/adfs/services/trust"
    );
    assert_eq!(
        idp.sso_redirect_url(),
        Some("https://sts.sempreser.com.br/adfs/ls/")
    );
    assert_eq!(
        idp.sso_post_url(),
        Some("https://sts.sempreser.com.br/adfs/ls/")
    );
    assert_eq!(idp.signing_certs.len(), 1);
    assert!(!idp.want_authn_requests_signed);
    assert_eq!(idp.name_id_formats.len(), 3);

    let sp = parse_sp_metadata(&xml).unwrap().remove(0);
    assert_eq!(sp.entity_id, idp.entity_id);
    assert_eq!(sp.assertion_consumer_services.len(), 3);
    let acs = sp.default_acs().unwrap();
    assert_eq!(acs.location, "https://sts.sempreser.com.br/adfs/ls/");
    assert_eq!(acs.index, 0);
    assert_eq!(sp.signing_certs.len(), 1);
    assert_eq!(sp.encryption_certs.len(), 1);
    // Separate signing and encryption certificates.
    assert_ne!(sp.signing_certs[0], sp.encryption_certs[0]);
    assert_eq!(idp.signing_certs[0], sp.signing_certs[0]);
    assert!(sp.want_assertions_signed);
}

#[test]
fn testshib_federation_has_one_idp_and_one_sp() {
    let Some(dir) = support::fixtures("testshib_federation_has_one_idp_and_one_sp") else {
        return;
    };
    let xml = read(&dir, "testshib-federation-providers.xml");
    let idps = parse_idp_metadata(&xml).unwrap();
    assert_eq!(idps.len(), 1);
    let idp = &idps[0];
    assert_eq!(idp.entity_id, "https://idp.testshib.org/idp/shibboleth");
    assert_eq!(
        idp.sso_redirect_url(),
        Some("https://idp.testshib.org/idp/profile/SAML2/Redirect/SSO")
    );
    assert_eq!(
        idp.sso_post_url(),
        Some("https://idp.testshib.org/idp/profile/SAML2/POST/SSO")
    );
    assert_eq!(idp.single_sign_on_services.len(), 4);
    // KeyDescriptor without `use` counts as signing; the commented-out old key is not read.
    assert_eq!(idp.signing_certs.len(), 1);

    let sps = parse_sp_metadata(&xml).unwrap();
    assert_eq!(sps.len(), 1);
    let sp = &sps[0];
    assert_eq!(sp.entity_id, "https://sp.testshib.org/shibboleth-sp");
    assert_eq!(sp.assertion_consumer_services.len(), 8);
    let acs = sp.default_acs().unwrap();
    assert_eq!(
        acs.location,
        "https://sp.testshib.org/Shibboleth.sso/SAML2/POST"
    );
    assert_eq!(acs.index, 1);
    assert_eq!(
        sp.acs_by_index(7).unwrap().location,
        "https://www.testshib.org/Shibboleth.sso/SAML2/POST"
    );
    assert!(
        sp.acs_by_location(
            "https://sp.testshib.org/Shibboleth.sso/SAML2/Artifact",
            Some(ARTIFACT)
        )
        .is_some()
    );
    assert!(
        sp.acs_by_location(
            "https://sp.testshib.org/Shibboleth.sso/SAML2/Artifact",
            Some(BINDING_HTTP_POST)
        )
        .is_none()
    );
    assert_eq!(sp.signing_certs.len(), 1);
    assert_eq!(sp.encryption_certs.len(), 1);
    assert_eq!(sp.name_id_formats.len(), 2);
}

/// (file, entity ID, redirect SSO, POST SSO, number of SSO endpoints, signing certs,
/// WantAuthnRequestsSigned)
type IdpCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    usize,
    usize,
    bool,
);

#[test]
fn idp_fixtures_values() {
    let Some(dir) = support::fixtures("idp_fixtures_values") else {
        return;
    };
    let cases: &[IdpCase] = &[
        (
            "google-idp-C02dfl1r1.xml",
            "https://accounts.google.com/o/saml2?idpid=C02dfl1r1",
            None,
            Some("https://accounts.google.com/o/saml2/idp?idpid=C02dfl1r1"),
            2,
            1,
            false,
        ),
        (
            "jumpcloud-idp-bitdefender.xml",
            "https://gravityzone.bitdefender.com/sp/login",
            None,
            Some("https://sso.jumpcloud.com/saml2/bitdefender"),
            1,
            1,
            true,
        ),
        (
            "okta-idp-oktapreview.xml",
            "http://www.okta.com/exkppsa1qwuFV4D7z0h7",
            Some(
                "https://dev-513394.oktapreview.com/app/rstudioincdev513394_dev_1/exkppsa1qwuFV4D7z0h7/sso/saml",
            ),
            Some(
                "https://dev-513394.oktapreview.com/app/rstudioincdev513394_dev_1/exkppsa1qwuFV4D7z0h7/sso/saml",
            ),
            2,
            1,
            false,
        ),
        (
            "onelogin-idp-383123.xml",
            "https://app.onelogin.com/saml/metadata/383123",
            Some("https://app.onelogin.com/trust/saml2/http-post/sso/383123"),
            Some("https://app.onelogin.com/trust/saml2/http-post/sso/383123"),
            3,
            1,
            false,
        ),
        (
            "onelogin-idp-486670.xml",
            "https://app.onelogin.com/saml/metadata/486670",
            Some("https://esaml2.onelogin.com/trust/saml2/http-post/sso/486670"),
            Some("https://esaml2.onelogin.com/trust/saml2/http-post/sso/486670"),
            3,
            1,
            false,
        ),
        (
            "onelogin-idp-503983.xml",
            "https://app.onelogin.com/saml/metadata/503983",
            None,
            Some("https://app.onelogin.com/trust/saml2/http-post/sso/503983"),
            3,
            1,
            false,
        ),
        (
            "samling-idp-fujifish.xml",
            "https://fujifish.github.io/samling/samling.html",
            // The file has a newline inside the Location attribute; it is trimmed.
            Some("https://fujifish.github.io/samling/samling.html"),
            None,
            1,
            1,
            false,
        ),
        (
            "shibboleth-idp-samltest.xml",
            "https://samltest.id/saml/idp",
            Some("https://samltest.id/idp/profile/SAML2/Redirect/SSO"),
            Some("https://samltest.id/idp/profile/SAML2/POST/SSO"),
            5,
            2,
            false,
        ),
    ];
    for &(file, entity_id, redirect, post, n_sso, n_certs, want_signed) in cases {
        let idps = parse_idp_metadata(&read(&dir, file)).unwrap();
        assert_eq!(idps.len(), 1, "{file}");
        let idp = &idps[0];
        assert_eq!(idp.entity_id, entity_id, "{file}");
        assert_eq!(idp.sso_redirect_url(), redirect, "{file}");
        assert_eq!(idp.sso_post_url(), post, "{file}");
        assert_eq!(idp.single_sign_on_services.len(), n_sso, "{file}");
        assert_eq!(idp.signing_certs.len(), n_certs, "{file}");
        assert_eq!(idp.want_authn_requests_signed, want_signed, "{file}");
    }
}

#[test]
fn idp_fixture_details() {
    let Some(dir) = support::fixtures("idp_fixture_details") else {
        return;
    };
    let google = parse_idp_metadata(&read(&dir, "google-idp-C02dfl1r1.xml"))
        .unwrap()
        .remove(0);
    assert_eq!(google.valid_until, Some(datetime!(2021-01-03 16:17:49 UTC)));
    assert_eq!(
        google.name_id_formats,
        vec!["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".to_owned()]
    );
    // Certificate base64 wrapped at 76 columns decodes to the certificate Google issued in 2016.
    assert_eq!(
        google.signing_certs[0].not_after(),
        datetime!(2021-01-03 16:17:49 UTC)
    );

    let okta = parse_idp_metadata(&read(&dir, "okta-idp-oktapreview.xml"))
        .unwrap()
        .remove(0);
    // Whitespace and newlines around NameIDFormat text are trimmed.
    assert_eq!(
        okta.name_id_formats,
        vec![
            "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".to_owned(),
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".to_owned(),
        ]
    );

    let shib = parse_idp_metadata(&read(&dir, "shibboleth-idp-samltest.xml"))
        .unwrap()
        .remove(0);
    assert_eq!(shib.valid_until, Some(datetime!(2100-01-01 00:00:42 UTC)));
    assert_ne!(shib.signing_certs[0], shib.signing_certs[1]);
    assert_eq!(shib.single_logout_services.len(), 3);
}

fn sp_xml(role_attrs: &str, key_descriptor: &str) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp.example.com">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" {role_attrs}>
    {key_descriptor}
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

#[test]
fn hostile_documents_are_refused() {
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol2;"/>"#;
    let xxe = r#"<?xml version="1.0"?>
<!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>"#;
    for doc in [billion_laughs, xxe] {
        assert!(matches!(
            parse_sp_metadata(doc),
            Err(MetadataError::Xml(XmlError::Doctype))
        ));
        assert!(matches!(
            parse_idp_metadata(doc),
            Err(MetadataError::Xml(XmlError::Doctype))
        ));
    }
    let padding = " ".repeat(MAX_METADATA_BYTES);
    let oversized = sp_xml("", "").replace(
        "<md:SPSSODescriptor",
        &format!("{padding}<md:SPSSODescriptor"),
    );
    assert!(matches!(
        parse_sp_metadata(&oversized),
        Err(MetadataError::Xml(XmlError::TooLarge { .. }))
    ));
    assert!(matches!(
        parse_sp_metadata("<md:EntityDescriptor"),
        Err(MetadataError::Xml(_))
    ));
}

#[test]
fn malformed_metadata_is_refused() {
    let not_metadata = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#;
    assert!(matches!(
        parse_sp_metadata(not_metadata),
        Err(MetadataError::NotMetadata { .. })
    ));
    // Right local name, wrong namespace.
    let wrong_ns = r#"<EntityDescriptor xmlns="urn:example" entityID="x"/>"#;
    assert!(matches!(
        parse_idp_metadata(wrong_ns),
        Err(MetadataError::NotMetadata { .. })
    ));

    let no_entity_id = sp_xml("", "").replace(r#" entityID="https://sp.example.com""#, "");
    assert!(matches!(
        parse_sp_metadata(&no_entity_id),
        Err(MetadataError::MissingEntityId)
    ));
    let empty_entity_id = sp_xml("", "").replace("https://sp.example.com\"", "  \"");
    assert!(matches!(
        parse_sp_metadata(&empty_entity_id),
        Err(MetadataError::MissingEntityId)
    ));

    let bad_cert = sp_xml(
        "",
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>MIIB!!notbase64</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
    );
    assert!(matches!(
        parse_sp_metadata(&bad_cert),
        Err(MetadataError::BadCertificate { .. })
    ));
    let not_a_cert = sp_xml(
        "",
        r#"<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>aGVsbG8gd29ybGQ=</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
    );
    assert!(matches!(
        parse_sp_metadata(&not_a_cert),
        Err(MetadataError::BadCertificate { .. })
    ));

    let bad_bool = sp_xml(r#"AuthnRequestsSigned="yes""#, "");
    assert!(matches!(
        parse_sp_metadata(&bad_bool),
        Err(MetadataError::BadBoolean {
            attribute: "AuthnRequestsSigned",
            ..
        })
    ));
    let bad_index = sp_xml("", "").replace(r#"index="0""#, r#"index="-1""#);
    assert!(matches!(
        parse_sp_metadata(&bad_index),
        Err(MetadataError::BadIndex { .. })
    ));
    let no_location = sp_xml("", "").replace(r#"Location="https://sp.example.com/acs""#, "");
    assert!(matches!(
        parse_sp_metadata(&no_location),
        Err(MetadataError::MissingAttribute {
            attribute: "Location",
            ..
        })
    ));
    let bad_valid_until = sp_xml(r#"validUntil="tomorrow""#, "");
    assert!(matches!(
        parse_sp_metadata(&bad_valid_until),
        Err(MetadataError::BadValidUntil(_))
    ));

    // An entity with neither SP nor IdP role.
    let no_role = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://x.example.com">
  <md:Organization><md:OrganizationName xml:lang="en">x</md:OrganizationName></md:Organization></md:EntityDescriptor>"#;
    assert!(matches!(
        parse_sp_metadata(no_role),
        Err(MetadataError::NoServiceProvider)
    ));
    assert!(matches!(
        parse_idp_metadata(no_role),
        Err(MetadataError::NoIdentityProvider)
    ));
    // An SP role that only speaks SAML 1.1 does not count.
    let saml1_only = sp_xml("", "").replace(
        "urn:oasis:names:tc:SAML:2.0:protocol",
        "urn:oasis:names:tc:SAML:1.1:protocol",
    );
    assert!(matches!(
        parse_sp_metadata(&saml1_only),
        Err(MetadataError::NoServiceProvider)
    ));
    // An SP without any ACS.
    let no_acs = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"#;
    assert!(matches!(
        parse_sp_metadata(no_acs),
        Err(MetadataError::NoAssertionConsumerService { .. })
    ));
}

#[test]
fn default_acs_rules() {
    let xml = r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">
  <EntitiesDescriptor validUntil="2030-01-01T00:00:00Z">
    <EntityDescriptor entityID="a" validUntil="2031-01-01T00:00:00Z">
      <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
        <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://a/art" index="0" isDefault="true"/>
        <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://a/post5" index="5"/>
        <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://a/post2" index="2" isDefault="false"/>
        <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://a/post3" index="3"/>
      </SPSSODescriptor>
    </EntityDescriptor>
  </EntitiesDescriptor>
  <EntityDescriptor entityID="b">
    <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
      <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://b/post9" index="9" isDefault="false"/>
      <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://b/post4" index="4" isDefault="1"/>
    </SPSSODescriptor>
  </EntityDescriptor>
  <EntityDescriptor entityID="c">
    <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
      <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://c/post9" index="9" isDefault="false"/>
      <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://c/post8" index="8" isDefault="false"/>
    </SPSSODescriptor>
  </EntityDescriptor>
</EntitiesDescriptor>"#;
    let sps = parse_sp_metadata(xml).unwrap();
    assert_eq!(sps.len(), 3);
    // Nested EntitiesDescriptor: the earliest validUntil on the path wins.
    assert_eq!(sps[0].valid_until, Some(datetime!(2030-01-01 00:00:00 UTC)));
    assert_eq!(sps[1].valid_until, None);
    // Only POST endpoints; isDefault=false ones lose to unmarked ones; lowest index wins.
    assert_eq!(sps[0].default_acs().unwrap().location, "https://a/post3");
    assert_eq!(sps[1].default_acs().unwrap().location, "https://b/post4");
    assert_eq!(sps[2].default_acs().unwrap().location, "https://c/post8");
}

fn test_cert() -> Certificate {
    let key = SigningKey::generate_ecdsa_p256().unwrap();
    Certificate::self_signed(
        &key,
        "Gatehouse IdP",
        datetime!(2026-01-01 00:00:00 UTC),
        datetime!(2036-01-01 00:00:00 UTC),
    )
    .unwrap()
}

fn our_idp_metadata() -> IdpMetadata {
    IdpMetadata {
        entity_id: "https://idaas.example.com/api/v2/app_abc/saml2/meta".into(),
        sso_redirect_url: "https://idaas.example.com/login/app/app_abc/saml2/sso".into(),
        sso_post_url: "https://idaas.example.com/login/app/app_abc/saml2/sso?binding=post&x=1"
            .into(),
        signing_certs: vec![test_cert(), test_cert()],
        name_id_formats: vec![
            "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
        ],
        want_authn_requests_signed: true,
        valid_until: Some(datetime!(2031-02-03 04:05:06 UTC)),
    }
}

#[test]
fn our_idp_metadata_round_trips() {
    let md = our_idp_metadata();
    let xml = md.to_xml();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<md:EntityDescriptor"));
    assert!(xml.contains(r#"validUntil="2031-02-03T04:05:06Z""#));
    assert!(xml.contains(r#"<md:KeyDescriptor use="signing">"#));
    // `&` in the URL is escaped.
    assert!(xml.contains("binding=post&amp;x=1"));
    let parsed = parse_idp_metadata(&xml).unwrap().remove(0);
    assert_eq!(parsed.entity_id, md.entity_id);
    assert_eq!(
        parsed.sso_redirect_url(),
        Some(md.sso_redirect_url.as_str())
    );
    assert_eq!(parsed.sso_post_url(), Some(md.sso_post_url.as_str()));
    assert_eq!(parsed.signing_certs, md.signing_certs);
    assert_eq!(parsed.name_id_formats, md.name_id_formats);
    assert!(parsed.want_authn_requests_signed);
    assert_eq!(parsed.valid_until, md.valid_until);
    // Not an SP.
    assert!(matches!(
        parse_sp_metadata(&xml),
        Err(MetadataError::NoServiceProvider)
    ));
}

/// pysaml2 and python3-saml must read our metadata (other suites test it thoroughly; this is a
/// quick guard that runs when the venv is there).
#[test]
fn our_idp_metadata_is_read_by_python3_saml() {
    let Some(python) = support::python(
        "our_idp_metadata_is_read_by_python3_saml",
        &["onelogin.saml2.idp_metadata_parser"],
    ) else {
        return;
    };
    let script = r#"
import sys
xml = sys.stdin.read()
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser as P
d = P.parse(xml)
idp = d["idp"]
print(idp["entityId"])
print(idp["singleSignOnService"]["url"])
print(len(idp.get("x509certMulti", {}).get("signing", [])) or (1 if idp.get("x509cert") else 0))
"#;
    let md = our_idp_metadata();
    let mut child = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(md.to_xml().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], md.entity_id);
    assert_eq!(lines[1], md.sso_redirect_url);
    assert_eq!(lines[2], "2");
}
