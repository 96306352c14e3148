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

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
