//! A SHA-256 digest ([`Sha256`]): the one type every crate uses for a file's or a bundle's hash
//! (the bundle manifest, the signed repository's targets, downloads, the agent's records),
//! written as 64 lower-case hex digits wherever it is shown or stored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

/// Text that is not a SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{0}' is not a sha256: 64 lower-case hex digits")]
pub struct NotASha256(pub String);

impl Sha256 {
    /// The digest of these bytes (as a hasher gives them).
    pub const fn from_bytes(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest in 64 lower-case hex digits (also its `Display`).
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl From<[u8; 32]> for Sha256 {
    fn from(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }
}

impl TryFrom<&[u8]> for Sha256 {
    type Error = NotASha256;

    fn try_from(bytes: &[u8]) -> Result<Sha256, NotASha256> {
        <[u8; 32]>::try_from(bytes)
            .map(Sha256)
            .map_err(|_| NotASha256(format!("{} bytes", bytes.len())))
    }
}

impl FromStr for Sha256 {
    type Err = NotASha256;

    /// Exactly 64 lower-case hex digits: the form every file and record writes.
    fn from_str(text: &str) -> Result<Sha256, NotASha256> {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(NotASha256(text.to_string()));
        }
        let mut digest = [0u8; 32];
        for (at, pair) in bytes.chunks_exact(2).enumerate() {
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => digest[at] = high << 4 | low,
                _ => return Err(NotASha256(text.to_string())),
            }
        }
        Ok(Sha256(digest))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_only_the_written_form_reads() {
        let text = "00ff10".to_string() + &"ab".repeat(29);
        let digest: Sha256 = text.parse().unwrap();
        assert_eq!(digest.as_bytes()[1], 0xff);
        assert_eq!(digest.to_string(), text);
        assert_eq!(
            serde_json::to_string(&digest).unwrap(),
            format!("\"{text}\"")
        );
        let back: Sha256 = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(back, digest);
        for bad in [
            &text[..62],
            &text.to_uppercase(),
            &format!("{}zz", &text[..62]),
        ] {
            let error = bad.parse::<Sha256>().unwrap_err();
            assert!(
                error.to_string().contains("64 lower-case hex digits"),
                "{error}"
            );
        }
        assert!(Sha256::try_from(&[0u8; 31][..]).is_err());
    }
}
