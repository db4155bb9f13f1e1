//! Access codes: the only thing an end user ever gives us.
//!
//! A code is 15 random Crockford base32 symbols (75 bits from the operating
//! system's CSPRNG) followed by one check symbol, shown as
//! `XXXX-XXXX-XXXX-XXXX`. The check symbol is a Damm check over GF(32)
//! (multiplier `x`, field polynomial `x^5 + x^2 + 1`): the quasigroup
//! `q(c, d) = 2·c ⊕ d` is totally anti-symmetric, so every single wrong
//! symbol and every swap of two neighbouring symbols is caught before any
//! database lookup.
//!
//! Codes are never stored: the store keeps [`CodeHash`], an HMAC-SHA256 of
//! the normalised code under a server-side [`CodePepper`].

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub use crate::policy::code::{ALPHABET, DATA_SYMBOLS, ENTROPY_BITS, SYMBOLS};

/// Multiplication by `x` in GF(2^5) modulo `x^5 + x^2 + 1`.
fn times_x(c: u8) -> u8 {
    let shifted = c << 1;
    if shifted & 0b10_0000 != 0 {
        shifted ^ 0b10_0101
    } else {
        shifted
    }
}

/// Runs the Damm quasigroup over symbol values; a valid code ends at 0.
fn damm(values: &[u8]) -> u8 {
    values.iter().fold(0, |interim, &d| times_x(interim) ^ d)
}

/// A well-formed access code (check symbol verified).
///
/// Invariant: exactly [`SYMBOLS`] values, each below 32, whose Damm check is 0.
/// `Debug` prints `[REDACTED]` and there is no `Display`: the code is shown
/// only through [`AccessCode::reveal`], at the few places a person must see it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessCode([u8; SYMBOLS]);

/// Why typed text is not a code. Messages never contain the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Too few or too many symbols.
    #[error("the code must have {SYMBOLS} characters")]
    WrongLength,
    /// A character that cannot appear in a code.
    #[error("the code contains a character that is not used in codes")]
    InvalidCharacter,
    /// The check symbol does not match: a typo.
    #[error("check the code you typed")]
    CheckFailed,
}

impl AccessCode {
    /// A new random code from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rngs::OsRng)
    }

    /// A new code drawn from `rng` (which must be a CSPRNG outside tests).
    pub fn generate_with(rng: &mut impl RngCore) -> Self {
        let mut bytes = [0u8; DATA_SYMBOLS];
        rng.fill_bytes(&mut bytes);
        let mut values = [0u8; SYMBOLS];
        for (v, b) in values.iter_mut().zip(bytes) {
            // 32 divides 256, so masking keeps every symbol uniform.
            *v = b & 31;
        }
        values[DATA_SYMBOLS] = times_x(damm(&values[..DATA_SYMBOLS]));
        Self(values)
    }

    /// Parses what a person typed, forgiving case, spaces, dashes and the
    /// look-alikes `O`→`0` and `I`/`L`→`1`.
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let mut values = [0u8; SYMBOLS];
        let mut n = 0;
        for ch in input.chars() {
            if ch.is_whitespace() || matches!(ch, '-' | '‐' | '–' | '—' | '_' | '.') {
                continue;
            }
            let value = symbol_value(ch).ok_or(CodeError::InvalidCharacter)?;
            if n == SYMBOLS {
                return Err(CodeError::WrongLength);
            }
            values[n] = value;
            n += 1;
        }
        if n != SYMBOLS {
            return Err(CodeError::WrongLength);
        }
        if damm(&values) != 0 {
            return Err(CodeError::CheckFailed);
        }
        Ok(Self(values))
    }

    /// The code as `XXXX-XXXX-XXXX-XXXX`, for the one screen or sheet that
    /// must show it. Never log the result.
    pub fn reveal(&self) -> String {
        let mut out = String::with_capacity(SYMBOLS + 3);
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(char::from(ALPHABET[usize::from(*v)]));
        }
        out
    }

    fn canonical_bytes(&self) -> [u8; SYMBOLS] {
        self.0.map(|v| ALPHABET[usize::from(v)])
    }
}

fn symbol_value(ch: char) -> Option<u8> {
    let up = match ch.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == up)
        .and_then(|p| u8::try_from(p).ok())
}

impl fmt::Debug for AccessCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessCode([REDACTED])")
    }
}

/// The server-side secret that turns codes into [`CodeHash`]es.
///
/// Lives in a key file in the data directory, never in the database.
#[derive(Clone)]
pub struct CodePepper([u8; 32]);

impl CodePepper {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// HMAC-SHA256 of the normalised code.
    pub fn hash(&self, code: &AccessCode) -> CodeHash {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"mestring-access-code-v1:");
        mac.update(&code.canonical_bytes());
        CodeHash(hex_lower(&mac.finalize().into_bytes()))
    }

    /// An HMAC-SHA256 under the pepper, for another keyed hash that must
    /// agree across nodes (a portal identity's launch key). Callers add
    /// their own domain-separation prefix.
    pub(crate) fn keyed_mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }
}

impl fmt::Debug for CodePepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodePepper([REDACTED])")
    }
}

/// The stored form of a code: 64 lower-case hex digits of an HMAC.
///
/// It identifies an account in the database, so it is kept out of logs too.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeHash(String);

impl CodeHash {
    /// The hex digest, for the database.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a digest read from the database.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHash([REDACTED])")
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn code_from_seed(seed: u64) -> AccessCode {
        AccessCode::generate_with(&mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn format_is_four_groups_of_four() {
        let shown = AccessCode::generate().reveal();
        assert_eq!(shown.len(), 19);
        let groups: Vec<&str> = shown.split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(groups.iter().all(|g| g.len() == 4));
        assert!(shown.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = AccessCode::generate();
        let dbg = format!("{code:?}");
        assert!(!dbg.contains(&code.reveal()));
        assert!(dbg.contains("[REDACTED]"));
        let pepper = CodePepper::from_bytes([7; 32]);
        assert_eq!(format!("{pepper:?}"), "CodePepper([REDACTED])");
        assert!(format!("{:?}", pepper.hash(&code)).contains("[REDACTED]"));
    }

    #[test]
    fn errors_do_not_echo_input() {
        let err = AccessCode::parse("ABCD-EFGH-JKMN-PQR!").unwrap_err();
        assert!(!err.to_string().contains("ABCD"));
    }

    #[test]
    fn known_shapes_are_rejected_with_the_right_reason() {
        assert_eq!(AccessCode::parse(""), Err(CodeError::WrongLength));
        assert_eq!(AccessCode::parse("ABC"), Err(CodeError::WrongLength));
        assert_eq!(
            AccessCode::parse("ABCD-EFGH-JKMN-PQRU"),
            Err(CodeError::InvalidCharacter)
        );
        let mut long = code_from_seed(1).reveal();
        long.push('0');
        assert_eq!(AccessCode::parse(&long), Err(CodeError::WrongLength));
    }

    #[test]
    fn pepper_changes_the_hash() {
        let code = code_from_seed(3);
        let a = CodePepper::from_bytes([1; 32]).hash(&code);
        let b = CodePepper::from_bytes([2; 32]).hash(&code);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64);
    }

    proptest! {
        #[test]
        fn generated_codes_round_trip(seed in any::<u64>()) {
            let code = code_from_seed(seed);
            prop_assert_eq!(AccessCode::parse(&code.reveal()), Ok(code));
        }

        #[test]
        fn typing_variants_are_forgiven(seed in any::<u64>(), sep in "[ \\-]{0,3}") {
            let code = code_from_seed(seed);
            let plain: String = code.reveal().chars().filter(|c| *c != '-').collect();
            let typed: String = plain
                .chars()
                .map(|c| match c {
                    '0' => 'o',
                    '1' => 'l',
                    c => c.to_ascii_lowercase(),
                })
                .flat_map(|c| std::iter::once(c).chain(sep.chars()))
                .collect();
            prop_assert_eq!(AccessCode::parse(&typed), Ok(code.clone()));
            let pepper = CodePepper::from_bytes([9; 32]);
            prop_assert_eq!(
                pepper.hash(&AccessCode::parse(&format!("  {typed} ")).expect("parses")),
                pepper.hash(&code)
            );
        }

        #[test]
        fn every_single_substitution_is_caught(seed in any::<u64>(), pos in 0..SYMBOLS, delta in 1u8..32) {
            let code = code_from_seed(seed);
            let mut values = code.0;
            values[pos] = (values[pos] + delta) % 32;
            let typed: String = values.iter().map(|v| char::from(ALPHABET[usize::from(*v)])).collect();
            prop_assert_eq!(AccessCode::parse(&typed), Err(CodeError::CheckFailed));
        }

        /// Whatever is typed, the parser answers: a code that reads back
        /// to itself, or one of three fixed messages that never repeat the
        /// input (a log line or an error page may show them).
        #[test]
        fn any_input_is_a_canonical_code_or_a_fixed_error(input in any::<String>()) {
            match AccessCode::parse(&input) {
                Ok(code) => prop_assert_eq!(AccessCode::parse(&code.reveal()), Ok(code)),
                Err(e) => prop_assert!(
                    [CodeError::WrongLength, CodeError::InvalidCharacter, CodeError::CheckFailed]
                        .iter()
                        .any(|known| known.to_string() == e.to_string())
                ),
            }
        }

        /// Near-codes (symbols, separators and anything else mixed) are
        /// where a parser slips: any character that is neither a symbol
        /// nor a separator refuses the code, wherever it stands.
        #[test]
        fn a_foreign_character_anywhere_is_refused(
            seed in any::<u64>(),
            at in 0usize..=19,
            c in any::<char>(),
        ) {
            prop_assume!(symbol_value(c).is_none());
            prop_assume!(!c.is_whitespace() && !matches!(c, '-' | '‐' | '–' | '—' | '_' | '.'));
            let mut chars: Vec<char> = code_from_seed(seed).reveal().chars().collect();
            chars.insert(at, c);
            let typed: String = chars.into_iter().collect();
            prop_assert_eq!(AccessCode::parse(&typed), Err(CodeError::InvalidCharacter));
        }

        /// Extra symbols, however many, are a wrong length, never a
        /// different code.
        #[test]
        fn extra_symbols_are_a_wrong_length(
            seed in any::<u64>(),
            extra in prop::collection::vec(0usize..32, 1..200),
        ) {
            let code = code_from_seed(seed).reveal();
            let extra: String = extra.iter().map(|v| char::from(ALPHABET[*v])).collect();
            prop_assert_eq!(
                AccessCode::parse(&format!("{code}{extra}")),
                Err(CodeError::WrongLength)
            );
        }

        #[test]
        fn every_neighbour_swap_is_caught(seed in any::<u64>(), pos in 0..SYMBOLS - 1) {
            let code = code_from_seed(seed);
            let mut values = code.0;
            prop_assume!(values[pos] != values[pos + 1]);
            values.swap(pos, pos + 1);
            let typed: String = values.iter().map(|v| char::from(ALPHABET[usize::from(*v)])).collect();
            prop_assert_eq!(AccessCode::parse(&typed), Err(CodeError::CheckFailed));
        }
    }
}
