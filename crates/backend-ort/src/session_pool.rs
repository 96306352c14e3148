//! The ONNX Runtime sessions of one model, and which request runs on which. `ort` runs a
//! session through `&mut`, so each request borrows a whole session.
//!
//! Fixed scheduling: the sessions made at load, any idle one taken. Adaptive scheduling
//! (`performance = "auto"`): a latency session, whose intra-op threads spread one request over
//! the CPUs, runs requests that come one at a time. A request overlaps others when, as it takes
//! a session, another of the model's requests holds one or is at work (decoded, run or encoded:
//! the engine's [`WorkGauge`]): two clients whose runs take turns still overlap with each
//! other's decoding. Once requests overlap, single-threaded parallel sessions are made on a
//! thread of their own (one per CPU, each asked of the memory budget first) and overlapping
//! requests run on them side by side, the latency session only standing in until they exist: a
//! many-threaded run spins against whatever else runs on its cores. Requests keep going to the
//! parallel sessions until none has overlapped for [`OVERLAP_HOLD`] (one client's requests do
//! not overlap), and the parallel sessions are dropped once none has for `idle_release`, their
//! memory handed back at once, so a model that serves one camera holds one session.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use ort::session::Session;
use outpost_core::{MemoryRoom, WorkGauge};

use crate::session_recipe::SessionRecipe;

/// How long after requests last overlapped they still go to the parallel sessions.
pub(crate) const OVERLAP_HOLD: Duration = Duration::from_millis(200);

/// The longest the parallel sessions' keeper sleeps at once, so that it ends soon after its
/// model is unloaded.
const KEEPER_NAP: Duration = Duration::from_secs(1);

/// What a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Any request (fixed scheduling).
    Any,
    /// Requests that run alone (adaptive scheduling).
    Latency,
    /// Requests that overlap others (adaptive scheduling).
    Parallel,
}

/// Where the parallel sessions of an adaptive pool stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parallel {
    /// None; the next overlap makes them.
    Absent,
    /// Being made (some may already take requests).
    Making,
    /// Made (how many: `PoolState::sessions` less the latency session).
    Ready,
    /// The memory budget had no room at `at`; asked again after `idle_release`.
    NoRoom { at: Instant },
}

/// How an adaptive pool makes and drops its parallel sessions.
pub(crate) struct AdaptiveSettings {
    /// Makes the parallel sessions (single-threaded).
    pub(crate) recipe: SessionRecipe,
    /// How many.
    pub(crate) parallel_sessions: usize,
    /// Asked before each is made.
    pub(crate) memory: Arc<dyn MemoryRoom>,
    /// They are dropped after this long without overlapping requests.
    pub(crate) idle_release: Duration,
    /// The model's requests at work, this one included when the engine runs it.
    pub(crate) at_work: WorkGauge,
}

struct PoolState {
    idle: Vec<(Role, Session)>,
    parallel: Parallel,
    last_overlap: Option<Instant>,
    /// Sessions that exist, idle or lent.
    sessions: usize,
}

pub(crate) struct SessionPool {
    state: Mutex<PoolState>,
    returned: Condvar,
    /// Requests that hold or wait for a session.
    in_flight: AtomicUsize,
    adaptive: Option<Arc<AdaptiveSettings>>,
}

impl SessionPool {
    /// Sessions made at load, any of which runs any request.
    pub(crate) fn fixed(sessions: Vec<Session>) -> Arc<SessionPool> {
        SessionPool::with(sessions.into_iter().map(|s| (Role::Any, s)).collect(), None)
    }

    /// A latency session, with parallel sessions made as `settings` says once requests overlap.
    pub(crate) fn adaptive(latency: Session, settings: AdaptiveSettings) -> Arc<SessionPool> {
        SessionPool::with(vec![(Role::Latency, latency)], Some(Arc::new(settings)))
    }

    fn with(
        idle: Vec<(Role, Session)>,
        adaptive: Option<Arc<AdaptiveSettings>>,
    ) -> Arc<SessionPool> {
        Arc::new(SessionPool {
            state: Mutex::new(PoolState {
                sessions: idle.len(),
                idle,
                parallel: Parallel::Absent,
                last_overlap: None,
            }),
            returned: Condvar::new(),
            in_flight: AtomicUsize::new(0),
            adaptive,
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Every change to the state is a single assignment or push: a panic elsewhere while
        // holding the lock leaves it consistent, so keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sessions that exist now, idle or lent.
    pub(crate) fn sessions(&self) -> usize {
        self.lock().sessions
    }

    /// Takes a session for one request, waiting for one to be returned when none suits.
    pub(crate) fn acquire(self: &Arc<Self>) -> PooledSession<'_> {
        let running = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        let overlapping = match &self.adaptive {
            None => false,
            Some(settings) => {
                let now = Instant::now();
                let others = running.max(settings.at_work.now().saturating_sub(1));
                if others > 0 {
                    state.last_overlap = Some(now);
                    self.make_parallel_if_due(&mut state, settings, now);
                }
                state
                    .last_overlap
                    .is_some_and(|at| now.duration_since(at) < OVERLAP_HOLD)
            }
        };
        loop {
            if let Some(position) = choose(&state, overlapping) {
                let session = state.idle.swap_remove(position);
                return PooledSession {
                    pool: self,
                    session: Some(session),
                };
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Starts making the parallel sessions when there are none and the budget was not found
    /// short lately.
    fn make_parallel_if_due(
        self: &Arc<Self>,
        state: &mut PoolState,
        settings: &Arc<AdaptiveSettings>,
        now: Instant,
    ) {
        let due = match state.parallel {
            Parallel::Absent => true,
            Parallel::NoRoom { at } => now.duration_since(at) >= settings.idle_release,
            Parallel::Making | Parallel::Ready => false,
        };
        if !due {
            return;
        }
        state.parallel = Parallel::Making;
        let pool = Arc::downgrade(self);
        let settings = settings.clone();
        let spawned = std::thread::Builder::new()
            .name("outpost-sessions".into())
            .spawn(move || keep_parallel_sessions(&pool, &settings));
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the thread that makes parallel sessions");
            state.parallel = Parallel::NoRoom { at: now };
        }
    }
}

/// The idle session a request takes: alone, the latency session (a parallel one if it is lent);
/// overlapping, a parallel session, or the latency session while there are none yet.
fn choose(state: &PoolState, overlapping: bool) -> Option<usize> {
    let find = |role: Role| state.idle.iter().position(|(r, _)| *r == role);
    if let Some(any) = find(Role::Any) {
        return Some(any);
    }
    if !overlapping {
        return find(Role::Latency).or_else(|| find(Role::Parallel));
    }
    match state.parallel {
        Parallel::Ready => find(Role::Parallel),
        _ => find(Role::Parallel).or_else(|| find(Role::Latency)),
    }
}

/// The parallel sessions' own thread: makes them one by one, then drops them once requests
/// have not overlapped for `idle_release`. Holds its pool weakly and ends when it is gone.
fn keep_parallel_sessions(pool: &Weak<SessionPool>, settings: &AdaptiveSettings) {
    let recipe = &settings.recipe;
    let mut made = 0;
    while made < settings.parallel_sessions {
        let needed = recipe.estimated_bytes();
        if !settings.memory.fits(needed) {
            tracing::info!(
                model = %recipe.model_name,
                parallel_sessions = made,
                needed_mib = needed >> 20,
                "requests overlap, but another parallel session does not fit in the memory budget: the others wait for a session"
            );
            break;
        }
        let session = match recipe.make(1) {
            Ok((session, _)) => session,
            Err(error) => {
                tracing::warn!(model = %recipe.model_name, %error, "cannot make a parallel session");
                break;
            }
        };
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let mut state = pool.lock();
        state.idle.push((Role::Parallel, session));
        state.sessions += 1;
        drop(state);
        pool.returned.notify_all();
        settings.memory.changed();
        made += 1;
    }
    let Some(strong) = pool.upgrade() else {
        return;
    };
    let mut state = strong.lock();
    if made == 0 {
        state.parallel = Parallel::NoRoom { at: Instant::now() };
        return;
    }
    state.parallel = Parallel::Ready;
    drop(state);
    drop(strong);
    tracing::info!(
        model = %recipe.model_name,
        parallel_sessions = made,
        "requests overlap: parallel single-threaded sessions made"
    );
    drop_when_idle(pool, settings, made);
}

/// Waits until requests have not overlapped for `idle_release` with every parallel session
/// idle, then drops them.
fn drop_when_idle(pool: &Weak<SessionPool>, settings: &AdaptiveSettings, count: usize) {
    loop {
        let Some(strong) = pool.upgrade() else {
            return;
        };
        let mut state = strong.lock();
        let quiet_for = state
            .last_overlap
            .map_or(settings.idle_release, |at| at.elapsed());
        let idle_parallel = state
            .idle
            .iter()
            .filter(|(role, _)| *role == Role::Parallel)
            .count();
        if quiet_for >= settings.idle_release && idle_parallel == count {
            let (parallel, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.idle)
                .into_iter()
                .partition(|(role, _)| *role == Role::Parallel);
            state.idle = kept;
            state.parallel = Parallel::Absent;
            drop(state);
            drop(parallel);
            // Their weights and buffers are not asked for again until requests overlap anew:
            // the arena and the allocator hand them back (under steady load neither is ever
            // idle long enough to do so on its own).
            settings.recipe.release_arena_kept();
            settings.memory.released();
            // Counted as gone only now, so whoever sees the count fall also sees their memory
            // handed back.
            strong.lock().sessions -= count;
            drop(strong);
            tracing::info!(
                model = %settings.recipe.model_name,
                parallel_sessions = count,
                "no overlapping requests for a while: parallel sessions dropped"
            );
            return;
        }
        drop(state);
        drop(strong);
        let wait = settings
            .idle_release
            .saturating_sub(quiet_for)
            .max(OVERLAP_HOLD);
        std::thread::sleep(wait.min(KEEPER_NAP));
    }
}

/// A session on loan; it goes back to the pool when dropped.
pub(crate) struct PooledSession<'p> {
    pool: &'p SessionPool,
    session: Option<(Role, Session)>,
}

impl Deref for PooledSession<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session.as_ref().expect("session present until drop").1
    }
}

impl DerefMut for PooledSession<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.session.as_mut().expect("session present until drop").1
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.lock().idle.push(session);
            self.pool.in_flight.fetch_sub(1, Ordering::SeqCst);
            // Waiters want different sessions (latency or parallel): each looks for its own.
            self.pool.returned.notify_all();
        }
    }
}
