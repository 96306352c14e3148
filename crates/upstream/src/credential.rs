//! The credential an upstream asks for: a header value read once, when the model loads, from
//! `auth_file` (its first line) or `auth_env`. It is never logged: its type shows only where it
//! came from.

use outpost_core::{CredentialError, UpstreamConfig};

/// A header and its secret value.
pub struct Credential {
    /// The header's name, lower case (`authorization`).
    pub header: String,
    /// The value.
    pub value: String,
    source: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({} from {})", self.header, self.source)
    }
}

/// The credential `config` names, if any; an unreadable file, an unset variable or an empty
/// value is an error (a model that needs a credential does not load without one).
pub fn read(config: &UpstreamConfig) -> Result<Option<Credential>, CredentialError> {
    let (value, source) = match (&config.auth_file, &config.auth_env) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file).map_err(|source| CredentialError::File {
                path: file.clone(),
                source,
            })?;
            let value = text.lines().next().unwrap_or_default().trim().to_string();
            (value, format!("file {}", file.display()))
        }
        (None, Some(variable)) => {
            let value =
                std::env::var(variable).map_err(|_| CredentialError::Unset(variable.clone()))?;
            (
                value.trim().to_string(),
                format!("environment variable {variable}"),
            )
        }
        (None, None) => return Ok(None),
    };
    if value.is_empty() {
        return Err(CredentialError::Empty(source));
    }
    let header = config.auth_header.trim().to_ascii_lowercase();
    if header.is_empty()
        || !header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(CredentialError::Header(config.auth_header.clone()));
    }
    Ok(Some(Credential {
        header,
        value,
        source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_from_a_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "Bearer s3cret\nignored\n").unwrap();
        let config: UpstreamConfig =
            toml::from_str(&format!("url = \"http://x\"\nauth_file = {:?}", file)).unwrap();
        let credential = read(&config).unwrap().unwrap();
        assert_eq!(credential.header, "authorization");
        assert_eq!(credential.value, "Bearer s3cret");
        assert!(!format!("{credential:?}").contains("s3cret"));

        std::fs::write(&file, "\n").unwrap();
        assert!(read(&config).unwrap_err().to_string().contains("empty"));
        let config: UpstreamConfig =
            toml::from_str("url = \"http://x\"\nauth_env = \"OUTPOST_TEST_UNSET_VARIABLE\"")
                .unwrap();
        assert!(matches!(read(&config), Err(CredentialError::Unset(_))));
    }
}
