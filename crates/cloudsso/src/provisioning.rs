//! Provisioning an access configuration into an account (products.md §2.8): the reserved RAM
//! resources Cloud SSO creates and keeps in step.
//!
//! * role `AliyunReservedSSO-{name}`, trusting only the provider below for role-based SSO to our
//!   sign-in endpoint, max session = the access configuration's session duration;
//! * custom policy `AliyunReservedSSO-{name}-InlinePolicy` when there is an inline policy;
//! * the system policies and that inline policy attached to the role;
//! * SAML provider `AliyunReservedSSO-{directory_id}`, trusting the directory's role-SSO
//!   certificate, created with the first provisioning into the account and removed with the last.
//!
//! These are written directly through the store: the RAM operations in `cloud::ram` refuse them.

use serde_json::json;

use crate::access_configuration::AccessConfiguration;
use crate::cloud::ram::RESERVED_PREFIX;
use crate::cloud::resource::{
    CloudAccount, CustomPolicy, PolicyRef, PolicyType, Role, SamlProvider, new_principal_id,
};
use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::{self, Conn, cloud::PrincipalKind};

/// `AliyunReservedSSO-{access configuration name}`.
pub fn reserved_role_name(ac_name: &str) -> String {
    format!("{RESERVED_PREFIX}{ac_name}")
}

/// `AliyunReservedSSO-{access configuration name}-InlinePolicy`.
pub fn reserved_policy_name(ac_name: &str) -> String {
    format!("{RESERVED_PREFIX}{ac_name}-InlinePolicy")
}

/// `AliyunReservedSSO-{directory_id}`.
pub fn reserved_provider_name(directory_id: &str) -> String {
    format!("{RESERVED_PREFIX}{directory_id}")
}

/// The trust policy of a reserved role: only the reserved provider, only to our sign-in endpoint.
pub fn reserved_trust_policy(provider_arn: &str, role_acs_url: &str) -> String {
    json!({
        "Statement": [{
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": { "Federated": [provider_arn] },
            "Condition": { "StringEquals": { "saml:recipient": role_acs_url } }
        }],
        "Version": "1"
    })
    .to_string()
}

impl Services {
    /// Creates or refreshes the reserved resources of `ac` in `account` (one transaction).
    pub async fn provision(&self, ac: &AccessConfiguration, account: &CloudAccount) -> Result<()> {
        let cert = self.provisioning_certificate(ac).await?;
        let mut tx = self.store.begin_write().await?;
        self.provision_in(&mut tx, ac, account, &cert).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The certificate the reserved SAML provider trusts (fetch it before opening the write
    /// transaction of [`Services::provision_in`]: it may create the directory's key).
    pub(crate) async fn provisioning_certificate(
        &self,
        ac: &AccessConfiguration,
    ) -> Result<String> {
        let key = self.role_sso_key(&ac.directory_id).await?;
        Ok(key.certificate.to_base64())
    }

    /// [`Services::provision`] inside the caller's transaction, with the certificate from
    /// [`Services::provisioning_certificate`].
    pub(crate) async fn provision_in(
        &self,
        conn: &mut Conn,
        ac: &AccessConfiguration,
        account: &CloudAccount,
        cert: &str,
    ) -> Result<()> {
        let now = self.now();
        let cert = cert.to_owned();
        let provider_name = reserved_provider_name(&ac.directory_id);
        let provider = SamlProvider {
            account_id: account.id.clone(),
            arn: format!("acs:ram::{}:saml-provider/{provider_name}", account.id),
            name: provider_name.clone(),
            description: "Created by Cloud SSO for role-based SSO; do not modify".into(),
            idp_entity_id: self.role_idp_entity_id(&ac.directory_id),
            certificates: vec![cert],
            reserved: true,
            created_at: now,
            updated_at: now,
        };
        match store::cloud::get_provider(conn, &account.id, &provider_name).await? {
            Some(_) => store::cloud::update_provider(conn, &provider, None).await?,
            None => store::cloud::insert_provider(conn, &provider, None).await?,
        }

        let role_name = reserved_role_name(&ac.name);
        let trust = reserved_trust_policy(&provider.arn, &self.cloud_role_acs_url());
        let existing = store::cloud::get_role(conn, &account.id, &role_name).await?;
        let role = Role {
            account_id: account.id.clone(),
            arn: format!("acs:ram::{}:role/{role_name}", account.id),
            name: role_name.clone(),
            role_id: existing
                .as_ref()
                .map_or_else(|| new_principal_id('3'), |r| r.role_id.clone()),
            description: format!(
                "Created by Cloud SSO for access configuration {}; do not modify",
                ac.name
            ),
            trust_policy: trust,
            max_session_duration: ac.session_duration,
            reserved: true,
            policies: Vec::new(),
            created_at: existing.as_ref().map_or(now, |r| r.created_at),
            updated_at: now,
        };
        match existing {
            Some(r) if !r.reserved => {
                return Err(Error::conflict(format!(
                    "account {} already has a role {role_name} not created by Cloud SSO",
                    account.id
                )));
            }
            Some(_) => store::cloud::update_role(conn, &role).await?,
            None => store::cloud::insert_role(conn, &role).await?,
        }

        store::cloud::detach_all(conn, &account.id, PrincipalKind::Role, &role_name).await?;
        for name in &ac.system_policies {
            let policy = PolicyRef {
                policy_type: PolicyType::System,
                policy_name: name.clone(),
            };
            store::cloud::attach(
                conn,
                &account.id,
                PrincipalKind::Role,
                &role_name,
                &policy,
                now,
            )
            .await?;
        }
        let policy_name = reserved_policy_name(&ac.name);
        let existing_policy = store::cloud::get_policy(conn, &account.id, &policy_name).await?;
        match (&ac.inline_policy, existing_policy) {
            (Some(document), existing) => {
                let policy = CustomPolicy {
                    account_id: account.id.clone(),
                    name: policy_name.clone(),
                    description: format!("Inline policy of access configuration {}", ac.name),
                    document: document.clone(),
                    reserved: true,
                    created_at: existing.as_ref().map_or(now, |p| p.created_at),
                    updated_at: now,
                };
                match existing {
                    Some(_) => store::cloud::update_policy(conn, &policy).await?,
                    None => store::cloud::insert_policy(conn, &policy).await?,
                }
                let r = PolicyRef {
                    policy_type: PolicyType::Custom,
                    policy_name: policy_name.clone(),
                };
                store::cloud::attach(conn, &account.id, PrincipalKind::Role, &role_name, &r, now)
                    .await?;
            }
            (None, Some(_)) => {
                store::cloud::delete_policy(conn, &account.id, &policy_name).await?;
            }
            (None, None) => {}
        }
        store::access::set_provisioned(conn, &ac.id, &account.id, now).await?;
        Ok(())
    }

    /// Removes the reserved resources of `ac` from `account`, and the reserved provider with the
    /// directory's last provisioning there.
    pub async fn deprovision(
        &self,
        ac: &AccessConfiguration,
        account: &CloudAccount,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        if store::access::assignment_count(&mut tx, &ac.id, &account.id).await? > 0 {
            return Err(Error::conflict(
                "the access configuration is still assigned on this account; delete the assignments first",
            ));
        }
        let role_name = reserved_role_name(&ac.name);
        store::cloud::delete_role(&mut tx, &account.id, &role_name).await?;
        store::cloud::delete_policy(&mut tx, &account.id, &reserved_policy_name(&ac.name)).await?;
        store::access::delete_provisioning(&mut tx, &ac.id, &account.id).await?;
        if store::access::provisioned_count_in_account(&mut tx, &ac.directory_id, &account.id)
            .await?
            == 0
        {
            store::cloud::delete_provider(
                &mut tx,
                &account.id,
                &reserved_provider_name(&ac.directory_id),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::policy::{ConditionContext, PolicyDocument, PolicyKind};

    #[test]
    fn reserved_names_and_trust() {
        assert_eq!(reserved_role_name("Admin"), "AliyunReservedSSO-Admin");
        assert_eq!(
            reserved_policy_name("Admin"),
            "AliyunReservedSSO-Admin-InlinePolicy"
        );
        assert_eq!(reserved_provider_name("d-abc"), "AliyunReservedSSO-d-abc");
        let provider = "acs:ram::1234567890123456:saml-provider/AliyunReservedSSO-d-abc";
        let acs = "http://sso.test/cloud/signin/saml-role/sso";
        let doc = PolicyDocument::parse(&reserved_trust_policy(provider, acs), PolicyKind::Trust)
            .unwrap();
        let mut ctx = ConditionContext::new();
        ctx.insert("saml:recipient".into(), acs.into());
        assert!(doc.trusts_saml_provider(provider, &ctx));
        ctx.insert("saml:recipient".into(), "https://elsewhere/sso".into());
        assert!(!doc.trusts_saml_provider(provider, &ctx));
    }
}
