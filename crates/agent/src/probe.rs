//! A health probe for images without a shell or curl (`outpost probe URL`,
//! `outpost-agent --probe URL`): one GET of a plain-HTTP URL, succeeding on a 2xx answer within
//! the timeout. Container health checks call it on the container's own loopback.

use std::time::Duration;

use thiserror::Error;

/// Why the probe failed.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// No answer: refused, timed out, or not a URL.
    #[error("{url}: {reason}")]
    Unreachable {
        /// The URL probed.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer other than 2xx.
    #[error("{url} answered {status}")]
    Status {
        /// The URL probed.
        url: String,
        /// The answer's status code.
        status: u16,
    },
}

/// GETs `url` once; `Ok` with the status on a 2xx within `timeout`.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let unreachable = |reason: String| ProbeError::Unreachable {
        url: url.to_string(),
        reason,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let status = runtime
        .block_on(async { client.get(url).send().await.map(|r| r.status()) })
        .map_err(|e| unreachable(e.to_string()))?;
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(ProbeError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn answer_once(status_line: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 {status_line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        });
        format!("http://{address}/v2/health/ready")
    }

    #[test]
    fn a_2xx_passes_anything_else_fails() {
        let second = Duration::from_secs(5);
        assert_eq!(probe(&answer_once("200 OK"), second).unwrap(), 200);
        let unready = probe(&answer_once("503 Service Unavailable"), second).unwrap_err();
        assert!(matches!(unready, ProbeError::Status { status: 503, .. }));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = probe(&format!("http://127.0.0.1:{port}/"), second).unwrap_err();
        assert!(matches!(refused, ProbeError::Unreachable { .. }));
        assert!(probe("not a url", second).is_err());
    }
}
