//! The catalogue of RAM system policies: built in, read-only, referred to by name.
//!
//! The names and documents follow RAM's own system policies (the long `ReadOnlyAccess` list of
//! per-service actions is condensed to its wildcard form). Access configurations attach them by
//! name; the documents are parsed on first use and a broken entry is a bug caught by the tests.

use std::sync::OnceLock;

use super::policy::{PolicyDocument, PolicyKind};

/// One system policy of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemPolicy {
    /// The policy name, e.g. `AdministratorAccess`.
    pub name: &'static str,
    /// RAM's description.
    pub description: &'static str,
    /// The policy document (RAM policy JSON).
    pub document: &'static str,
}

impl SystemPolicy {
    /// The parsed document (`None` only if the catalogue entry were broken, which the tests rule out).
    pub fn parsed(&self) -> Option<&'static PolicyDocument> {
        let index = CATALOGUE.iter().position(|p| p.name == self.name)?;
        parsed_catalogue().get(index)?.as_ref()
    }
}

/// The system policies, in display order.
pub const CATALOGUE: &[SystemPolicy] = &[
    SystemPolicy {
        name: "AdministratorAccess",
        description: "Provides full access to Alibaba Cloud services and resources.",
        document: r#"{"Version":"1","Statement":[{"Action":"*","Effect":"Allow","Resource":"*"}]}"#,
    },
    SystemPolicy {
        name: "ReadOnlyAccess",
        description: "Provides read-only access to Alibaba Cloud services and resources.",
        document: r#"{"Version":"1","Statement":[{"Action":["*:Describe*","*:List*","*:Get*","*:BatchGet*","*:Query*","*:BatchQuery*","actiontrail:LookupEvents","actiontrail:Check*","dm:Desc*","dm:SenderStatistics*","ram:GenerateCredentialReport","ram:GetCredentialReport","ram:GetPasswordPolicy","ram:GetSecurityPreference","ram:ListGroups","ram:ListPolicies","ram:ListRoles","ram:ListUsers"],"Effect":"Allow","Resource":"*"}]}"#,
    },
    SystemPolicy {
        name: "AliyunECSFullAccess",
        description: "Provides full access to Elastic Compute Service (ECS) via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":"ecs:*","Resource":"*","Effect":"Allow"},{"Action":["vpc:DescribeVpcs","vpc:DescribeVSwitches"],"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunECSReadOnlyAccess",
        description: "Provides read-only access to Elastic Compute Service (ECS) via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":["ecs:Describe*","ecs:List*"],"Resource":"*","Effect":"Allow"},{"Action":["vpc:DescribeVpcs","vpc:DescribeVSwitches"],"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunOSSFullAccess",
        description: "Provides full access to Object Storage Service (OSS) via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":"oss:*","Effect":"Allow","Resource":"*"}]}"#,
    },
    SystemPolicy {
        name: "AliyunOSSReadOnlyAccess",
        description: "Provides read-only access to Object Storage Service (OSS) via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":["oss:Get*","oss:List*"],"Effect":"Allow","Resource":"*"}]}"#,
    },
    SystemPolicy {
        name: "AliyunRAMFullAccess",
        description: "Provides full access to Resource Access Management (RAM) via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":"ram:*","Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunRAMReadOnlyAccess",
        description: "Provides read-only access to Resource Access Management (RAM) via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":["ram:Get*","ram:List*","ram:GenerateCredentialReport"],"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunSTSAssumeRoleAccess",
        description: "Provides access to the AssumeRole API of Security Token Service (STS).",
        document: r#"{"Version":"1","Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Resource":"*"}]}"#,
    },
    SystemPolicy {
        name: "AliyunCloudSSOFullAccess",
        description: "Provides full access to CloudSSO via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":"cloudsso:*","Resource":"*","Effect":"Allow"},{"Action":["resourcemanager:GetResourceDirectory","resourcemanager:ListAccounts","resourcemanager:ListFoldersForParent","resourcemanager:GetAccount"],"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunCloudSSOReadOnlyAccess",
        description: "Provides read-only access to CloudSSO via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":["cloudsso:Get*","cloudsso:List*"],"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunVPCFullAccess",
        description: "Provides full access to Virtual Private Cloud (VPC) via Management Console.",
        document: r#"{"Version":"1","Statement":[{"Action":"vpc:*","Resource":"*","Effect":"Allow"},{"Action":["ecs:CreateNetworkInterface","ecs:DescribeNetworkInterfaces","ecs:DescribeInstances"],"Resource":"*","Effect":"Allow"}]}"#,
    },
];

fn parsed_catalogue() -> &'static [Option<PolicyDocument>] {
    static PARSED: OnceLock<Vec<Option<PolicyDocument>>> = OnceLock::new();
    PARSED.get_or_init(|| {
        CATALOGUE
            .iter()
            .map(|p| PolicyDocument::parse(p.document, PolicyKind::Permission).ok())
            .collect()
    })
}

/// The system policy called `name` (exact, as RAM).
pub fn find(name: &str) -> Option<&'static SystemPolicy> {
    CATALOGUE.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::super::policy::{ConditionContext, Decision, evaluate};
    use super::*;

    #[test]
    fn every_catalogue_document_is_valid() {
        for policy in CATALOGUE {
            PolicyDocument::parse(policy.document, PolicyKind::Permission)
                .unwrap_or_else(|e| panic!("{}: {e}", policy.name));
        }
        assert!(CATALOGUE.iter().all(|p| p.parsed().is_some()));
        let mut names: Vec<_> = CATALOGUE.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len(), "names are unique");
    }

    #[test]
    fn lookup_and_meaning() {
        assert!(find("administratoraccess").is_none());
        let admin = find("AdministratorAccess").unwrap().parsed().unwrap();
        let read = find("ReadOnlyAccess").unwrap().parsed().unwrap();
        let ctx = ConditionContext::new();
        assert_eq!(
            evaluate([admin], "ecs:RunInstances", "*", &ctx),
            Decision::Allow
        );
        assert_eq!(
            evaluate([read], "ecs:DescribeInstances", "*", &ctx),
            Decision::Allow
        );
        assert_eq!(
            evaluate([read], "ecs:RunInstances", "*", &ctx),
            Decision::ImplicitDeny
        );
        assert_eq!(
            find("AliyunOSSReadOnlyAccess")
                .unwrap()
                .parsed()
                .unwrap()
                .text(),
            find("AliyunOSSReadOnlyAccess").unwrap().document
        );
    }
}
