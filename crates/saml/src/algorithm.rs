//! XML-DSig algorithm identifiers and the allow-list that decides which ones we accept.
//!
//! Only RSA PKCS#1 v1.5 and ECDSA signatures with SHA-2 digests are accepted by default. SHA-1
//! (`rsa-sha1`, `sha1`) exists for old service providers and must be switched on explicitly
//! through [`AlgorithmPolicy::allow_sha1`].

/// A signature algorithm, named by its XML-DSig URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha256`
    RsaSha256,
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha384`
    RsaSha384,
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha512`
    RsaSha512,
    /// `http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256` (P-256, raw r||s signature)
    EcdsaSha256,
    /// `http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384` (P-384, raw r||s signature)
    EcdsaSha384,
    /// `http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512` (P-521, raw r||s signature)
    EcdsaSha512,
    /// `http://www.w3.org/2000/09/xmldsig#rsa-sha1` (legacy, refused unless allowed)
    RsaSha1,
}

impl SignatureAlgorithm {
    /// Every signature algorithm we know, strongest first.
    pub const ALL: [SignatureAlgorithm; 7] = [
        Self::RsaSha256,
        Self::RsaSha384,
        Self::RsaSha512,
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::EcdsaSha512,
        Self::RsaSha1,
    ];

    /// The XML-DSig URI of this algorithm (also used as `SigAlg` in the HTTP-Redirect binding).
    pub const fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            Self::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            Self::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            Self::EcdsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
            Self::EcdsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
            Self::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        }
    }

    /// Looks an algorithm up by its exact URI.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.uri() == uri)
    }

    /// True for the RSA family.
    pub const fn is_rsa(self) -> bool {
        matches!(
            self,
            Self::RsaSha256 | Self::RsaSha384 | Self::RsaSha512 | Self::RsaSha1
        )
    }

    /// True if the algorithm hashes with SHA-1.
    pub const fn uses_sha1(self) -> bool {
        matches!(self, Self::RsaSha1)
    }
}

/// A digest algorithm, named by its XML-DSig URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `http://www.w3.org/2001/04/xmlenc#sha256`
    Sha256,
    /// `http://www.w3.org/2001/04/xmldsig-more#sha384`
    Sha384,
    /// `http://www.w3.org/2001/04/xmlenc#sha512`
    Sha512,
    /// `http://www.w3.org/2000/09/xmldsig#sha1` (legacy, refused unless allowed)
    Sha1,
}

impl DigestAlgorithm {
    /// Every digest algorithm we know.
    pub const ALL: [DigestAlgorithm; 4] = [Self::Sha256, Self::Sha384, Self::Sha512, Self::Sha1];

    /// The XML-DSig URI of this algorithm.
    pub const fn uri(self) -> &'static str {
        match self {
            Self::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            Self::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            Self::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
            Self::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        }
    }

    /// Looks an algorithm up by its exact URI.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.uri() == uri)
    }

    /// Hashes `data` with this algorithm.
    pub fn digest(self, data: &[u8]) -> aws_lc_rs::digest::Digest {
        aws_lc_rs::digest::digest(self.aws_lc(), data)
    }

    /// The aws-lc-rs algorithm behind this digest.
    pub(crate) fn aws_lc(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::Sha256 => &aws_lc_rs::digest::SHA256,
            Self::Sha384 => &aws_lc_rs::digest::SHA384,
            Self::Sha512 => &aws_lc_rs::digest::SHA512,
            Self::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        }
    }
}

/// Which algorithms a verifier accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// Accept `rsa-sha1` and `sha1` (off by default; an admin turns it on per service provider).
    pub allow_sha1: bool,
}

impl AlgorithmPolicy {
    /// The default, strict policy: SHA-2 only.
    pub const STRICT: AlgorithmPolicy = AlgorithmPolicy { allow_sha1: false };

    /// Whether `alg` is allowed by this policy.
    pub fn allows_signature(&self, alg: SignatureAlgorithm) -> bool {
        self.allow_sha1 || !alg.uses_sha1()
    }

    /// Whether `alg` is allowed by this policy.
    pub fn allows_digest(&self, alg: DigestAlgorithm) -> bool {
        self.allow_sha1 || alg != DigestAlgorithm::Sha1
    }

    /// Resolves a `SignatureMethod` URI, refusing unknown or disallowed ones.
    pub fn signature_from_uri(&self, uri: &str) -> Option<SignatureAlgorithm> {
        SignatureAlgorithm::from_uri(uri).filter(|a| self.allows_signature(*a))
    }

    /// Resolves a `DigestMethod` URI, refusing unknown or disallowed ones.
    pub fn digest_from_uri(&self, uri: &str) -> Option<DigestAlgorithm> {
        DigestAlgorithm::from_uri(uri).filter(|a| self.allows_digest(*a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_uris_round_trip() {
        for a in SignatureAlgorithm::ALL {
            assert_eq!(SignatureAlgorithm::from_uri(a.uri()), Some(a));
        }
        assert_eq!(
            SignatureAlgorithm::RsaSha256.uri(),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        );
        assert_eq!(
            SignatureAlgorithm::from_uri("http://www.w3.org/2000/09/xmldsig#dsa-sha1"),
            None
        );
        assert_eq!(SignatureAlgorithm::from_uri(""), None);
    }

    #[test]
    fn digest_uris_round_trip() {
        for a in DigestAlgorithm::ALL {
            assert_eq!(DigestAlgorithm::from_uri(a.uri()), Some(a));
        }
        assert_eq!(
            DigestAlgorithm::Sha256.uri(),
            "http://www.w3.org/2001/04/xmlenc#sha256"
        );
        assert_eq!(
            DigestAlgorithm::from_uri("http://www.w3.org/2001/04/xmlenc#sha256 "),
            None
        );
    }

    #[test]
    fn sha1_refused_unless_allowed() {
        let strict = AlgorithmPolicy::default();
        assert!(!strict.allows_signature(SignatureAlgorithm::RsaSha1));
        assert!(!strict.allows_digest(DigestAlgorithm::Sha1));
        assert!(
            strict
                .signature_from_uri(SignatureAlgorithm::RsaSha1.uri())
                .is_none()
        );
        assert!(strict.allows_signature(SignatureAlgorithm::EcdsaSha512));
        let lax = AlgorithmPolicy { allow_sha1: true };
        assert_eq!(
            lax.digest_from_uri(DigestAlgorithm::Sha1.uri()),
            Some(DigestAlgorithm::Sha1)
        );
    }

    #[test]
    fn digest_lengths() {
        assert_eq!(DigestAlgorithm::Sha256.digest(b"x").as_ref().len(), 32);
        assert_eq!(DigestAlgorithm::Sha384.digest(b"x").as_ref().len(), 48);
        assert_eq!(DigestAlgorithm::Sha512.digest(b"x").as_ref().len(), 64);
        assert_eq!(DigestAlgorithm::Sha1.digest(b"x").as_ref().len(), 20);
    }
}
