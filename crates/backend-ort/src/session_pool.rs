//! A fixed set of ONNX Runtime sessions for one model. `ort` runs a session through `&mut`, so
//! each request borrows a whole session; with `instances = N` up to N requests run at once.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use ort::session::Session;

pub(crate) struct SessionPool {
    idle: Mutex<Vec<Session>>,
    returned: Condvar,
}

impl SessionPool {
    pub(crate) fn new(sessions: Vec<Session>) -> SessionPool {
        SessionPool {
            idle: Mutex::new(sessions),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Session>> {
        // A panic while holding the lock cannot leave the Vec inconsistent: keep going.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an idle session, waiting for one to be returned when all are busy.
    pub(crate) fn acquire(&self) -> PooledSession<'_> {
        let mut idle = self.lock();
        loop {
            if let Some(session) = idle.pop() {
                return PooledSession {
                    pool: self,
                    session: Some(session),
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A session on loan; it goes back to the pool when dropped.
pub(crate) struct PooledSession<'p> {
    pool: &'p SessionPool,
    session: Option<Session>,
}

impl Deref for PooledSession<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session.as_ref().expect("session present until drop")
    }
}

impl DerefMut for PooledSession<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session.as_mut().expect("session present until drop")
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.lock().push(session);
            self.pool.returned.notify_one();
        }
    }
}
