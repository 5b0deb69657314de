//! SAML 2.0 status codes (SAML core §3.2.2.2): the top-level codes and the second-level codes that
//! refine them, as one enum with their URIs.

/// Prefix shared by every SAML 2.0 status code URI.
const PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:status:";

/// A SAML 2.0 status code, top-level or second-level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// Top-level: the request succeeded.
    Success,
    /// Top-level: the request could not be performed due to an error on the part of the requester.
    Requester,
    /// Top-level: the request could not be performed due to an error on the part of the responder.
    Responder,
    /// Top-level: the SAML responder could not process the request because of the version.
    VersionMismatch,
    /// Second-level: the responding provider was unable to authenticate the principal.
    AuthnFailed,
    /// Second-level: unexpected or invalid content in an Attribute or AttributeValue.
    InvalidAttrNameOrValue,
    /// Second-level: the requested NameIDPolicy cannot be supported.
    InvalidNameIdPolicy,
    /// Second-level: the specified authentication context requirements cannot be met.
    NoAuthnContext,
    /// Second-level: no supported identity provider is available (proxying).
    NoAvailableIdp,
    /// Second-level: the responder cannot authenticate the principal passively, as requested.
    NoPassive,
    /// Second-level: none of the identity providers in an IDPList are supported (proxying).
    NoSupportedIdp,
    /// Second-level: not all session participants could be logged out.
    PartialLogout,
    /// Second-level: the proxy count was exceeded.
    ProxyCountExceeded,
    /// Second-level: the responder chooses not to respond (e.g. the user is not authorized).
    RequestDenied,
    /// Second-level: the request is not supported by the responder.
    RequestUnsupported,
    /// Second-level: the protocol version of the request is deprecated.
    RequestVersionDeprecated,
    /// Second-level: the protocol version of the request is too high.
    RequestVersionTooHigh,
    /// Second-level: the protocol version of the request is too low.
    RequestVersionTooLow,
    /// Second-level: the resource value in the request is not recognized.
    ResourceNotRecognized,
    /// Second-level: the response would contain more elements than the responder can return.
    TooManyResponses,
    /// Second-level: an entity that has no knowledge of the attribute profile.
    UnknownAttrProfile,
    /// Second-level: the principal is not known to the responder.
    UnknownPrincipal,
    /// Second-level: the requested protocol binding is not supported.
    UnsupportedBinding,
}

/// Every status code, for lookups by URI.
const ALL: [StatusCode; 23] = [
    StatusCode::Success,
    StatusCode::Requester,
    StatusCode::Responder,
    StatusCode::VersionMismatch,
    StatusCode::AuthnFailed,
    StatusCode::InvalidAttrNameOrValue,
    StatusCode::InvalidNameIdPolicy,
    StatusCode::NoAuthnContext,
    StatusCode::NoAvailableIdp,
    StatusCode::NoPassive,
    StatusCode::NoSupportedIdp,
    StatusCode::PartialLogout,
    StatusCode::ProxyCountExceeded,
    StatusCode::RequestDenied,
    StatusCode::RequestUnsupported,
    StatusCode::RequestVersionDeprecated,
    StatusCode::RequestVersionTooHigh,
    StatusCode::RequestVersionTooLow,
    StatusCode::ResourceNotRecognized,
    StatusCode::TooManyResponses,
    StatusCode::UnknownAttrProfile,
    StatusCode::UnknownPrincipal,
    StatusCode::UnsupportedBinding,
];

impl StatusCode {
    /// The last segment of the URI, e.g. `Success` or `InvalidNameIDPolicy`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::Requester => "Requester",
            Self::Responder => "Responder",
            Self::VersionMismatch => "VersionMismatch",
            Self::AuthnFailed => "AuthnFailed",
            Self::InvalidAttrNameOrValue => "InvalidAttrNameOrValue",
            Self::InvalidNameIdPolicy => "InvalidNameIDPolicy",
            Self::NoAuthnContext => "NoAuthnContext",
            Self::NoAvailableIdp => "NoAvailableIDP",
            Self::NoPassive => "NoPassive",
            Self::NoSupportedIdp => "NoSupportedIDP",
            Self::PartialLogout => "PartialLogout",
            Self::ProxyCountExceeded => "ProxyCountExceeded",
            Self::RequestDenied => "RequestDenied",
            Self::RequestUnsupported => "RequestUnsupported",
            Self::RequestVersionDeprecated => "RequestVersionDeprecated",
            Self::RequestVersionTooHigh => "RequestVersionTooHigh",
            Self::RequestVersionTooLow => "RequestVersionTooLow",
            Self::ResourceNotRecognized => "ResourceNotRecognized",
            Self::TooManyResponses => "TooManyResponses",
            Self::UnknownAttrProfile => "UnknownAttrProfile",
            Self::UnknownPrincipal => "UnknownPrincipal",
            Self::UnsupportedBinding => "UnsupportedBinding",
        }
    }

    /// The full URI, e.g. `urn:oasis:names:tc:SAML:2.0:status:Success`.
    pub fn uri(self) -> String {
        format!("{PREFIX}{}", self.name())
    }

    /// The status code for a URI, or `None` if it is not a SAML 2.0 status code.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let name = uri.trim().strip_prefix(PREFIX)?;
        ALL.into_iter().find(|code| code.name() == name)
    }

    /// Whether this code may appear as the top-level `StatusCode` (SAML core §3.2.2.2).
    pub fn is_top_level(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Requester | Self::Responder | Self::VersionMismatch
        )
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_uri() {
        for code in ALL {
            assert_eq!(StatusCode::from_uri(&code.uri()), Some(code));
        }
    }

    #[test]
    fn uris_follow_the_spelling_of_saml_core() {
        assert_eq!(
            StatusCode::Success.uri(),
            "urn:oasis:names:tc:SAML:2.0:status:Success"
        );
        assert_eq!(
            StatusCode::InvalidNameIdPolicy.uri(),
            "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
        );
        assert_eq!(
            StatusCode::NoAvailableIdp.uri(),
            "urn:oasis:names:tc:SAML:2.0:status:NoAvailableIDP"
        );
    }

    #[test]
    fn unknown_uris_and_top_level_split() {
        assert_eq!(
            StatusCode::from_uri("urn:oasis:names:tc:SAML:2.0:status:Nope"),
            None
        );
        assert_eq!(StatusCode::from_uri("Success"), None);
        assert!(StatusCode::Responder.is_top_level());
        assert!(!StatusCode::AuthnFailed.is_top_level());
    }
}
