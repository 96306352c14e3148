//! Object storage for Outpost's bundle repository: a repository URL (`s3://`, `gs://`, `az://`,
//! `http(s)://`, `file://`) opened with `object_store`, with explicit connect and request
//! timeouts and a short retry budget ([`StorageSettings`]; object_store's own default retries for
//! up to three minutes, and a device must notice it is offline sooner), and served to `tough` as
//! its [`tough::Transport`] ([`StoreTransport`]); bundles download resumably and verified
//! ([`download`]); a publisher's repository folder is copied up in a consistent order
//! ([`upload`]); `s3://` keys may come from AWS's shared credentials file ([`aws_credentials`]).

pub mod aws_credentials;
pub mod conditional;
pub mod download;
pub mod location;
pub mod progress;
pub mod settings;
pub mod transport;
pub mod upload;

pub use location::{without_password, RepositoryLocation, StorageError};
pub use progress::{NoProgress, Progress};
pub use settings::StorageSettings;
pub use transport::StoreTransport;
