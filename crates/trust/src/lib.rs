//! Outpost's model repository trust, on standard TUF (specification 1.0) through `tough`: a
//! publisher signs model bundles into a repository ([`publisher`]: `init`, `publish`,
//! `refresh`, and [`renewal`]: what to re-sign before it lapses), and a device reads only what
//! that repository's root of trust vouches for ([`client`]). Keys are ed25519 files ([`keys`]); bundles are flat-named targets
//! (`<model>-<version>.bundle`) carrying their model and version as custom fields.

pub mod client;
pub mod error;
pub mod fleet;
pub mod keys;
pub mod listing;
pub mod publisher;
pub mod renewal;
pub mod rollout;

pub use client::TrustedRepository;
pub use error::{Failure, TrustError};
pub use listing::{BundleTarget, SignedControl};
pub use publisher::Publisher;
pub use renewal::{versions_named, Expiries, Renewal, RenewalPlan, SignedExpiries};
pub use rollout::{admission, device_seed, Admission, Control, Schedule, Wave};
