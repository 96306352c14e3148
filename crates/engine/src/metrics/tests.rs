//! The exposition: recorded requests appear per model, version, protocol, endpoint and outcome;
//! the live part reports the executor and the container's limits; the text ends as OpenMetrics
//! requires.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::body_memory::BodyMemory;
use crate::container::cgroup::ProcessCgroups;
use crate::container::ContainerLimits;
use crate::executor::Executor;
use crate::repository::ModelRepository;
use crate::request_metrics::{RequestMetrics, Route};
use crate::upstream::Upstreams;
use outpost_core::ServedBy;

fn limited_container(dir: &std::path::Path) -> ContainerLimits {
    std::fs::write(dir.join("cgroup.controllers"), "cpu memory\n").unwrap();
    std::fs::write(dir.join("memory.max"), "67108864\n").unwrap();
    std::fs::write(dir.join("cpu.max"), "50000 100000\n").unwrap();
    std::fs::write(dir.join("memory.current"), "20971520\n").unwrap();
    let mountinfo = format!("30 22 0:26 / {} rw - cgroup2 cgroup2 rw\n", dir.display());
    ContainerLimits::from_cgroups(ProcessCgroups::locate("0::/\n", &mountinfo), 4)
}

#[test]
fn requests_and_live_values_are_exposed() {
    let tmp = tempfile::tempdir().unwrap();
    let executor = Executor::start(3).unwrap();
    let requests = RequestMetrics::default();
    let bodies = BodyMemory::new(Some(48 << 20), 1);
    let _held = bodies.reserve(600_000).unwrap();
    let metrics = Metrics::new(
        &requests,
        LiveSources {
            repository: Arc::new(ModelRepository::new()),
            container: limited_container(tmp.path()),
            executor: executor.load(),
            memory_budget_bytes: Some(48 << 20),
            request_bodies: bodies.clone(),
            runtime_gauges: std::sync::Arc::new(Vec::new),
        },
        UpstreamCollector(Arc::new(Upstreams::new(None, None))),
        Vec::new(),
    );
    let ms = Duration::from_millis;
    requests.record_success(
        "mobilenet",
        2,
        Route::GRPC_INFER,
        ServedBy::Local,
        ms(3),
        ms(1),
    );
    requests.record_execution("mobilenet", 2, 1);
    requests.record_success(
        "mobilenet",
        2,
        Route::GRPC_INFER,
        ServedBy::Upstream,
        ms(300),
        ms(0),
    );
    requests.record_execution("mobilenet", 2, 4);
    requests.record_failure("mobilenet", 2, Route::HTTP_INFER);
    requests.record_success(
        "mobilenet",
        2,
        Route::HTTP_IMAGE,
        ServedBy::Local,
        ms(12),
        ms(0),
    );
    requests.record_execution("mobilenet", 2, 1);

    let text = metrics.render();
    for line in [
        r#"outpost_inference_requests_total{model="mobilenet",version="2",protocol="grpc",endpoint="infer",status="success",served_by="local"} 1"#,
        r#"outpost_inference_requests_total{model="mobilenet",version="2",protocol="grpc",endpoint="infer",status="success",served_by="upstream"} 1"#,
        r#"outpost_inference_requests_total{model="mobilenet",version="2",protocol="http",endpoint="infer",status="failure",served_by="none"} 1"#,
        r#"outpost_inference_requests_total{model="mobilenet",version="2",protocol="http",endpoint="image",status="success",served_by="local"} 1"#,
        r#"outpost_inference_request_duration_seconds_count{model="mobilenet",version="2",protocol="grpc",endpoint="infer",served_by="upstream"} 1"#,
        r#"outpost_inference_request_duration_seconds_bucket{le="0.004",model="mobilenet",version="2",protocol="grpc",endpoint="infer",served_by="local"} 1"#,
        r#"outpost_inference_batch_size_bucket{le="2.0",model="mobilenet",version="2"} 2"#,
        r#"outpost_inference_batch_size_count{model="mobilenet",version="2"} 3"#,
        "outpost_inference_threads 3",
        "outpost_inference_queue_depth 0",
        "outpost_cpus 1",
        "outpost_cpu_quota_cores 0.5",
        "outpost_memory_limit_bytes 67108864",
        "outpost_memory_used_bytes 20971520",
        "outpost_memory_budget_bytes 50331648",
        "outpost_request_body_reserved_bytes 600000",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"));
    assert!(
        !text.contains("outpost_memory_oom_kills"),
        "no OOM counter without memory.events"
    );
}
