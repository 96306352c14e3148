//! The Python baseline server (`benches/python-baseline/server.py`): its virtual environment,
//! installed from PyPI with pinned versions into `.cache/bench-venv`, and the running process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Why the Python baseline could not run.
#[derive(Debug, Error)]
pub enum PythonBaselineError {
    /// Its virtual environment could not be made.
    #[error("cannot set up the Python baseline's environment: {0}")]
    Setup(String),
    /// Its server did not start or become ready.
    #[error("cannot start the Python baseline: {0}")]
    Start(String),
}

/// Where the baseline lives in the repository.
pub fn baseline_dir(repo_root: &Path) -> PathBuf {
    repo_root.join("benches/python-baseline")
}

/// Creates (or reuses) the virtual environment with the pinned requirements
/// (`benches/python-baseline/setup.sh`, which CI also runs ahead of the build) and returns the
/// Python it prints.
pub fn ensure_environment(repo_root: &Path) -> Result<PathBuf, PythonBaselineError> {
    let setup = baseline_dir(repo_root).join("setup.sh");
    let output = Command::new(&setup)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| PythonBaselineError::Setup(format!("{}: {e}", setup.display())))?;
    if !output.status.success() {
        return Err(PythonBaselineError::Setup(format!(
            "{} exited with {}",
            setup.display(),
            output.status
        )));
    }
    let python = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if python.is_empty() {
        return Err(PythonBaselineError::Setup(format!(
            "{} did not print the environment's Python",
            setup.display()
        )));
    }
    Ok(PathBuf::from(python))
}

/// Versions of the packages the baseline runs on, as pip reports them.
pub fn package_versions(python: &Path) -> String {
    let output = Command::new(python)
        .args(["-c", "import fastapi, uvicorn, onnxruntime, numpy, PIL, sys; print(f'Python {sys.version.split()[0]}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}, Pillow {PIL.__version__}')"])
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => "unknown".into(),
    }
}

/// The running baseline server; killed on drop.
pub struct PythonServer {
    child: Child,
    /// `http://ADDR`.
    pub base_url: String,
}

impl PythonServer {
    /// Starts the server on a free loopback port and waits until it answers ready.
    pub fn start(
        python: &Path,
        repo_root: &Path,
        model: &Path,
        intra_op_threads: usize,
        camera_config: Option<&Path>,
    ) -> Result<PythonServer, PythonBaselineError> {
        let mut command = Command::new(python);
        command
            .arg(baseline_dir(repo_root).join("server.py"))
            .arg("--model")
            .arg(model)
            .args(["--port", "0", "--intra-op-threads"])
            .arg(intra_op_threads.to_string());
        if let Some(config) = camera_config {
            command.arg("--camera-config").arg(config);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| PythonBaselineError::Start(e.to_string()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("python-baseline listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(120)) else {
            let _ = child.kill();
            return Err(PythonBaselineError::Start(
                "it did not announce its address within 120 s".into(),
            ));
        };
        let server = PythonServer {
            child,
            base_url: format!("http://{addr}"),
        };
        PythonServer::wait_ready(&addr, Duration::from_secs(60))?;
        Ok(server)
    }

    fn wait_ready(addr: &str, limit: Duration) -> Result<(), PythonBaselineError> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if crate::targets::http_get_status(addr, "/v2/health/ready") == Some(200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(PythonBaselineError::Start(format!(
            "not ready within {limit:?}"
        )))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
