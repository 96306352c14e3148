//! AWS's shared credentials file for `s3://` locations: the file `AWS_SHARED_CREDENTIALS_FILE`
//! names (INI: `[profile]` sections of `aws_access_key_id`, `aws_secret_access_key` and
//! optionally `aws_session_token`; the profile `AWS_PROFILE` names, else `default`). A container
//! can so take its keys as a mounted secret file rather than as variables. Keys in the
//! environment (`AWS_ACCESS_KEY_ID`) win; an empty file, or one without the profile, gives none.

use std::path::Path;

/// Keys read from the file. Never shown: its `Debug` names only the key id's first characters.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedCredentials {
    /// `aws_access_key_id`.
    pub access_key_id: String,
    /// `aws_secret_access_key`.
    pub secret_access_key: String,
    /// `aws_session_token`, for temporary keys.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for SharedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.access_key_id.chars().take(4).collect();
        write!(f, "SharedCredentials({shown}…)")
    }
}

/// Why a shared credentials file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsFileError {
    /// The file could not be read.
    #[error("AWS_SHARED_CREDENTIALS_FILE {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the profile is not `key = value`.
    #[error("not a 'key = value' line in profile [{profile}]")]
    Line {
        /// The profile.
        profile: String,
    },
    /// The profile lacks a key or its secret.
    #[error("profile [{profile}] needs aws_access_key_id and aws_secret_access_key")]
    Incomplete {
        /// The profile.
        profile: String,
    },
    /// The file's profile is not usable.
    #[error("AWS_SHARED_CREDENTIALS_FILE {path}: {source}")]
    In {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong in it.
        source: Box<CredentialsFileError>,
    },
}

/// Parses the text of a credentials file for `profile`; `Err` names what is missing.
pub fn parse(text: &str, profile: &str) -> Result<Option<SharedCredentials>, CredentialsFileError> {
    let mut in_profile = false;
    let mut found = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            found |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(CredentialsFileError::Line {
                profile: profile.to_string(),
            });
        };
        let value = value.trim().to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => id = Some(value),
            "aws_secret_access_key" => secret = Some(value),
            "aws_session_token" => token = Some(value),
            _ => {}
        }
    }
    match (found, id, secret) {
        (false, _, _) => Ok(None),
        (true, Some(access_key_id), Some(secret_access_key)) => Ok(Some(SharedCredentials {
            access_key_id,
            secret_access_key,
            session_token: token,
        })),
        (true, _, _) => Err(CredentialsFileError::Incomplete {
            profile: profile.to_string(),
        }),
    }
}

/// The keys from `AWS_SHARED_CREDENTIALS_FILE`, when it is set and the environment has no
/// `AWS_ACCESS_KEY_ID` of its own.
pub fn from_environment() -> Result<Option<SharedCredentials>, CredentialsFileError> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        return Ok(None);
    }
    let Some(file) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") else {
        return Ok(None);
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
    let path = Path::new(&file);
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &profile).map_err(|e| CredentialsFileError::In {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_profile_and_nothing_else() {
        let text = "# keys\n[other]\naws_access_key_id = OTHER\naws_secret_access_key = x\n\n\
                    [default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cr3t\n\
                    aws_session_token = tok\nregion = eu-west-1\n";
        let keys = parse(text, "default").unwrap().unwrap();
        assert_eq!(keys.access_key_id, "AKIAEXAMPLE");
        assert_eq!(keys.secret_access_key, "s3cr3t");
        assert_eq!(keys.session_token.as_deref(), Some("tok"));
        assert!(!format!("{keys:?}").contains("s3cr3t"));
        assert_eq!(
            parse(text, "other").unwrap().unwrap().access_key_id,
            "OTHER"
        );
        assert_eq!(parse(text, "absent").unwrap(), None);
        assert_eq!(parse("", "default").unwrap(), None);
        assert!(parse("[default]\naws_access_key_id = A\n", "default").is_err());
        assert!(parse("[default]\nnonsense\n", "default").is_err());
    }
}
