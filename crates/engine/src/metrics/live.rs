//! Metrics read at scrape time rather than recorded: the inference executor (threads, busy,
//! queued), the container (CPUs the pools are sized for, CPU quota, memory limit and use, OOM
//! kills, the process's resident memory, what the C allocator holds) and every ready model
//! version (backend, execution provider, intra-op threads, load duration).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::backends::RuntimeGauges;
use crate::body_memory::BodyMemory;
use crate::container::ContainerLimits;
use crate::executor::ExecutorLoad;
use crate::repository::{ModelRepository, ServedModel};

/// The sources read on each scrape.
pub(crate) struct LiveSources {
    pub repository: Arc<ModelRepository>,
    pub container: ContainerLimits,
    pub executor: ExecutorLoad,
    /// The memory budget models load within, when there is one.
    pub memory_budget_bytes: Option<u64>,
    /// Room taken by request bodies in flight.
    pub request_bodies: Arc<BodyMemory>,
    /// The runtimes' own figures (memory they keep beside the models).
    pub runtime_gauges: RuntimeGauges,
}

impl std::fmt::Debug for LiveSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSources")
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

fn gauge<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for LiveSources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let executor = &self.executor;
        gauge(
            &mut encoder,
            "outpost_inference_threads",
            "Inference threads (requests that can execute at once).",
            executor.threads() as i64,
        )?;
        gauge(
            &mut encoder,
            "outpost_inference_busy_threads",
            "Inference threads running a request now.",
            executor.busy() as i64,
        )?;
        gauge(
            &mut encoder,
            "outpost_inference_queue_depth",
            "Requests waiting for an inference thread.",
            executor.waiting() as i64,
        )?;

        let container = &self.container;
        gauge(&mut encoder, "outpost_cpus", "CPUs the thread pools are sized for: the container's CPU quota rounded up, at most the CPUs the affinity mask allows.", container.cpus() as i64)?;
        if let Some(cores) = container.cpu_quota_cores {
            gauge(
                &mut encoder,
                "outpost_cpu_quota_cores",
                "The container's CPU quota in cores.",
                cores,
            )?;
        }
        if let Some(limit) = container.memory_limit_bytes {
            gauge(
                &mut encoder,
                "outpost_memory_limit_bytes",
                "The container's memory limit.",
                limit as i64,
            )?;
        }
        if let Some(budget) = self.memory_budget_bytes {
            gauge(&mut encoder, "outpost_memory_budget_bytes", "Resident memory models may load into: the container's limit less the headroom, or as configured.", budget as i64)?;
        }
        gauge(
            &mut encoder,
            "outpost_request_body_reserved_bytes",
            "Memory budget reserved by request bodies in flight.",
            self.request_bodies.reserved_bytes() as i64,
        )?;
        for runtime_gauge in (self.runtime_gauges)() {
            gauge(
                &mut encoder,
                &runtime_gauge.name,
                &runtime_gauge.help,
                runtime_gauge.value,
            )?;
        }
        if let Some(used) = container.memory_used_bytes() {
            gauge(
                &mut encoder,
                "outpost_memory_used_bytes",
                "Memory the container's cgroup uses, as the kernel counts it against the limit.",
                used as i64,
            )?;
        }
        if let Some(kills) = container.oom_kills() {
            let metric = ConstCounter::new(kills);
            metric.encode(encoder.encode_descriptor(
                "outpost_memory_oom_kills",
                "Processes the kernel's OOM killer killed in the container's memory cgroup.",
                None,
                metric.metric_type(),
            )?)?;
        }
        let anonymous = crate::process_memory::resident_bytes();
        if anonymous > 0 {
            gauge(&mut encoder, "outpost_process_anonymous_memory_bytes", "Anonymous resident memory of the server process (heap, weights, runtime buffers): what the memory budget counts.", anonymous as i64)?;
        }
        if let Some(allocator) = crate::process_memory::allocator_bytes() {
            gauge(&mut encoder, "outpost_allocator_in_use_bytes", "Bytes the C allocator (glibc malloc) has handed out and not had back: the server's and its runtimes' live heap.", allocator.in_use as i64)?;
            gauge(&mut encoder, "outpost_allocator_free_bytes", "Freed bytes the C allocator keeps in its heaps for reuse; the part on pages shared with live blocks stays resident.", allocator.free as i64)?;
        }
        let resident = crate::process_memory::total_resident_bytes();
        if resident > 0 {
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory of the server process.",
                resident as i64,
            )?;
        }
        self.encode_models(&mut encoder)
    }
}

impl LiveSources {
    fn encode_models(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let ready: Vec<_> = self
            .repository
            .entries()
            .iter()
            .flat_map(|entry| entry.ready().cloned().collect::<Vec<_>>())
            .collect();
        let mut info = encoder.encode_descriptor(
            "outpost_model_info",
            "A ready model version, with the backend and execution provider it runs on.",
            None,
            MetricType::Gauge,
        )?;
        for served in &ready {
            let labels = [
                ("model", served.name.clone()),
                ("version", served.version.to_string()),
                ("backend", served.backend_name().to_string()),
                (
                    "execution_provider",
                    served.execution_provider().to_string(),
                ),
            ];
            ConstGauge::new(1i64).encode(info.encode_family(&labels)?)?;
        }
        per_version(
            encoder,
            "outpost_model_intra_op_threads",
            "Intra-op threads of a ready model version.",
            &ready,
            |served| served.model.intra_op_threads() as i64,
        )?;
        per_version(
            encoder,
            "outpost_model_sessions",
            "Runtime sessions a ready model version holds now (under performance = \"auto\", more while requests overlap).",
            &ready,
            |served| served.model.sessions() as i64,
        )?;
        per_version(
            encoder,
            "outpost_model_requests_in_flight",
            "Requests holding a place in a model version's queue: uploading, waiting for a thread or running.",
            &ready,
            |served| served.admission.in_system() as i64,
        )?;
        per_version(
            encoder,
            "outpost_model_request_capacity",
            "Places in a model version's queue; requests beyond them are turned away at once.",
            &ready,
            |served| served.admission.capacity() as i64,
        )?;
        per_version(
            encoder,
            "outpost_model_resident_bytes",
            "How much the server's resident memory grew while a ready model version loaded.",
            &ready,
            |served| served.resident_bytes as i64,
        )?;
        per_version(
            encoder,
            "outpost_model_load_duration_seconds",
            "Time a ready model version took to load.",
            &ready,
            |served| served.load_duration.as_secs_f64(),
        )?;
        Ok(())
    }
}

/// A gauge with one sample per ready model version.
fn per_version<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ready: &[Arc<ServedModel>],
    value: impl Fn(&ServedModel) -> V,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for served in ready {
        let labels = [
            ("model", served.name.clone()),
            ("version", served.version.to_string()),
        ];
        ConstGauge::new(value(served)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}
