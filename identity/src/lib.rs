//! Identity and access: who a caller is, and what they may act for.
//!
//! - An **account** is a person: it watches, likes, follows and buys; with a handle it is also a
//!   creator (uploads, earns commission). An anonymous viewer is an account without an email,
//!   made for a phone or browser that has not signed up, so its feed learns from its own events.
//!   Operators are accounts with `role = admin`.
//! - A **shop** is a seller: products, the tags a seller places, orders to fulfil and analytics
//!   belong to it; its members act for it, only its owner manages members and keys.
//! - A caller proves who they are with a **session** (an opaque token that expires: absolute
//!   lifetime and idle timeout) or an **API key** (scoped, optionally bound to one shop,
//!   revocable). `principal::authenticate` is the one way from a token to a `Principal`;
//!   `principal::Callers` keeps its answers between requests until the identity change
//!   generation moves.
//!
//! Secrets (session tokens, API keys, one-time links) are random and stored as SHA-256 hashes;
//! passwords as argon2id. Nothing here knows HTTP.

pub mod accounts;
pub mod api_keys;
pub mod auth;
pub mod handle;
pub mod mail;
pub mod password;
pub mod principal;
pub mod script;
pub mod sessions;
pub mod shops;
pub mod throttle;
pub mod tokens;
mod touch;
pub mod upgrade;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new secret: `prefix` + 64 hex digits (256 random bits).
pub(crate) fn new_secret(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("{prefix}{}", hex::encode(raw))
}

/// How secrets are stored: their SHA-256, in hex. A leaked database leaks no credential.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
