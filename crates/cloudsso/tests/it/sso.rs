//! SSO logon settings: every IdP metadata fixture imports; a file with several IdPs asks which;
//! at most two certificates; manual configuration.

use cloudsso::Error;
use cloudsso::audit::Actor;
use cloudsso::directory::BindingType;
use cloudsso::sso_settings::{ManualIdpConfig, SsoSettingsPatch};

use crate::both_backends;
use crate::support::metadata_fixtures;

both_backends!(every_idp_fixture_imports, |env| {
    let Some(dir) = metadata_fixtures() else {
        return;
    };
    let d = env.directory("fixtures").await;
    let s = &env.services;
    let mut imported = 0;
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        if path.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let xml = std::fs::read_to_string(&path).unwrap();
        let has_idp = saml::metadata::parse_idp_metadata(&xml).is_ok_and(|v| !v.is_empty());
        let r = s
            .configure_idp_from_metadata(&Actor::system(), &d.id, &xml, None)
            .await;
        if !has_idp {
            assert!(r.is_err(), "{} has no IdP but imported", path.display());
            continue;
        }
        let info = r.unwrap_or_else(|e| panic!("{} must import: {e}", path.display()));
        assert!(
            info.entity_id.is_some() && info.login_url.is_some(),
            "{}",
            path.display()
        );
        assert!(
            !info.certificates.is_empty() && info.certificates.len() <= 2,
            "{}",
            path.display()
        );
        assert!(info.from_metadata);
        imported += 1;
    }
    assert!(imported >= 10, "imported {imported} IdP files");
});

both_backends!(several_idps_ask_which, |env| {
    let Some(dir) = metadata_fixtures() else {
        return;
    };
    let d = env.directory("several").await;
    let s = &env.services;
    let strip = |name: &str| {
        let xml = std::fs::read_to_string(dir.join(name)).unwrap();
        let xml = xml.trim_start_matches('\u{feff}');
        match xml.find("?>") {
            Some(i) if xml.starts_with("<?xml") => xml[i + 2..].trim().to_owned(),
            _ => xml.trim().to_owned(),
        }
    };
    let combined = format!(
        "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{}{}</md:EntitiesDescriptor>",
        strip("samling-idp-fujifish.xml"),
        strip("okta-idp-oktapreview.xml")
    );
    let r = s
        .configure_idp_from_metadata(&Actor::system(), &d.id, &combined, None)
        .await;
    let Err(Error::ChooseIdentityProvider(choices)) = r else {
        panic!("expected a choice, got {r:?}")
    };
    assert_eq!(choices.len(), 2);
    let info = s
        .configure_idp_from_metadata(&Actor::system(), &d.id, &combined, Some(&choices[1]))
        .await
        .unwrap();
    assert_eq!(info.entity_id.as_deref(), Some(choices[1].as_str()));
    assert!(
        s.configure_idp_from_metadata(&Actor::system(), &d.id, &combined, Some("nope"))
            .await
            .is_err()
    );
});

both_backends!(two_certificates_at_most_and_binding, |env| {
    let d = env.directory("certs").await;
    let s = &env.services;
    let a = Actor::system();
    let (_, c1) = crate::acs::idp_key();
    let (_, c2) = crate::acs::idp_key();
    let (_, c3) = crate::acs::idp_key();
    let r = s
        .configure_idp_manually(
            &a,
            &d.id,
            ManualIdpConfig {
                entity_id: Some("urn:idp".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(r.is_err(), "first manual configuration needs all fields");
    s.configure_idp_manually(
        &a,
        &d.id,
        ManualIdpConfig {
            entity_id: Some("urn:idp".into()),
            login_url: Some("https://idp.example/sso".into()),
            x509_certificate: Some(c1.to_pem()),
        },
    )
    .await
    .unwrap();
    s.add_idp_certificate(&a, &d.id, &c2.to_pem())
        .await
        .unwrap();
    assert!(matches!(
        s.add_idp_certificate(&a, &d.id, &c3.to_pem()).await,
        Err(Error::LimitExceeded(_))
    ));
    assert!(
        s.add_idp_certificate(&a, &d.id, "not a cert")
            .await
            .is_err()
    );
    // Manual configuration with a certificate replaces all.
    let info = s
        .configure_idp_manually(
            &a,
            &d.id,
            ManualIdpConfig {
                x509_certificate: Some(c3.to_pem()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(info.certificates.len(), 1);
    assert_eq!(info.entity_id.as_deref(), Some("urn:idp"));
    let info = s
        .update_sso_settings(
            &a,
            &d.id,
            SsoSettingsPatch {
                binding_type: Some(BindingType::Redirect),
                want_request_signed: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(info.binding_type, BindingType::Redirect);
    assert!(info.want_request_signed);
    assert!(
        s.configure_idp_manually(
            &a,
            &d.id,
            ManualIdpConfig {
                login_url: Some("javascript:x".into()),
                ..Default::default()
            }
        )
        .await
        .is_err()
    );
});
