//! The application marketplace: pre-integrated templates (products.md §1.2, §1.6; seed guide Step 1).
//!
//! A template is a preset [`SamlConfig`] plus a simplified form: which fields the admin fills in and
//! what they are called there ("CloudSSO ACS URL" rather than "ACS URL"). Converting a template app to
//! the standard SAML template ([`crate::application::SourceType::Standard`]) keeps the configuration
//! and unlocks every field; the template's smart configuration is then no longer offered.

use serde::Serialize;

use crate::application::{
    AccountField, AccountMapping, AttributeStatement, NameIdFormat, SamlConfig, SignatureAlgorithm,
};
use crate::attribute_expr::AttributeExpr;

/// Template id of "Alibaba Cloud - Cloud SSO".
pub const CLOUD_SSO: &str = "apt_cloudsso_saml";
/// Template id of "Alibaba Cloud - RAM role SSO".
pub const RAM_ROLE: &str = "apt_ramrole_saml";
/// Template id of "AWS IAM Identity Center".
pub const AWS_IAM_IDENTITY_CENTER: &str = "apt_awsiic_saml";
/// Template id of the standard "SAML 2.0" application.
pub const SAML2_STANDARD: &str = "apt_saml2_standard";

/// RAM role SSO: the role attribute name.
pub const RAM_ROLE_ATTRIBUTE: &str = "https://www.aliyun.com/SAML-Role/Attributes/Role";
/// RAM role SSO: the role session name attribute name.
pub const RAM_ROLE_SESSION_NAME_ATTRIBUTE: &str =
    "https://www.aliyun.com/SAML-Role/Attributes/RoleSessionName";

/// Marketplace tab a template appears on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Pre-integrated applications.
    Marketplace,
    /// Standard protocols.
    StandardProtocol,
}

/// A field shown on a template app's Single Sign-On tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormField {
    /// [`SamlConfig::acs_url`].
    AcsUrl,
    /// [`SamlConfig::sp_entity_id`].
    SpEntityId,
    /// [`SamlConfig::application_account`].
    ApplicationAccount,
    /// [`SamlConfig::name_id_format`].
    NameIdFormat,
    /// [`SamlConfig::default_relay_state`].
    DefaultRelayState,
    /// [`SamlConfig::attribute_statements`].
    AttributeStatements,
}

/// A field with its label on the template's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TemplateField {
    /// Which configuration field.
    pub field: FormField,
    /// Label on the form.
    pub label: &'static str,
    /// Short help text.
    pub help: &'static str,
}

/// A marketplace template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Template {
    /// Template id (`apt_…`).
    pub id: &'static str,
    /// Display name (what admins search for).
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Marketplace tab.
    pub category: Category,
    /// Always `saml2` for now.
    pub protocol: &'static str,
    /// Whether the template offers smart configuration (until converted to standard).
    pub smart_config: bool,
    /// Fields of the simplified form (empty: the full standard form).
    pub fields: &'static [TemplateField],
    /// Extra search words.
    #[serde(skip)]
    pub keywords: &'static [&'static str],
}

const CLOUD_SSO_FIELDS: &[TemplateField] = &[
    TemplateField {
        field: FormField::AcsUrl,
        label: "CloudSSO ACS URL",
        help: "The ACS URL shown in Cloud SSO under Settings > SSO Logon.",
    },
    TemplateField {
        field: FormField::SpEntityId,
        label: "CloudSSO Entity ID",
        help: "The Entity ID shown in Cloud SSO under Settings > SSO Logon.",
    },
    TemplateField {
        field: FormField::ApplicationAccount,
        label: "Application Username",
        help: "By default the IDaaS account name; it must match the Cloud SSO user name.",
    },
];

const RAM_ROLE_FIELDS: &[TemplateField] = &[
    TemplateField {
        field: FormField::AcsUrl,
        label: "ACS URL",
        help: "Alibaba Cloud sign-in endpoint for role-based SSO.",
    },
    TemplateField {
        field: FormField::SpEntityId,
        label: "Entity ID",
        help: "urn:alibaba:cloudcomputing for the Alibaba Cloud sign-in endpoint.",
    },
    TemplateField {
        field: FormField::DefaultRelayState,
        label: "Default RelayState",
        help: "Console page opened after sign-in, e.g. https://home.console.aliyun.com.",
    },
    TemplateField {
        field: FormField::AttributeStatements,
        label: "Role attributes",
        help: "Role = acs:ram::<account>:role/<role>,acs:ram::<account>:saml-provider/<provider>; RoleSessionName.",
    },
];

const AWS_FIELDS: &[TemplateField] = &[
    TemplateField {
        field: FormField::AcsUrl,
        label: "IAM Identity Center ACS URL",
        help: "From IAM Identity Center > Settings > Identity source > Service provider metadata.",
    },
    TemplateField {
        field: FormField::SpEntityId,
        label: "IAM Identity Center issuer URL",
        help: "From the same page; IAM Identity Center requires the e-mail address as NameID.",
    },
    TemplateField {
        field: FormField::ApplicationAccount,
        label: "Application Username",
        help: "IAM Identity Center matches users by e-mail address.",
    },
];

/// Every template, in display order.
pub fn templates() -> &'static [Template] {
    const ALL: &[Template] = &[
        Template {
            id: CLOUD_SSO,
            name: "Alibaba Cloud - Cloud SSO",
            description: "Single sign-on to Alibaba Cloud Cloud SSO (CloudSSO) user portal and member accounts.",
            category: Category::Marketplace,
            protocol: "saml2",
            smart_config: true,
            fields: CLOUD_SSO_FIELDS,
            keywords: &[
                "cloudsso",
                "cloud sso",
                "alibaba",
                "aliyun",
                "resource directory",
            ],
        },
        Template {
            id: RAM_ROLE,
            name: "Alibaba Cloud - RAM role SSO",
            description: "Role-based SAML SSO into an Alibaba Cloud account's RAM roles.",
            category: Category::Marketplace,
            protocol: "saml2",
            smart_config: false,
            fields: RAM_ROLE_FIELDS,
            keywords: &["ram", "role", "alibaba", "aliyun"],
        },
        Template {
            id: AWS_IAM_IDENTITY_CENTER,
            name: "AWS IAM Identity Center",
            description: "External identity provider for AWS IAM Identity Center (successor to AWS SSO).",
            category: Category::Marketplace,
            protocol: "saml2",
            smart_config: false,
            fields: AWS_FIELDS,
            keywords: &["aws", "amazon", "sso", "identity center"],
        },
        Template {
            id: SAML2_STANDARD,
            name: "SAML 2.0",
            description: "Any service provider that speaks SAML 2.0.",
            category: Category::StandardProtocol,
            protocol: "saml2",
            smart_config: false,
            fields: &[],
            keywords: &["saml", "saml2", "standard"],
        },
    ];
    ALL
}

/// Finds a template by id.
pub fn find(id: &str) -> Option<&'static Template> {
    templates().iter().find(|t| t.id == id)
}

/// Templates matching `query` (case-insensitive; all when blank), best match first: the exact name,
/// then names containing the whole query, then templates whose name, id or keywords contain every word.
pub fn search(query: &str) -> Vec<&'static Template> {
    let phrase = query.trim().to_lowercase();
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let mut hits: Vec<(u8, usize, &'static Template)> = templates()
        .iter()
        .enumerate()
        .filter_map(|(order, t)| {
            let name = t.name.to_lowercase();
            let hay = format!("{name} {} {}", t.id, t.keywords.join(" ")).to_lowercase();
            let rank = if name == phrase {
                0
            } else if name.contains(&phrase) {
                1
            } else if words.iter().all(|w| hay.contains(w)) {
                2
            } else {
                return None;
            };
            Some((rank, order, t))
        })
        .collect();
    hits.sort_by_key(|(rank, order, _)| (*rank, *order));
    hits.into_iter().map(|(_, _, t)| t).collect()
}

fn expr(text: &str) -> AttributeExpr {
    // The template expressions are constants of this file, covered by the tests below.
    AttributeExpr::parse(text)
        .unwrap_or_else(|_| unreachable!("template expression {text} is valid"))
}

impl Template {
    /// The initial SAML configuration of an app created from this template.
    pub fn default_config(&self) -> SamlConfig {
        let base = SamlConfig::default();
        match self.id {
            CLOUD_SSO => SamlConfig {
                name_id_format: NameIdFormat::Unspecified,
                application_account: AccountMapping::IdaasAccount {
                    field: AccountField::Username,
                },
                // Cloud SSO user names are case-insensitive and synced in lower case (products.md §1.7).
                name_id_lowercase: true,
                assertion_signed: true,
                response_signed: true,
                signature_algorithm: SignatureAlgorithm::RsaSha256,
                ..base
            },
            RAM_ROLE => SamlConfig {
                sp_entity_id: Some("urn:alibaba:cloudcomputing".into()),
                acs_url: Some("https://signin.aliyun.com/saml-role/sso".into()),
                default_relay_state: Some("https://home.console.aliyun.com".into()),
                name_id_lowercase: true,
                attribute_statements: vec![
                    AttributeStatement {
                        name: RAM_ROLE_ATTRIBUTE.into(),
                        value_expression: expr(
                            "\"acs:ram::<account-id>:role/<role-name>,acs:ram::<account-id>:saml-provider/<provider-name>\"",
                        ),
                    },
                    AttributeStatement {
                        name: RAM_ROLE_SESSION_NAME_ATTRIBUTE.into(),
                        value_expression: expr("user.username"),
                    },
                ],
                ..base
            },
            AWS_IAM_IDENTITY_CENTER => SamlConfig {
                name_id_format: NameIdFormat::EmailAddress,
                application_account: AccountMapping::IdaasAccount {
                    field: AccountField::Email,
                },
                ..base
            },
            _ => base,
        }
    }

    /// Whether the form shows `field` (standard apps show everything).
    pub fn shows(&self, field: FormField) -> bool {
        self.fields.is_empty() || self.fields.iter().any(|f| f.field == field)
    }

    /// The label of `field` on this template's form.
    pub fn label(&self, field: FormField) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|f| f.field == field)
            .map(|f| f.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_config_is_valid() {
        for t in templates() {
            t.default_config()
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", t.id));
        }
    }

    #[test]
    fn search_by_name() {
        let hits = search("Alibaba Cloud - Cloud SSO");
        assert_eq!(hits[0].id, CLOUD_SSO);
        assert_eq!(search("alibaba cloud - cloud sso")[0].id, CLOUD_SSO);
        assert_eq!(
            search("Cloud SSO").len(),
            2,
            "RAM role SSO also mentions cloud and SSO"
        );
        assert_eq!(search("cloudsso")[0].id, CLOUD_SSO);
        assert_eq!(search("RAM role")[0].id, RAM_ROLE);
        assert_eq!(search("aws")[0].id, AWS_IAM_IDENTITY_CENTER);
        assert_eq!(search("").len(), 4);
        assert!(search("no such app").is_empty());
        assert_eq!(search("saml 2.0")[0].id, SAML2_STANDARD);
    }

    #[test]
    fn cloud_sso_form() {
        let t = find(CLOUD_SSO).unwrap();
        assert_eq!(t.label(FormField::AcsUrl), Some("CloudSSO ACS URL"));
        assert_eq!(t.label(FormField::SpEntityId), Some("CloudSSO Entity ID"));
        assert!(!t.shows(FormField::AttributeStatements));
        let c = t.default_config();
        assert!(c.name_id_lowercase);
        assert!(
            c.sp_binding().is_none(),
            "left blank until Cloud SSO shows its SP info"
        );
        assert!(
            find(SAML2_STANDARD)
                .unwrap()
                .shows(FormField::AttributeStatements)
        );
    }

    #[test]
    fn ram_role_attributes() {
        let c = find(RAM_ROLE).unwrap().default_config();
        let names: Vec<_> = c
            .attribute_statements
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, [RAM_ROLE_ATTRIBUTE, RAM_ROLE_SESSION_NAME_ATTRIBUTE]);
    }
}
