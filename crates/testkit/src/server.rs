//! Starting the real `outpost` binary for a test: port 0, read the announced address from its
//! standard output, then poll `GET /v2/health/ready` until it answers 200. Another
//! architecture's build runs under a runner (`qemu-aarch64-static -L PREFIX`), named by
//! [`Runner`].

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Why a test server did not come up.
#[derive(Debug, Error)]
pub enum TestServerError {
    /// The binary could not be started (its path, why).
    #[error("cannot start {0}: {1}")]
    Spawn(String, std::io::Error),
    /// It did not print its address in time.
    #[error("server exited or did not announce its address within {0:?}")]
    NoAddress(Duration),
    /// It did not answer ready in time.
    #[error("server did not become ready within {0:?}")]
    NotReady(Duration),
}

/// The program that runs the binary, with its arguments, for a build of another architecture
/// (`qemu-aarch64-static -L /usr/aarch64-linux-gnu`); empty to run the binary itself.
#[derive(Debug, Clone, Default)]
pub struct Runner(pub Vec<OsString>);

impl Runner {
    /// The command that runs `binary` under this runner.
    fn command(&self, binary: &Path) -> Command {
        match self.0.split_first() {
            None => Command::new(binary),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
        }
    }
}

/// Both listeners on loopback, on ports the system picks.
const LOOPBACK_PORT_ZERO: [&str; 8] = [
    "--http-host",
    "127.0.0.1",
    "--http-port",
    "0",
    "--grpc-host",
    "127.0.0.1",
    "--grpc-port",
    "0",
];

/// A running `outpost serve`; killed on drop.
pub struct TestServer {
    child: Child,
    /// The HTTP listener's address.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub base_url: String,
    /// The gRPC listener, unless the server was started with gRPC off.
    pub grpc_addr: Option<SocketAddr>,
    stderr_log: PathBuf,
}

/// The binary under test: `$OUTPOST_BIN`, or the one cargo built next to the tests.
pub fn outpost_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("OUTPOST_BIN") {
        return PathBuf::from(path);
    }
    crate::fixtures::repo_root().join("target/debug/outpost")
}

impl TestServer {
    /// Starts `outpost serve --http-host 127.0.0.1 --http-port 0 --grpc-host 127.0.0.1
    /// --grpc-port 0 --model-repository <repo> <extra>` and waits until it is ready.
    pub fn start(
        binary: &Path,
        repository: &Path,
        extra_args: &[&str],
    ) -> Result<TestServer, TestServerError> {
        TestServer::start_with_env(binary, repository, extra_args, &[])
    }

    /// [`TestServer::start`] with extra environment variables.
    pub fn start_with_env(
        binary: &Path,
        repository: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<TestServer, TestServerError> {
        TestServer::start_under(&Runner::default(), binary, repository, extra_args, env)
    }

    /// [`TestServer::start_with_env`] with the binary run by `runner`.
    pub fn start_under(
        runner: &Runner,
        binary: &Path,
        repository: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<TestServer, TestServerError> {
        let server = TestServer::spawn_under(runner, binary, repository, extra_args, env)?;
        server.wait_ready(Duration::from_secs(120))?;
        Ok(server)
    }

    /// Starts the server and returns once it has announced its address, without waiting for
    /// readiness.
    pub fn spawn(
        binary: &Path,
        repository: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<TestServer, TestServerError> {
        TestServer::spawn_under(&Runner::default(), binary, repository, extra_args, env)
    }

    /// [`TestServer::spawn`] with the binary run by `runner`.
    pub fn spawn_under(
        runner: &Runner,
        binary: &Path,
        repository: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<TestServer, TestServerError> {
        let mut command = runner.command(binary);
        command
            .arg("serve")
            .args(LOOPBACK_PORT_ZERO)
            .arg("--model-repository")
            .arg(repository)
            .args(extra_args);
        for (k, v) in env {
            command.env(k, v);
        }
        TestServer::spawn_command(command, repository.with_extension("stderr.log"), binary)
    }

    /// Starts `outpost serve` the way a user first runs it: in `working_dir` (the repository
    /// root for the bundled models), with no flags but loopback addresses on port 0, and waits
    /// until it is ready. Its log goes to `stderr_log`.
    pub fn start_with_defaults(
        binary: &Path,
        working_dir: &Path,
        stderr_log: PathBuf,
    ) -> Result<TestServer, TestServerError> {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(LOOPBACK_PORT_ZERO)
            .current_dir(working_dir);
        let server = TestServer::spawn_command(command, stderr_log, binary)?;
        server.wait_ready(Duration::from_secs(120))?;
        Ok(server)
    }

    fn spawn_command(
        mut command: Command,
        stderr_log: PathBuf,
        binary: &Path,
    ) -> Result<TestServer, TestServerError> {
        let stderr = std::fs::File::create(&stderr_log)
            .map_err(|e| TestServerError::Spawn(stderr_log.display().to_string(), e))?;
        command.stdout(Stdio::piped()).stderr(Stdio::from(stderr));
        let mut child = command
            .spawn()
            .map_err(|e| TestServerError::Spawn(binary.display().to_string(), e))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // The gRPC line, when there is one, comes before the HTTP line.
            let mut grpc = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("outpost: grpc listening on ") {
                    grpc = addr.trim().parse::<SocketAddr>().ok();
                }
                if let Some(addr) = line.strip_prefix("outpost: http listening on ") {
                    let _ = tx.send((addr.trim().to_string(), grpc));
                }
            }
        });
        let wait = Duration::from_secs(60);
        let announced = rx.recv_timeout(wait).ok();
        let Some((addr, grpc_addr)) = announced.and_then(|(a, g)| Some((a.parse().ok()?, g)))
        else {
            {
                let _ = child.kill();
                return Err(TestServerError::NoAddress(wait));
            }
        };
        Ok(TestServer {
            child,
            addr,
            base_url: format!("http://{addr}"),
            grpc_addr,
            stderr_log,
        })
    }

    /// Polls the readiness endpoint until 200.
    pub fn wait_ready(&self, limit: Duration) -> Result<(), TestServerError> {
        self.wait_for_status("/v2/health/ready", 200, limit)
    }

    /// Polls `GET path` until it answers `status`.
    pub fn wait_for_status(
        &self,
        path: &str,
        status: u16,
        limit: Duration,
    ) -> Result<(), TestServerError> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.get_status(path) == Some(status) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(TestServerError::NotReady(limit))
    }

    /// Polls the server's log until it contains `fragment`.
    pub fn wait_for_log(&self, fragment: &str, limit: Duration) -> Result<(), TestServerError> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.stderr().contains(fragment) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(TestServerError::NotReady(limit))
    }

    /// Status code of a GET, or `None` when the connection fails.
    pub fn get_status(&self, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut head = String::new();
        stream.read_to_string(&mut head).ok()?;
        head.split_whitespace().nth(1)?.parse().ok()
    }

    /// What the server has logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait for server")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
