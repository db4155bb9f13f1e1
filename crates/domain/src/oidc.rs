//! OpenID Connect identities (docs/oidc.md): what a verified ID token may
//! and may not carry, kept free of I/O. The rules' lists live in
//! [`crate::policy::oidc`].

use std::fmt;

use crate::access_code::{CodePepper, hex_lower};
use crate::channel::ChannelSlug;
use crate::policy::oidc as rules;

/// Which login an OpenID Connect round trip serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A citizen launched from the portal (Helsenorge).
    Launch,
    /// A staff member logging in with HelseID.
    HelseId,
}

impl Flow {
    /// The stored word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Launch => "launch",
            Self::HelseId => "helseid",
        }
    }

    /// Parses a stored word; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "launch" => Some(Self::Launch),
            "helseid" => Some(Self::HelseId),
            _ => None,
        }
    }
}

/// The portal's pairwise pseudonym for a citizen (`sub`). Never stored or
/// logged: only its [`LaunchKey`] is.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSubject(String);

/// A `sub` that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the subject is empty, too long or not printable ASCII")]
pub struct SubjectError;

impl PortalSubject {
    /// Accepts 1 to 255 printable ASCII characters (OpenID Connect Core
    /// §2: "MUST NOT exceed 255 ASCII characters").
    pub fn parse(s: &str) -> Result<Self, SubjectError> {
        let ok = !s.is_empty()
            && s.len() <= rules::SUBJECT_MAX_CHARS
            && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(SubjectError)
        }
    }

    /// The bytes, for the keyed hash only.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for PortalSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PortalSubject([REDACTED])")
    }
}

/// The stored key of a portal identity: 64 hex digits of
/// HMAC(pepper, channel, `sub`). It identifies an account, so it stays out
/// of logs like a code hash.
#[derive(Clone, PartialEq, Eq)]
pub struct LaunchKey(String);

impl LaunchKey {
    /// HMAC-SHA256(pepper, "mestring-launch-v1:" ‖ channel ‖ NUL ‖ `sub`):
    /// the only form in which a launched citizen's identity is stored.
    /// The pepper is the access-code key, so every node agrees.
    pub fn derive(pepper: &CodePepper, channel: &ChannelSlug, subject: &PortalSubject) -> Self {
        use hmac::Mac;
        let mut mac = pepper.keyed_mac();
        mac.update(b"mestring-launch-v1:");
        // Slugs never contain NUL, so channel and subject cannot run together.
        mac.update(channel.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(subject.as_bytes());
        Self(hex_lower(&mac.finalize().into_bytes()))
    }

    /// The hex digest, for the database.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LaunchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LaunchKey([REDACTED])")
    }
}

/// Why a claim makes a portal token unacceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedClaim {
    /// A national identity number.
    NationalId,
    /// A name.
    Name,
    /// Something else that describes the person (birth date, e-mail …).
    Personal,
    /// Someone acting for the patient (parent, power of attorney).
    Representation,
}

impl RefusedClaim {
    /// A stable word for logs (never the claim's value).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NationalId => "national_id",
            Self::Name => "name",
            Self::Personal => "personal",
            Self::Representation => "representation",
        }
    }
}

/// Classifies a claim name: `Some` when a token carrying it must be
/// refused (portal) or the value ignored (HelseID's national id). The
/// match is on the last segment after `:` or `/`, case-insensitively, so
/// `pid`, `hn:pid` and `helseid://claims/identity/pid` are all caught.
pub fn refused_claim(name: &str) -> Option<RefusedClaim> {
    let lower = name.to_ascii_lowercase();
    let leaf = lower.rsplit([':', '/']).next().unwrap_or(&lower);
    if rules::NATIONAL_ID_CLAIMS.contains(&leaf) {
        Some(RefusedClaim::NationalId)
    } else if rules::NAME_CLAIMS.contains(&leaf) {
        Some(RefusedClaim::Name)
    } else if rules::PERSONAL_CLAIMS.contains(&leaf) {
        Some(RefusedClaim::Personal)
    } else if leaf == "act"
        || rules::REPRESENTATION_MARKERS
            .iter()
            .any(|m| lower.contains(m))
    {
        Some(RefusedClaim::Representation)
    } else {
        None
    }
}

/// The first refused claim among `names`, if any.
pub fn first_refused<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<RefusedClaim> {
    names.into_iter().find_map(refused_claim)
}

pub use crate::policy::oidc::Assurance;

impl Assurance {
    /// Reads HelseID's `assurance_level` ("low", "substantial", "high")
    /// or its older `security_level` ("1" to "4"); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" | "lav" | "1" | "2" => Some(Self::Low),
            "substantial" | "betydelig" | "3" => Some(Self::Substantial),
            "high" | "høy" | "4" => Some(Self::High),
            _ => None,
        }
    }

    /// Whether a staff login may proceed at this level.
    pub fn enough_for_staff(self) -> bool {
        self >= rules::MIN_STAFF_ASSURANCE
    }
}

/// A health personnel number (HPR-nummer): 1 to 9 digits, leading zeros
/// insignificant (stored without them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HprNumber(String);

/// Not a health personnel number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an HPR number is 1 to 9 digits")]
pub struct HprError;

impl HprNumber {
    /// Parses digits (spaces allowed between them).
    pub fn parse(s: &str) -> Result<Self, HprError> {
        let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HprError);
        }
        let trimmed = digits.trim_start_matches('0');
        if trimmed.is_empty() {
            return Err(HprError);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_claims_are_caught_in_every_spelling() {
        for name in [
            "pid",
            "PID",
            "hn:pid",
            "helseid://claims/identity/pid",
            "fodselsnummer",
            "urn:x:fnr",
        ] {
            assert_eq!(
                refused_claim(name),
                Some(RefusedClaim::NationalId),
                "{name}"
            );
        }
        for name in ["name", "given_name", "family_name", "hn:name"] {
            assert_eq!(refused_claim(name), Some(RefusedClaim::Name), "{name}");
        }
        for name in ["hn:representation", "represented_person", "fullmakt", "act"] {
            assert_eq!(
                refused_claim(name),
                Some(RefusedClaim::Representation),
                "{name}"
            );
        }
        assert_eq!(refused_claim("birthdate"), Some(RefusedClaim::Personal));
    }

    #[test]
    fn protocol_claims_pass() {
        for name in [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nonce",
            "acr",
            "amr",
            "azp",
            "sid",
            "auth_time",
            "at_hash",
            "jti",
            "pid_pseudonym",
            "action",
            "helseid://claims/hpr/hpr_number",
            "helseid://claims/identity/assurance_level",
        ] {
            assert_eq!(refused_claim(name), None, "{name}");
        }
    }

    #[test]
    fn subjects_are_bounded_printable_ascii() {
        assert!(PortalSubject::parse("a1b2-c3").is_ok());
        assert!(PortalSubject::parse("").is_err());
        assert!(PortalSubject::parse("with space").is_err());
        assert!(PortalSubject::parse("æ").is_err());
        assert!(PortalSubject::parse(&"x".repeat(256)).is_err());
        assert!(PortalSubject::parse(&"x".repeat(255)).is_ok());
        assert_eq!(
            format!("{:?}", PortalSubject::parse("secret-sub").unwrap()),
            "PortalSubject([REDACTED])"
        );
    }

    #[test]
    fn launch_keys_differ_by_channel_and_subject_and_hide_both() {
        let pepper = CodePepper::from_bytes([7; 32]);
        let hn = ChannelSlug::parse("helsenorge").unwrap();
        let other = ChannelSlug::parse("other").unwrap();
        let a = PortalSubject::parse("subject-a").unwrap();
        let b = PortalSubject::parse("subject-b").unwrap();
        let key = LaunchKey::derive(&pepper, &hn, &a);
        assert_eq!(key, LaunchKey::derive(&pepper, &hn, &a));
        assert_ne!(key, LaunchKey::derive(&pepper, &hn, &b));
        assert_ne!(key, LaunchKey::derive(&pepper, &other, &a));
        assert_ne!(
            key,
            LaunchKey::derive(&CodePepper::from_bytes([8; 32]), &hn, &a)
        );
        assert_eq!(key.as_str().len(), 64);
        assert!(!key.as_str().contains("subject"));
        assert_eq!(format!("{key:?}"), "LaunchKey([REDACTED])");
    }

    #[test]
    fn assurance_levels_order_and_gate_staff() {
        assert_eq!(
            Assurance::parse("substantial"),
            Some(Assurance::Substantial)
        );
        assert_eq!(Assurance::parse("4"), Some(Assurance::High));
        assert_eq!(Assurance::parse("maybe"), None);
        assert!(!Assurance::Low.enough_for_staff());
        assert!(Assurance::Substantial.enough_for_staff());
        assert!(Assurance::High.enough_for_staff());
    }

    #[test]
    fn hpr_numbers_parse_to_one_form() {
        assert_eq!(HprNumber::parse("1234567").unwrap().as_str(), "1234567");
        assert_eq!(HprNumber::parse(" 0123 4567 ").unwrap().as_str(), "1234567");
        assert!(HprNumber::parse("").is_err());
        assert!(HprNumber::parse("000").is_err());
        assert!(HprNumber::parse("12345678901").is_err());
        assert!(HprNumber::parse("12a").is_err());
    }
}
