//! API keys: `vos_` + 32 random base62 characters + a 6-character base62 CRC32 checksum, as
//! GitHub's token format does. The checksum lets the gateway reject a mistyped or made-up key
//! without a database query, and lets secret scanners match our keys with few false positives.
//! Only an HMAC-SHA-256 of the key (keyed with `[auth] pepper`) is ever stored.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;

/// Every key starts with this, so scanners and people can tell what it is.
pub const PREFIX: &str = "vos_";
/// Random base62 characters: 32 × log2(62) ≈ 190 bits.
const RANDOM_CHARS: usize = 32;
/// CRC32 in base62 (62^6 > 2^32).
const CHECKSUM_CHARS: usize = 6;
/// The whole key: `vos_` + random + checksum.
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS;
/// What is shown of a key in listings, logs and spans: `vos_` + 8 characters (≈ 48 bits, too
/// few to guess the rest from, enough to tell keys apart).
const DISPLAY_LEN: usize = PREFIX.len() + 8;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A well-formed API key (its checksum matched). Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why a presented key is not even worth looking up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("not a vos_ key of the right length and alphabet")]
    Malformed,
    #[error("the key's checksum does not match")]
    Checksum,
}

impl ApiKey {
    /// A new random key, from the operating system's CSPRNG via `rand`'s thread-local
    /// generator (ChaCha, reseeded from the OS).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let random: String = (0..RANDOM_CHARS)
            .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
            .collect();
        let checksum = checksum(random.as_bytes());
        Self(format!("{PREFIX}{random}{checksum}"))
    }

    /// Checks the format and the checksum: no I/O, constant work.
    ///
    /// ```
    /// use vos_gateway::domain::{ApiKey, KeyFormatError};
    ///
    /// let key = ApiKey::generate();
    /// assert_eq!(ApiKey::parse(key.expose()), Ok(key.clone()));
    /// let mut typo = key.expose().to_owned();
    /// typo.replace_range(10..11, if &typo[10..11] == "a" { "b" } else { "a" });
    /// assert_eq!(ApiKey::parse(&typo), Err(KeyFormatError::Checksum));
    /// assert_eq!(ApiKey::parse("vos_short"), Err(KeyFormatError::Malformed));
    /// ```
    pub fn parse(value: &str) -> Result<Self, KeyFormatError> {
        let Some(rest) = value.strip_prefix(PREFIX) else {
            return Err(KeyFormatError::Malformed);
        };
        if rest.len() != RANDOM_CHARS + CHECKSUM_CHARS
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(KeyFormatError::Malformed);
        }
        let (random, sum) = rest.split_at(RANDOM_CHARS);
        if checksum(random.as_bytes()) != sum {
            return Err(KeyFormatError::Checksum);
        }
        Ok(Self(value.to_owned()))
    }

    /// The key itself, to show once to whoever created it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The part shown in listings, logs and spans.
    pub fn display_prefix(&self) -> &str {
        &self.0[..DISPLAY_LEN]
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.display_prefix())
    }
}

/// Base62 CRC32 of the random part, zero-padded to six characters.
fn checksum(random: &[u8]) -> String {
    let mut value = crc32fast::hash(random);
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 is ASCII")
}

/// Hashes keys for storage and lookup: HMAC-SHA-256 keyed with the pepper. A random key of
/// 190 bits needs no slow KDF (there is nothing to brute-force); the pepper, kept out of the
/// database, makes a stolen dump useless even for confirming a leaked key.
#[derive(Clone)]
pub struct KeyHasher(Hmac<Sha256>);

impl KeyHasher {
    pub fn new(pepper: &str) -> Self {
        Self(Hmac::new_from_slice(pepper.as_bytes()).expect("HMAC takes keys of any length"))
    }

    pub fn hash(&self, key: &ApiKey) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(key.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_eq!(a.expose().len(), KEY_LEN);
        assert_ne!(a, b);
        assert_eq!(ApiKey::parse(a.expose()), Ok(a.clone()));
        assert!(a.display_prefix().starts_with("vos_") && a.display_prefix().len() == 12);
        assert!(!format!("{a:?}").contains(&a.expose()[DISPLAY_LEN..]));
    }

    #[test]
    fn malformed_keys_are_rejected_before_any_lookup() {
        let good = ApiKey::generate();
        let wrong_prefix = good.expose().replacen("vos_", "sos_", 1);
        let long = format!("{}x", good.expose());
        let non_alnum = format!("{}-", &good.expose()[..KEY_LEN - 1]);
        for bad in ["", "vos_", "Bearer", &wrong_prefix, &long, &non_alnum] {
            assert_eq!(
                ApiKey::parse(bad),
                Err(KeyFormatError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_single_character_typo_fails_the_checksum() {
        let key = ApiKey::generate();
        let mut failures = 0;
        for i in PREFIX.len()..KEY_LEN {
            let mut typo = key.expose().as_bytes().to_vec();
            typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).unwrap();
            if ApiKey::parse(&typo) == Err(KeyFormatError::Checksum) {
                failures += 1;
            }
        }
        assert_eq!(failures, RANDOM_CHARS + CHECKSUM_CHARS);
    }

    #[test]
    fn the_hash_depends_on_the_pepper() {
        let key = ApiKey::generate();
        assert_eq!(
            KeyHasher::new("p").hash(&key),
            KeyHasher::new("p").hash(&key)
        );
        assert_ne!(
            KeyHasher::new("p").hash(&key),
            KeyHasher::new("q").hash(&key)
        );
    }
}
