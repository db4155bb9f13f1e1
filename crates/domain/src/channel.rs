//! Channels: the route by which users reach the platform (e.g. `direct`,
//! `helsenorge`). Every organisation belongs to exactly one channel; a tool
//! manager is staff of a channel and sees only its aggregates.

use std::fmt;

/// A channel's slug: 1 to 40 characters of `a-z`, `0-9` and `-`, starting
/// with a letter. Invariant: always well-formed, so it is safe in a URL, a
/// CSV file name and a log line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelSlug(String);

/// Text that is not a well-formed [`ChannelSlug`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a channel is 1 to 40 characters of a-z, 0-9 and -, starting with a letter")]
pub struct ChannelSlugError;

/// The channel every organisation starts in.
pub const DIRECT: &str = "direct";

impl ChannelSlug {
    /// Parses untrusted text (a CLI argument).
    pub fn parse(s: &str) -> Result<Self, ChannelSlugError> {
        let s = s.trim();
        let well_formed = (1..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(ChannelSlugError)
        }
    }

    /// Wraps a value read back from the database, which only holds slugs
    /// this type parsed.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slugs_and_refuses_the_rest() {
        assert_eq!(
            ChannelSlug::parse(" helsenorge ").unwrap().as_str(),
            "helsenorge"
        );
        assert!(ChannelSlug::parse("direct").is_ok());
        assert!(ChannelSlug::parse("a-1").is_ok());
        for bad in [
            "",
            "1abc",
            "Helse",
            "helse norge",
            "-x",
            "æøå",
            &"a".repeat(41),
        ] {
            assert_eq!(ChannelSlug::parse(bad), Err(ChannelSlugError), "{bad:?}");
        }
    }
}
