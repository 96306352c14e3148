//! Who may use model control: the token the control endpoints require when one is configured
//! (compared in constant time; the front ends take it from their `Authorization: Bearer`
//! header or metadata), and the mode that allows loads and unloads.

use super::ModelControl;
use crate::config::ControlMode;
use crate::error::ControlError;

impl ModelControl {
    /// Checks the token a caller presented. Without a configured token every caller is allowed.
    pub(crate) fn authorize(&self, token: Option<&str>) -> Result<(), ControlError> {
        let Some(expected) = &self.setup.token else {
            return Ok(());
        };
        let given = token.unwrap_or("");
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(ControlError::Unauthorized)
        }
    }

    /// Refuses load and unload unless the mode is `explicit`.
    pub(crate) fn check_explicit(&self) -> Result<(), ControlError> {
        match self.setup.mode {
            ControlMode::Explicit => Ok(()),
            other => Err(ControlError::Disabled(other)),
        }
    }
}

/// Compares a presented token with the expected one in time that depends only on the expected
/// token's length: neither where the first difference lies nor the presented length shows.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let length_differs = u8::from(given.len() != expected.len());
    let differences = expected.iter().enumerate().fold(0u8, |acc, (i, byte)| {
        let presented = given.get(i).copied().unwrap_or(!byte);
        acc | (presented ^ byte)
    });
    std::hint::black_box(differences | length_differs) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn only_the_same_token_compares_equal() {
        assert!(constant_time_eq(b"s3cret-token", b"s3cret-token"));
        assert!(!constant_time_eq(b"s3cret-tokeN", b"s3cret-token"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret-token"));
        assert!(!constant_time_eq(b"s3cret-token-and-more", b"s3cret-token"));
        assert!(!constant_time_eq(b"", b"s3cret-token"));
        // A prefix padded with what the comparison fills in must not pass.
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
