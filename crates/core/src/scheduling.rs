//! How a model's requests are spread over the CPUs: the `performance` hint of `model.toml`
//! (OpenVINO's latency and throughput hints, ONNX Runtime's intra-op threads against parallel
//! sessions) and the [`Scheduling`] a backend is asked to run, resolved from the hint, the
//! explicit `instances` and `threads.intra_op`, and the CPUs the container allows.

use serde::{Deserialize, Serialize};

/// What a model is tuned for (`performance` in `model.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerformanceHint {
    /// One request at a time runs on every CPU; once requests overlap, they run side by side
    /// on sessions of one thread each.
    #[default]
    Auto,
    /// One session on every CPU: the shortest time per request, requests queue behind it.
    Latency,
    /// One single-threaded session per CPU: the most requests per second when several clients
    /// send at once, each request slower than with `latency`.
    Throughput,
}

impl PerformanceHint {
    /// The name `model.toml` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PerformanceHint::Auto => "auto",
            PerformanceHint::Latency => "latency",
            PerformanceHint::Throughput => "throughput",
        }
    }
}

/// The sessions a backend runs for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduling {
    /// `instances` sessions of `intra_op` threads each, all made when the model loads.
    Fixed {
        /// Sessions, each running one request at a time.
        instances: usize,
        /// Threads one operator of a session may use.
        intra_op: usize,
    },
    /// One session of `latency_threads` threads, made at load, for requests that run alone;
    /// `parallel_sessions` single-threaded sessions, made once requests overlap and dropped
    /// again after a while without overlap, for requests that run side by side.
    Adaptive {
        /// Threads of the session that runs requests one at a time.
        latency_threads: usize,
        /// Single-threaded sessions for overlapping requests.
        parallel_sessions: usize,
    },
}

impl Scheduling {
    /// What a model with `hint`, and `instances` and `intra_op` where its configuration sets
    /// them, runs on `cpus` CPUs; `default_intra_op` is the server's intra-op thread count for
    /// models that set none (the CPUs, unless configured). Explicit counts win over the hint,
    /// which only fills in what they leave out.
    pub fn resolve(
        hint: PerformanceHint,
        instances: Option<usize>,
        intra_op: Option<usize>,
        cpus: usize,
        default_intra_op: usize,
    ) -> Scheduling {
        let cpus = cpus.max(1);
        let default_intra_op = default_intra_op.max(1);
        match (hint, instances, intra_op) {
            (PerformanceHint::Auto, None, None) if cpus > 1 => Scheduling::Adaptive {
                latency_threads: default_intra_op,
                parallel_sessions: cpus,
            },
            (PerformanceHint::Throughput, None, None) => Scheduling::Fixed {
                instances: cpus,
                intra_op: 1,
            },
            // Sessions share the CPUs: each gets its share unless told otherwise.
            (_, Some(instances), intra_op) => Scheduling::Fixed {
                instances: instances.max(1),
                intra_op: intra_op.unwrap_or((cpus / instances.max(1)).max(1)).max(1),
            },
            (PerformanceHint::Throughput, None, Some(intra_op)) => Scheduling::Fixed {
                instances: (cpus / intra_op.max(1)).max(1),
                intra_op: intra_op.max(1),
            },
            (_, None, intra_op) => Scheduling::Fixed {
                instances: 1,
                intra_op: intra_op.unwrap_or(default_intra_op).max(1),
            },
        }
    }

    /// The most sessions the model runs at once (Triton's instance count).
    pub fn most_sessions(&self) -> usize {
        match *self {
            Scheduling::Fixed { instances, .. } => instances,
            Scheduling::Adaptive {
                parallel_sessions, ..
            } => parallel_sessions + 1,
        }
    }

    /// Threads of the session that runs a request alone.
    pub fn intra_op_threads(&self) -> usize {
        match *self {
            Scheduling::Fixed { intra_op, .. } => intra_op,
            Scheduling::Adaptive {
                latency_threads, ..
            } => latency_threads,
        }
    }
}

/// `"1 x 4 threads"`, `"4 x 1 thread"`, or `"1 x 4 threads, 4 x 1 thread while requests
/// overlap"`: what model configuration descriptions show.
impl std::fmt::Display for Scheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sessions = |f: &mut std::fmt::Formatter<'_>, count: usize, threads: usize| {
            let plural = if threads == 1 { "" } else { "s" };
            write!(f, "{count} x {threads} thread{plural}")
        };
        match *self {
            Scheduling::Fixed {
                instances,
                intra_op,
            } => sessions(f, instances, intra_op),
            Scheduling::Adaptive {
                latency_threads,
                parallel_sessions,
            } => {
                sessions(f, 1, latency_threads)?;
                f.write_str(", ")?;
                sessions(f, parallel_sessions, 1)?;
                f.write_str(" while requests overlap")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUS: usize = 4;

    fn resolve(
        hint: PerformanceHint,
        instances: Option<usize>,
        intra: Option<usize>,
    ) -> Scheduling {
        Scheduling::resolve(hint, instances, intra, CPUS, CPUS)
    }

    #[test]
    fn auto_adapts_unless_counts_are_given() {
        assert_eq!(
            resolve(PerformanceHint::Auto, None, None),
            Scheduling::Adaptive {
                latency_threads: 4,
                parallel_sessions: 4
            }
        );
        assert_eq!(
            resolve(PerformanceHint::Auto, None, Some(2)),
            Scheduling::Fixed {
                instances: 1,
                intra_op: 2
            }
        );
        assert_eq!(
            resolve(PerformanceHint::Auto, Some(2), None),
            Scheduling::Fixed {
                instances: 2,
                intra_op: 2
            }
        );
        // One CPU: nothing to adapt.
        assert_eq!(
            Scheduling::resolve(PerformanceHint::Auto, None, None, 1, 1),
            Scheduling::Fixed {
                instances: 1,
                intra_op: 1
            }
        );
    }

    #[test]
    fn hints_fill_in_what_the_counts_leave_out() {
        assert_eq!(
            resolve(PerformanceHint::Latency, None, None),
            Scheduling::Fixed {
                instances: 1,
                intra_op: 4
            }
        );
        assert_eq!(
            resolve(PerformanceHint::Throughput, None, None),
            Scheduling::Fixed {
                instances: 4,
                intra_op: 1
            }
        );
        assert_eq!(
            resolve(PerformanceHint::Throughput, None, Some(2)),
            Scheduling::Fixed {
                instances: 2,
                intra_op: 2
            }
        );
        assert_eq!(
            resolve(PerformanceHint::Latency, Some(3), Some(1)),
            Scheduling::Fixed {
                instances: 3,
                intra_op: 1
            }
        );
        // More instances than CPUs: one thread each, never zero.
        assert_eq!(
            resolve(PerformanceHint::Auto, Some(8), None),
            Scheduling::Fixed {
                instances: 8,
                intra_op: 1
            }
        );
    }

    #[test]
    fn the_servers_intra_op_default_sizes_the_latency_session() {
        assert_eq!(
            Scheduling::resolve(PerformanceHint::Auto, None, None, 4, 2),
            Scheduling::Adaptive {
                latency_threads: 2,
                parallel_sessions: 4
            }
        );
        assert_eq!(
            Scheduling::resolve(PerformanceHint::Latency, None, None, 4, 2),
            Scheduling::Fixed {
                instances: 1,
                intra_op: 2
            }
        );
    }

    #[test]
    fn most_sessions_counts_the_latency_session_too() {
        let adaptive = resolve(PerformanceHint::Auto, None, None);
        assert_eq!(adaptive.most_sessions(), 5);
        assert_eq!(adaptive.intra_op_threads(), 4);
        assert_eq!(
            adaptive.to_string(),
            "1 x 4 threads, 4 x 1 thread while requests overlap"
        );
    }
}
