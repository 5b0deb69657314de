//! The address policy of provisioning requests (SSRF defence): unless the server allows private
//! network targets (`Config::metadata_fetch_allow_private`, tests and local demos), every SCIM
//! request and every OAuth 2.0 token request of an application's client connects only to public
//! addresses. Host names are resolved by [`crate::net::PublicResolver`] on each connection (so a
//! name that resolves, or later re-resolves, to 127.0.0.1, 10/8 or 169.254.169.254 is refused
//! and the refusal is a permanent [`ClientError::Refused`]); IP-literal hosts, which reqwest never
//! passes to a resolver, are checked here when the client is built. Redirects are never followed
//! by the client. The same rule is applied when the configuration is saved
//! ([`super::config::validate_url`]), but only this check is authoritative: a configuration saved
//! earlier, or under another setting, is held to the rule in force when it is delivered.

use std::sync::Arc;

use scim::client::{ClientAuth, ClientError, ClientOptions, ScimClient};

use crate::net::{PublicResolver, check_url_host};

/// Builds the SCIM client of an application under the address policy: with `allow_private` off,
/// `options.resolver` is replaced by [`PublicResolver`] and IP-literal hosts (base URL and token
/// endpoint) must be public, or the result is [`ClientError::Refused`].
pub fn new_client(
    base_url: &str,
    auth: ClientAuth,
    options: ClientOptions,
    allow_private: bool,
) -> Result<ScimClient, ClientError> {
    let options = if allow_private {
        options
    } else {
        ClientOptions {
            resolver: Some(Arc::new(PublicResolver)),
            ..options
        }
    };
    let client = ScimClient::new(base_url, auth, options)?;
    if !allow_private {
        for url in client.endpoints() {
            check_url_host(&url, false).map_err(|e| ClientError::Refused(e.to_string()))?;
        }
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer() -> ClientAuth {
        ClientAuth::Bearer("t".into())
    }

    fn cc(token_endpoint: &str) -> ClientAuth {
        ClientAuth::ClientCredentials {
            token_endpoint: token_endpoint.into(),
            client_id: "c".into(),
            client_secret: "s".into(),
            method: scim::client::TokenAuthMethod::ClientSecretBasic,
            scope: None,
        }
    }

    #[test]
    fn ip_literal_hosts_are_checked_when_the_client_is_built() {
        for base in [
            "http://127.0.0.1:8080/scim/v2",
            "https://10.0.0.5/scim/v2",
            "https://169.254.169.254/scim",
            "https://[::1]/scim",
            "https://[fc00::1]/scim",
            "https://[::ffff:192.168.0.1]/scim",
        ] {
            let e = new_client(base, bearer(), ClientOptions::default(), false).unwrap_err();
            assert!(
                matches!(&e, ClientError::Refused(m) if m.contains("non-public")),
                "{base}: {e:?}"
            );
            assert!(!e.is_retryable());
            new_client(base, bearer(), ClientOptions::default(), true).unwrap();
        }
        // The token endpoint is held to the same rule.
        let e = new_client(
            "https://scim.example.com/v2",
            cc("https://169.254.169.254/token"),
            ClientOptions::default(),
            false,
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::Refused(_)), "{e:?}");
        // Public literals and names are built (names are checked when resolved).
        new_client(
            "https://8.8.8.8/scim",
            cc("https://login.example.com/token"),
            ClientOptions::default(),
            false,
        )
        .unwrap();
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_at_connection_time() {
        // `localhost` resolves to 127.0.0.1 / ::1 without any network.
        let c = new_client(
            "http://localhost:9/scim/v2",
            bearer(),
            ClientOptions::default(),
            false,
        )
        .unwrap();
        let e = c.get_user("1").await.unwrap_err();
        assert!(
            matches!(&e, ClientError::Refused(m) if m.contains("localhost") && m.contains("non-public")),
            "{e:?}"
        );
        assert!(!e.is_retryable());
        // Allowed: the same name is connected to (nothing listens on port 9: a transport error).
        let c = new_client(
            "http://localhost:9/scim/v2",
            bearer(),
            ClientOptions::default(),
            true,
        )
        .unwrap();
        let e = c.get_user("1").await.unwrap_err();
        assert!(matches!(e, ClientError::Transport(_)), "{e:?}");
    }
}
