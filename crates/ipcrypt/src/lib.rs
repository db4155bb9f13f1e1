//! mestring-ipcrypt: the IP-encryption layer (promise 7 in docs/architecture.md).
//!
//! The client's address is taken once, by the outermost middleware ([`IpLayer`]), and goes
//! no further in clear:
//!
//! - handlers and other middleware get a [`RequestIp`], which offers a keyed pseudonym
//!   ([`IpTag`], HMAC-SHA256 under a daily random key) and sealing ([`SealedIp`],
//!   XChaCha20-Poly1305 under a key from the key file), never the address;
//! - failed logins are rate limited per tag and globally ([`IpState::login_gate`],
//!   [`IpState::record_failed_login`]) with the `governor` crate;
//! - blocks are stored as keyed block hashes ([`BlockKey::block_hash`]), not addresses;
//! - security events ([`SecurityEvent`]) carry time, kind, tag and sealed address only,
//!   and go to a [`SecurityEventSink`] implemented by the server;
//! - only the audited break-glass CLI opens sealed values ([`SealingKeyRing::open`]).
//!
//! The crate has no database dependency: the server stores tag keys, block hashes and
//! security events, and implements the sink. See `docs/ip-layer.md` for the operator's
//! view, and [`seal`] for the sealed format and the key file.
//!
//! Nothing in this crate logs an address, a tag or a key; `Debug` of every type that holds
//! one prints `[REDACTED]` (or, for [`IpTag`], a 3-byte prefix).

#![forbid(unsafe_code)]

mod client_ip;
mod events;
mod middleware;
pub mod seal;
mod state;
mod tag;

pub use client_ip::{ClientIp, TrustedProxies, TrustedProxiesError, extract_client_ip, normalise};
pub use events::{
    MemoryEventSink, NullSink, SecurityEvent, SecurityEventKind, SecurityEventSink, UnknownKind,
};
pub use middleware::{BLOCKED_PAGE, IpLayer, IpLayerMiddleware};
pub use seal::{
    BlockKey, KeyId, KeyRingError, OpenError, SEAL_VERSION, SEALED_LEN, SealedIp, SealingKeyRing,
};
pub use state::{IpState, IpStateConfig, LoginLimits, NowFn, RequestIp, RetryAfter, system_clock};
pub use tag::{IpTag, TagKey, TagKeys};
