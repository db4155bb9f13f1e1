//! TOTP (RFC 6238): 6 digits, 30-second steps, SHA-1 (what authenticator
//! apps support), one step of clock skew either way, and never the same
//! step twice (the caller stores the last accepted step).

use chrono::{DateTime, Utc};
use qrcode::QrCode;
use qrcode::render::svg;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Purpose label for sealing TOTP secrets.
pub const SEAL_PURPOSE: &str = "staff-totp";

/// A TOTP secret (160 bits). `Debug` is redacted.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

impl TotpSecret {
    /// Opens a secret sealed for staff member `owner` (the stored
    /// `totp_secret` or `pending_totp_secret`); `None` when there is none
    /// or it does not open.
    pub fn open_sealed(
        seal: &mestring_web::seal::SealKey,
        owner: &str,
        sealed: Option<&[u8]>,
    ) -> Option<Self> {
        sealed
            .and_then(|s| seal.open(SEAL_PURPOSE, owner, s))
            .map(Self::from_bytes)
    }

    /// The enrolment QR code (inline SVG) for `account` (the e-mail shown in
    /// the authenticator app), titled `title`.
    pub fn enrolment_qr(&self, account: &str, title: &str) -> String {
        qr_svg(&self.otpauth_uri(account), title)
    }

    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps raw secret bytes (after unsealing).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Parses the base32 form (tests and the demo print it).
    pub fn from_base32(s: &str) -> Option<Self> {
        Secret::Encoded(s.trim().to_uppercase())
            .to_bytes()
            .ok()
            .map(Self)
    }

    /// The raw bytes, for sealing.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 (RFC 4648, no padding), for typing into an app.
    pub fn base32(&self) -> String {
        match Secret::Raw(self.0.clone()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => String::new(),
        }
    }

    fn totp(&self) -> TOTP {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECS as u64, self.0.clone())
    }

    /// The code for the step containing `at`.
    pub fn code_at(&self, at: DateTime<Utc>) -> String {
        self.totp().generate(at.timestamp().max(0) as u64)
    }

    /// If `code` is valid at `now` (±1 step), the step it belongs to.
    pub fn verify(&self, code: &str, now: DateTime<Utc>) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.timestamp().div_euclid(STEP_SECS);
        let totp = self.totp();
        let mut found = None;
        // Check every candidate so timing does not tell which one matched.
        for step in [current - 1, current, current + 1] {
            let expected = totp.generate((step.max(0) * STEP_SECS) as u64);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }

    /// The `otpauth://` URI authenticator apps read from the QR code.
    pub fn otpauth_uri(&self, account: &str) -> String {
        format!(
            "otpauth://totp/Mestring:{}?secret={}&issuer=Mestring&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            percent_encode(account),
            self.base32()
        )
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An inline SVG QR code for `data`, rendered on the server. Only SVG
/// attributes are used (no `style`), so the strict CSP allows it.
pub fn qr_svg(data: &str, title: &str) -> String {
    let Ok(code) = QrCode::new(data.as_bytes()) else {
        return String::new();
    };
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Drop the XML declaration for inline use and label the image.
    let start = svg.find("<svg").unwrap_or(0);
    let body = &svg[start..];
    let title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    body.replacen(
        "<svg",
        &format!("<svg role=\"img\" aria-label=\"{title}\""),
        1,
    )
    .replacen('>', &format!("><title>{title}</title>"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rfc6238_vector_and_skew() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890".
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let t = Utc.timestamp_opt(59, 0).single().expect("time");
        assert_eq!(s.code_at(t), "287082");
        let t2 = Utc.timestamp_opt(1_111_111_109, 0).single().expect("time");
        assert_eq!(s.code_at(t2), "081804");
        let step = t2.timestamp() / 30;
        assert_eq!(s.verify("081804", t2), Some(step));
        assert_eq!(
            s.verify("081804", t2 + chrono::Duration::seconds(30)),
            Some(step)
        );
        assert_eq!(s.verify("081804", t2 + chrono::Duration::seconds(90)), None);
        assert_eq!(s.verify("12345", t2), None);
        assert_eq!(format!("{s:?}"), "TotpSecret([REDACTED])");
        let b = TotpSecret::from_base32(&s.base32()).expect("round trip");
        assert_eq!(b.as_bytes(), s.as_bytes());
    }

    #[test]
    fn qr_is_inline_svg_without_style() {
        let svg = qr_svg("otpauth://totp/x?secret=ABC", "QR code");
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("style="));
        assert!(svg.contains("<title>QR code</title>"));
    }
}
