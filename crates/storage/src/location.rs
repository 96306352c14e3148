//! A repository URL opened as an object store and the path of the repository inside it. Cloud
//! credentials and endpoints come from the environment, as each cloud's tools take them
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`; e.g. `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for an
//! S3-compatible server on a local network). S3 requests are path-style unless
//! `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as S3Key};
use object_store::azure::{AzureConfigKey as AzureKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as GcsKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ClientOptions, ObjectStore, RetryConfig};
use thiserror::Error;
use url::Url;

use crate::settings::StorageSettings;

/// Why a repository URL could not be opened.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The URL does not parse or names no supported store.
    #[error("repository URL '{url}': {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// object_store refused the configuration.
    #[error("cannot open {url}: {source}")]
    Open {
        /// The URL.
        url: String,
        /// object_store's error.
        source: object_store::Error,
    },
}

/// An opened repository: the store and the folder of the repository in it.
#[derive(Debug, Clone)]
pub struct RepositoryLocation {
    /// The URL as given, ending in '/'.
    pub url: Url,
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The repository's folder inside the store (empty for its root).
    pub prefix: Path,
}

/// The builder with the keys of `AWS_SHARED_CREDENTIALS_FILE`, when the environment gives that
/// file and no keys of its own.
fn with_shared_credentials(builder: AmazonS3Builder) -> Result<AmazonS3Builder, String> {
    let keys = crate::aws_credentials::from_environment().map_err(|e| e.to_string())?;
    Ok(match keys {
        None => builder,
        Some(keys) => {
            let builder = builder
                .with_access_key_id(keys.access_key_id)
                .with_secret_access_key(keys.secret_access_key);
            match keys.session_token {
                Some(token) => builder.with_token(token),
                None => builder,
            }
        }
    })
}

/// `url` as it may be shown: a password in it (`https://user:secret@host/`) is replaced by
/// `***`, also in text that does not parse as a URL.
pub fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let user_info = &authority[..at];
    match user_info.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &user_info[..colon],
            &url[scheme_end + at..]
        ),
        None => url.to_string(),
    }
}

impl RepositoryLocation {
    /// The location's URL as it may be shown (without a password).
    pub fn shown_url(&self) -> String {
        without_password(self.url.as_str())
    }

    /// Opens `url` with `settings`. A local path without a scheme is taken as a folder.
    pub fn open(url: &str, settings: &StorageSettings) -> Result<RepositoryLocation, StorageError> {
        let bad = |reason: String| StorageError::Url {
            url: without_password(url),
            reason,
        };
        let mut parsed = match Url::parse(url) {
            Ok(parsed) => parsed,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                let absolute = std::path::absolute(url).map_err(|e| bad(e.to_string()))?;
                Url::from_directory_path(absolute).map_err(|()| bad("not a usable path".into()))?
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        if !parsed.path().ends_with('/') {
            let path = format!("{}/", parsed.path());
            parsed.set_path(&path);
        }
        // The cloud builders take their client settings from the environment too (such as
        // AWS_ALLOW_HTTP); the timeouts are set key by key so as not to replace those.
        let connect = format!("{}ms", settings.connect_timeout.as_millis());
        let request = format!("{}ms", settings.request_timeout.as_millis());
        let stall = format!("{}ms", settings.stall_timeout.as_millis());
        let client = ClientOptions::new()
            .with_connect_timeout(settings.connect_timeout)
            .with_timeout(settings.request_timeout)
            .with_read_timeout(settings.stall_timeout);
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: settings.max_retries,
            retry_timeout: settings.retry_timeout,
        };
        let opened = |result: Result<Arc<dyn ObjectStore>, object_store::Error>| {
            result.map_err(|source| StorageError::Open {
                url: without_password(url),
                source,
            })
        };
        let bucket_prefix = || Path::from(parsed.path().trim_matches('/'));
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "s3" => (
                opened(
                    with_shared_credentials(AmazonS3Builder::from_env())
                        .map_err(bad)?
                        .with_url(parsed.as_str())
                        .with_config(S3Key::Client(ClientConfigKey::ConnectTimeout), &connect)
                        .with_config(S3Key::Client(ClientConfigKey::Timeout), &request)
                        .with_config(S3Key::Client(ClientConfigKey::ReadTimeout), &stall)
                        .with_retry(retry)
                        .build()
                        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
                )?,
                bucket_prefix(),
            ),
            "gs" => (
                opened(
                    GoogleCloudStorageBuilder::from_env()
                        .with_url(parsed.as_str())
                        .with_config(GcsKey::Client(ClientConfigKey::ConnectTimeout), &connect)
                        .with_config(GcsKey::Client(ClientConfigKey::Timeout), &request)
                        .with_config(GcsKey::Client(ClientConfigKey::ReadTimeout), &stall)
                        .with_retry(retry)
                        .build()
                        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
                )?,
                bucket_prefix(),
            ),
            "az" | "azure" | "abfs" | "abfss" => (
                opened(
                    MicrosoftAzureBuilder::from_env()
                        .with_url(parsed.as_str())
                        .with_config(AzureKey::Client(ClientConfigKey::ConnectTimeout), &connect)
                        .with_config(AzureKey::Client(ClientConfigKey::Timeout), &request)
                        .with_config(AzureKey::Client(ClientConfigKey::ReadTimeout), &stall)
                        .with_retry(retry)
                        .build()
                        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
                )?,
                bucket_prefix(),
            ),
            "http" | "https" => {
                let mut origin = parsed.clone();
                origin.set_path("/");
                (
                    opened(
                        HttpBuilder::new()
                            .with_url(origin.as_str())
                            // A URL written http:// asks for plain HTTP (the client refuses
                            // it unless told).
                            .with_client_options(client.with_allow_http(parsed.scheme() == "http"))
                            .with_retry(retry)
                            .build()
                            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
                    )?,
                    bucket_prefix(),
                )
            }
            "file" => {
                let folder = parsed
                    .to_file_path()
                    .map_err(|()| bad("not a local path".into()))?;
                (
                    opened(
                        LocalFileSystem::new_with_prefix(&folder)
                            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
                    )?,
                    Path::default(),
                )
            }
            other => {
                return Err(bad(format!(
                    "unsupported scheme '{other}' (s3, gs, az, http, https, file)"
                )))
            }
        };
        Ok(RepositoryLocation {
            url: parsed,
            store,
            prefix,
        })
    }

    /// The URL of `child` (a folder, e.g. `metadata/`) inside the repository.
    pub fn join(&self, child: &str) -> Url {
        self.url.join(child).unwrap_or_else(|_| self.url.clone())
    }

    /// The store path of `url`, which must lie inside the repository.
    pub fn path_of(&self, url: &Url) -> Option<Path> {
        let relative = url.path().strip_prefix(self.url.path())?;
        let mut path = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            if part == "." || part == ".." {
                return None;
            }
            path = path.join(part);
        }
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            without_password("https://cam:s3cret@ingest.example.com/results"),
            "https://cam:***@ingest.example.com/results"
        );
        assert_eq!(
            without_password("https://cam@ingest.example.com/a@b"),
            "https://cam@ingest.example.com/a@b"
        );
        assert_eq!(without_password("s3://bucket/prefix"), "s3://bucket/prefix");
        assert_eq!(without_password("/var/lib/outbox"), "/var/lib/outbox");
        // Also when the rest does not parse.
        let refused =
            RepositoryLocation::open("https://cam:s3cret@bad host/", &StorageSettings::default())
                .unwrap_err()
                .to_string();
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(refused.contains("cam:***@bad host"), "{refused}");
        let opened = RepositoryLocation::open(
            "https://cam:s3cret@ingest.example.com/results",
            &StorageSettings::default(),
        )
        .unwrap();
        assert!(!opened.shown_url().contains("s3cret"));
    }

    /// A plain-HTTP server that answers one request with `body` and gives back the request line.
    fn answer_once(body: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            request_line
        });
        (port, server)
    }

    #[tokio::test]
    async fn an_http_url_is_served_over_plain_http() {
        use object_store::ObjectStoreExt;
        let (port, server) = answer_once("signed metadata");
        let location = RepositoryLocation::open(
            &format!("http://127.0.0.1:{port}/repo"),
            &StorageSettings::default(),
        )
        .unwrap();
        let path = location.prefix.clone().join("timestamp.json");
        let got = location
            .store
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], b"signed metadata");
        assert!(server
            .join()
            .unwrap()
            .starts_with("GET /repo/timestamp.json "));
    }
}
