//! The dynamic batcher (crate::batching) through the real inference path, with a model that doubles its input
//! and records the batch sizes it was run with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost_core::{
    BackendError, DataType, InferRequest, InferResponse, LoadedModel, ModelConfig, ModelSignature,
    NamedTensor, Tensor, TensorData, TensorSpec,
};

use outpost_vision::ImageLimits;

use crate::admission::{Admission, Deadline};
use crate::batching::{self, BatchPolicy, DynamicBatcher, Encoded, EncodingReply, Pending};
use crate::error::EngineError;
use crate::inference::InferenceService;
use crate::repository::{ModelEntry, ModelRepository, ServedModel, VersionState};
use crate::request_metrics::{RequestMetrics, Route};
use crate::statistics::ModelStatistics;

/// `y = 2x` over `x` FP32 [N, W]; remembers the first dimension of every run.
struct Doubler {
    signature: ModelSignature,
    runs: Arc<Mutex<Vec<usize>>>,
}

impl LoadedModel for Doubler {
    fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    fn execution_provider(&self) -> &str {
        "test"
    }

    fn intra_op_threads(&self) -> usize {
        1
    }

    fn infer(
        &self,
        inputs: &[NamedTensor],
        _outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError> {
        let x = &inputs[0].tensor;
        self.runs.lock().unwrap().push(x.shape()[0]);
        let TensorData::Fp32(values) = x.data() else {
            return Err(BackendError::Inference("expected FP32".into()));
        };
        let doubled = values.iter().map(|v| v * 2.0).collect();
        let y = Tensor::new(x.shape().to_vec(), TensorData::Fp32(doubled)).unwrap();
        Ok(vec![NamedTensor::new("y", y)])
    }
}

struct Fixture {
    service: Arc<InferenceService>,
    runs: Arc<Mutex<Vec<usize>>>,
    runtime: tokio::runtime::Runtime,
}

/// A service with one inference thread serving "double" (max batch 4) through a batcher.
fn fixture(preferred: Vec<usize>, max_queue_delay: Duration) -> Fixture {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let signature = ModelSignature {
        inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![-1, -1])],
        outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![-1, -1])],
    };
    let served = ServedModel {
        name: "double".into(),
        version: 1,
        runtime: Some(outpost_core::RuntimeIdentity {
            backend: "doubler",
            platform: "doubler",
        }),
        config: ModelConfig::default(),
        signature: signature.clone(),
        max_batch_size: 4,
        scheduling: outpost_core::Scheduling::Fixed {
            instances: 1,
            intra_op: 1,
        },
        labels: None,
        image: None,
        model: Box::new(Doubler {
            signature,
            runs: runs.clone(),
        }),
        stats: ModelStatistics::default(),
        load_duration: Duration::ZERO,
        admission: Admission::new(16),
        at_work: outpost_core::WorkGauge::new(),
        resident_bytes: 0,
        batcher: Some(Arc::new(DynamicBatcher::new(
            BatchPolicy::new(4, preferred),
            max_queue_delay,
        ))),
        metrics: RequestMetrics::default(),
        upstream: None,
        _returns_memory_when_dropped: crate::process_memory::ReturnMemoryOnDrop,
    };
    let repository = Arc::new(ModelRepository::new());
    repository.insert(ModelEntry {
        name: "double".into(),
        error: None,
        versions: BTreeMap::from([(1, VersionState::Ready(Arc::new(served)))]),
        default_version: None,
        candidates: std::collections::BTreeSet::new(),
    });
    let service = InferenceService::new(repository, 1, ImageLimits::default(), 1, None).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    Fixture {
        service: Arc::new(service),
        runs,
        runtime,
    }
}

/// Sends `rows` (each a sample of the input) as one request; answers the output values.
async fn infer(
    service: &InferenceService,
    rows: Vec<Vec<f32>>,
    timeout: Option<Duration>,
) -> Result<Vec<f32>, EngineError> {
    let arrived = Instant::now();
    let deadline = timeout.map(|t| Deadline::after(arrived, t));
    let admitted = service.admit("double", None, Route::HTTP_INFER, deadline)?;
    let shape = vec![rows.len(), rows[0].len()];
    let data = TensorData::Fp32(rows.concat());
    let decode = move || {
        let x = NamedTensor::new("x", Tensor::new(shape, data).unwrap());
        let request = InferRequest {
            id: None,
            inputs: vec![x],
            outputs: None,
        };
        Ok((request, ()))
    };
    let encode = |response: InferResponse, (), _| match response.outputs[0].tensor.data() {
        TensorData::Fp32(values) => values.clone(),
        _ => unreachable!("the doubler answers FP32"),
    };
    service
        .infer(admitted, arrived, Route::HTTP_INFER, decode, encode)
        .await
}

/// Puts `rows` straight into the batch queue, as a decoded request; answers where its output
/// values arrive.
fn enqueue(
    service: &InferenceService,
    rows: &[Vec<f32>],
    timeout: Option<Duration>,
) -> tokio::sync::oneshot::Receiver<Result<Encoded<Vec<f32>>, EngineError>> {
    let served = service.lookup("double", None).unwrap();
    let shape = vec![rows.len(), rows[0].len()];
    let x = NamedTensor::new(
        "x",
        Tensor::new(shape, TensorData::Fp32(rows.concat())).unwrap(),
    );
    let encode = |response: InferResponse, (), _| match response.outputs[0].tensor.data() {
        TensorData::Fp32(values) => values.clone(),
        _ => unreachable!("the doubler answers FP32"),
    };
    let (reply, answer) = EncodingReply::new(encode, (), "double".into(), "1".into(), None);
    let samples = x.tensor.shape()[0];
    let pending = Pending::new(
        vec![x],
        vec!["y".into()],
        samples,
        timeout.map(|t| Deadline::after(Instant::now(), t)),
        served.admission.try_admit().unwrap(),
        Box::new(reply),
    );
    let batcher = served.batcher.clone().unwrap();
    batching::submit(&batcher, served, pending, service.executor());
    answer
}

/// The output values of an answer from [`enqueue`].
async fn values(
    answer: tokio::sync::oneshot::Receiver<Result<Encoded<Vec<f32>>, EngineError>>,
) -> Result<Vec<f32>, EngineError> {
    answer.await.unwrap().map(|encoded| encoded.answer)
}

/// Keeps the only inference thread busy until the returned sender is used.
async fn occupy_the_thread(service: &Arc<InferenceService>) -> std::sync::mpsc::Sender<()> {
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (busy_tx, busy_rx) = tokio::sync::oneshot::channel();
    let service = service.clone();
    tokio::spawn(async move {
        service
            .run_blocking(move || {
                busy_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
            .await
    });
    busy_rx.await.unwrap();
    release_tx
}

/// Waits until `count` requests wait in the batch queue.
async fn queued(service: &InferenceService, count: usize) {
    let served = service.lookup("double", None).unwrap();
    let batcher = served.batcher.as_ref().unwrap();
    while batcher.waiting() < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn requests_that_queue_while_the_thread_is_busy_run_as_one_batch_and_get_their_own_rows() {
    let Fixture {
        service,
        runs,
        runtime,
    } = fixture(vec![], Duration::ZERO);
    runtime.block_on(async {
        let release = occupy_the_thread(&service).await;
        let requests: Vec<_> = [vec![vec![1.0, 2.0]], vec![vec![3.0, 4.0], vec![5.0, 6.0]]]
            .into_iter()
            .chain([vec![vec![7.0, 8.0]]])
            .map(|rows| enqueue(&service, &rows, None))
            .collect();
        queued(&service, 3).await;
        release.send(()).unwrap();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(values(request).await.unwrap());
        }
        assert_eq!(
            answers,
            vec![vec![2.0, 4.0], vec![6.0, 8.0, 10.0, 12.0], vec![14.0, 16.0]]
        );
    });
    assert_eq!(
        *runs.lock().unwrap(),
        vec![4],
        "one execution of all four samples"
    );
    let served = service.lookup("double", None).unwrap();
    let stats = served.stats.snapshot();
    assert_eq!(stats.execution_count, 1);
    assert_eq!(stats.batches.keys().copied().collect::<Vec<_>>(), vec![4]);
    assert_eq!(
        served.admission.in_system(),
        0,
        "answered requests free their places"
    );
}

#[test]
fn a_batch_takes_at_most_the_maximum_and_the_rest_run_next() {
    let Fixture {
        service,
        runs,
        runtime,
    } = fixture(vec![], Duration::ZERO);
    runtime.block_on(async {
        let release = occupy_the_thread(&service).await;
        let requests: Vec<_> = (0..6)
            .map(|i| enqueue(&service, &[vec![i as f32]], None))
            .collect();
        queued(&service, 6).await;
        release.send(()).unwrap();
        for (i, request) in requests.into_iter().enumerate() {
            assert_eq!(values(request).await.unwrap(), vec![2.0 * i as f32]);
        }
    });
    let mut sizes = runs.lock().unwrap().clone();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 4]);
}

#[test]
fn requests_of_different_shapes_are_not_joined() {
    let Fixture {
        service,
        runs,
        runtime,
    } = fixture(vec![], Duration::ZERO);
    runtime.block_on(async {
        let release = occupy_the_thread(&service).await;
        let narrow = enqueue(&service, &[vec![1.0]], None);
        let wide = enqueue(&service, &[vec![1.0, 2.0]], None);
        let narrow_again = enqueue(&service, &[vec![3.0]], None);
        queued(&service, 3).await;
        release.send(()).unwrap();
        assert_eq!(values(narrow).await.unwrap(), vec![2.0]);
        assert_eq!(values(wide).await.unwrap(), vec![2.0, 4.0]);
        assert_eq!(values(narrow_again).await.unwrap(), vec![6.0]);
    });
    // The two narrow requests ran together, the wide one on its own.
    assert_eq!(*runs.lock().unwrap(), vec![2, 1]);
}

#[test]
fn the_first_request_waits_for_others_until_a_preferred_size_forms() {
    // A delay far longer than the test: only reaching the preferred size releases the batch.
    let Fixture {
        service,
        runs,
        runtime,
    } = fixture(vec![2], Duration::from_secs(60));
    let started = Instant::now();
    runtime.block_on(async {
        let first = {
            let service = service.clone();
            tokio::spawn(async move { infer(&service, vec![vec![1.0]], None).await })
        };
        queued(&service, 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !first.is_finished(),
            "the first request waits for a partner"
        );
        let second = infer(&service, vec![vec![2.0]], None).await.unwrap();
        assert_eq!(second, vec![4.0]);
        assert_eq!(first.await.unwrap().unwrap(), vec![2.0]);
    });
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(*runs.lock().unwrap(), vec![2]);
}

#[test]
fn a_lone_request_leaves_when_the_queue_delay_is_over() {
    let Fixture {
        service,
        runs,
        runtime,
    } = fixture(vec![], Duration::from_millis(30));
    let started = Instant::now();
    let answer = runtime.block_on(infer(&service, vec![vec![5.0]], None));
    assert_eq!(answer.unwrap(), vec![10.0]);
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(*runs.lock().unwrap(), vec![1]);
}

#[test]
fn a_request_whose_deadline_passes_in_the_queue_never_runs_and_frees_its_place() {
    let Fixture {
        service,
        runs,
        runtime,
    } = fixture(vec![], Duration::ZERO);
    runtime.block_on(async {
        let release = occupy_the_thread(&service).await;
        let expiring = enqueue(&service, &[vec![1.0]], Some(Duration::from_millis(30)));
        let patient = enqueue(&service, &[vec![2.0]], None);
        queued(&service, 2).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        release.send(()).unwrap();
        let expired = values(expiring).await;
        assert!(
            matches!(expired, Err(EngineError::DeadlineExceeded)),
            "{expired:?}"
        );
        assert_eq!(values(patient).await.unwrap(), vec![4.0]);
    });
    assert_eq!(
        *runs.lock().unwrap(),
        vec![1],
        "only the patient request ran"
    );
    let served = service.lookup("double", None).unwrap();
    assert_eq!(served.admission.in_system(), 0);
    assert_eq!(served.batcher.as_ref().unwrap().waiting(), 0);
}
