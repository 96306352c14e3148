//! How long signatures last ([`Expiries`]), and keeping a repository's short-lived ones fresh
//! (`outpost repo refresh --due` from a timer, or `--loop`): which roles are due for re-signing
//! and when to look again. A role is
//! due once less than half of its lifetime is left, so that a renewal that runs late (a timer
//! that missed a run, a publisher machine that was down for a while) still finds every
//! signature valid. timestamp.json alone is re-signed with the timestamp key only; targets or
//! snapshot due means all three are signed again (each names the version of the one below).

use jiff::{SignedDuration, Timestamp};

use crate::error::TrustError;

/// How long each role's signature stays valid after signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiries {
    /// root.json (re-signed only by a new root).
    pub root: SignedDuration,
    /// targets.json.
    pub targets: SignedDuration,
    /// snapshot.json.
    pub snapshot: SignedDuration,
    /// timestamp.json: the shortest, so a device notices a frozen repository soon.
    pub timestamp: SignedDuration,
}

impl Default for Expiries {
    fn default() -> Self {
        let days = |n: i64| SignedDuration::from_hours(24 * n);
        Expiries {
            root: days(365),
            targets: days(90),
            snapshot: days(7),
            timestamp: days(1),
        }
    }
}

/// The soonest a renewal loop looks again after a renewal (a lifetime of a second or two
/// would otherwise spin).
const MIN_RECHECK: SignedDuration = SignedDuration::from_secs(1);

/// When the signatures of a repository's short-lived roles lapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedExpiries {
    /// targets.json.
    pub targets: Timestamp,
    /// snapshot.json.
    pub snapshot: Timestamp,
    /// timestamp.json.
    pub timestamp: Timestamp,
}

/// What a renewal signs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing is due.
    Nothing,
    /// timestamp.json alone (the timestamp key only).
    Timestamp,
    /// targets, snapshot and timestamp: targets or snapshot is due.
    All,
}

/// A renewal decided at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalPlan {
    /// What to sign now.
    pub renew: Renewal,
    /// The expiries once that is signed.
    pub after: SignedExpiries,
    /// When the next role becomes due, once that is signed.
    pub next_check: Timestamp,
}

/// When a role that lapses at `expires` and is signed for `lifetime` at a time becomes due.
fn due_at(expires: Timestamp, lifetime: SignedDuration) -> Timestamp {
    expires.checked_sub(lifetime / 2).unwrap_or(Timestamp::MIN)
}

/// What to re-sign at `now`, given the repository's `current` expiries and the `lifetimes` new
/// signatures get (each must be positive: the caller checks).
pub fn plan(current: &SignedExpiries, lifetimes: &Expiries, now: Timestamp) -> RenewalPlan {
    let is_due = |expires, lifetime| now >= due_at(expires, lifetime);
    let renew = if is_due(current.targets, lifetimes.targets)
        || is_due(current.snapshot, lifetimes.snapshot)
    {
        Renewal::All
    } else if is_due(current.timestamp, lifetimes.timestamp) {
        Renewal::Timestamp
    } else {
        Renewal::Nothing
    };
    let signed_now = |lifetime: SignedDuration| now.checked_add(lifetime).unwrap_or(Timestamp::MAX);
    let after = match renew {
        Renewal::Nothing => *current,
        Renewal::Timestamp => SignedExpiries {
            timestamp: signed_now(lifetimes.timestamp),
            ..*current
        },
        Renewal::All => SignedExpiries {
            targets: signed_now(lifetimes.targets),
            snapshot: signed_now(lifetimes.snapshot),
            timestamp: signed_now(lifetimes.timestamp),
        },
    };
    let next_check = [
        due_at(after.targets, lifetimes.targets),
        due_at(after.snapshot, lifetimes.snapshot),
        due_at(after.timestamp, lifetimes.timestamp),
    ]
    .into_iter()
    .min()
    .unwrap_or(now)
    .max(now.checked_add(MIN_RECHECK).unwrap_or(Timestamp::MAX));
    RenewalPlan {
        renew,
        after,
        next_check,
    }
}

/// A metadata file's own version and the version it names of `named` (`snapshot.json` in a
/// timestamp, `targets.json` in a snapshot), read without checking signatures: what a renewal
/// needs to fetch the newest published metadata, which loading then verifies.
pub fn versions_named(metadata: &[u8], named: &str) -> Result<(u64, u64), TrustError> {
    let malformed = || TrustError::Repository(format!("metadata naming {named} is malformed"));
    let value: serde_json::Value = serde_json::from_slice(metadata).map_err(|_| malformed())?;
    let signed = &value["signed"];
    let own = signed["version"].as_u64().ok_or_else(malformed)?;
    let other = signed["meta"][named]["version"]
        .as_u64()
        .ok_or_else(malformed)?;
    Ok((own, other))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(n: i64) -> SignedDuration {
        SignedDuration::from_hours(n)
    }

    fn lifetimes(timestamp: SignedDuration) -> Expiries {
        Expiries {
            root: hours(24 * 365),
            targets: hours(24 * 90),
            snapshot: hours(24 * 7),
            timestamp,
        }
    }

    fn signed_at(at: Timestamp, lifetimes: &Expiries) -> SignedExpiries {
        SignedExpiries {
            targets: at + lifetimes.targets,
            snapshot: at + lifetimes.snapshot,
            timestamp: at + lifetimes.timestamp,
        }
    }

    #[test]
    fn the_versions_a_timestamp_names_are_read_and_garbage_is_refused() {
        let timestamp = br#"{"signed": {"version": 7, "meta": {"snapshot.json": {"version": 5}}}}"#;
        assert_eq!(versions_named(timestamp, "snapshot.json").unwrap(), (7, 5));
        assert!(versions_named(timestamp, "targets.json").is_err());
        assert!(versions_named(b"<html>", "snapshot.json").is_err());
    }

    #[test]
    fn a_one_hour_timestamp_stays_valid_for_three_hours_with_only_the_timestamp_re_signed() {
        let lifetimes = lifetimes(hours(1));
        let start: Timestamp = "2026-12-06T00:00:00Z".parse().unwrap();
        let mut expiries = signed_at(start, &lifetimes);
        let mut now = start;
        let mut renewals = 0;
        let mut wake = start;
        // Minute by minute for three hours; the loop acts at the moments it asked to wake.
        while now <= start + hours(3) {
            if now >= wake {
                let plan = plan(&expiries, &lifetimes, now);
                assert_ne!(plan.renew, Renewal::All, "at {now}");
                if plan.renew == Renewal::Timestamp {
                    renewals += 1;
                }
                expiries = plan.after;
                assert!(plan.next_check > now);
                wake = plan.next_check;
            }
            assert!(expiries.timestamp > now, "timestamp lapsed at {now}");
            assert!(expiries.snapshot > now && expiries.targets > now);
            now += SignedDuration::from_mins(1);
        }
        // Every half hour: six renewals in three hours.
        assert_eq!(renewals, 6);
    }

    #[test]
    fn a_renewal_that_runs_late_still_finds_every_signature_valid() {
        let lifetimes = lifetimes(hours(24));
        let start: Timestamp = "2026-12-06T00:00:00Z".parse().unwrap();
        let expiries = signed_at(start, &lifetimes);
        let first = plan(&expiries, &lifetimes, start);
        assert_eq!(first.renew, Renewal::Nothing);
        assert_eq!(first.next_check, start + hours(12));
        // The timer missed runs for eleven hours past the moment it was due.
        let late = first.next_check + hours(11);
        assert!(expiries.timestamp > late);
        let renewed = plan(&expiries, &lifetimes, late);
        assert_eq!(renewed.renew, Renewal::Timestamp);
        assert_eq!(renewed.after.timestamp, late + hours(24));
        assert_eq!(renewed.after.snapshot, expiries.snapshot);
    }

    #[test]
    fn snapshot_or_targets_due_signs_all_three_and_the_next_check_is_the_soonest_half_life() {
        let lifetimes = lifetimes(hours(24));
        let now: Timestamp = "2026-12-06T00:00:00Z".parse().unwrap();
        let expiries = SignedExpiries {
            targets: now + hours(24 * 80),
            snapshot: now + hours(24 * 3),
            timestamp: now + hours(20),
        };
        let plan = plan(&expiries, &lifetimes, now);
        assert_eq!(plan.renew, Renewal::All);
        assert_eq!(plan.after, signed_at(now, &lifetimes));
        assert_eq!(plan.next_check, now + hours(12));
    }

    #[test]
    fn an_expired_repository_is_due_at_once_and_a_tiny_lifetime_does_not_spin() {
        let lifetimes = lifetimes(SignedDuration::from_millis(10));
        let now: Timestamp = "2026-12-06T00:00:00Z".parse().unwrap();
        let expiries = SignedExpiries {
            timestamp: now - hours(1),
            ..signed_at(now, &lifetimes)
        };
        let plan = plan(&expiries, &lifetimes, now);
        assert_eq!(plan.renew, Renewal::Timestamp);
        assert_eq!(plan.next_check, now + MIN_RECHECK);
    }
}
