//! `hello-service healthcheck`: a container health check for an image with no shell or curl.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long the whole check may take, as the issue and Docker's defaults expect.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the server was judged unhealthy.
#[derive(Debug)]
pub enum Unhealthy {
    /// No TCP connection within the time allowed.
    Connect(std::io::Error),
    /// The request could not be sent or the answer read in time.
    Io(std::io::Error),
    /// The server answered, but not with 200.
    Status(String),
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::Connect(err) => write!(f, "cannot connect: {err}"),
            Unhealthy::Io(err) => write!(f, "no answer: {err}"),
            Unhealthy::Status(line) => write!(f, "answered {line:?}, expected 200"),
        }
    }
}

/// `GET /ping` on `127.0.0.1:port`; healthy when it answers 200 within `timeout`.
pub fn check(port: u16, timeout: Duration) -> Result<(), Unhealthy> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(Unhealthy::Connect)?;
    let remaining = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(remaining()))
        .map_err(Unhealthy::Io)?;
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nUser-Agent: hello-service-healthcheck\r\nConnection: close\r\n\r\n")
        .map_err(Unhealthy::Io)?;
    // Only the status line matters: read until its end or the deadline.
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') {
        if Instant::now() >= deadline {
            return Err(Unhealthy::Io(std::io::ErrorKind::TimedOut.into()));
        }
        stream
            .set_read_timeout(Some(remaining()))
            .map_err(Unhealthy::Io)?;
        match stream.read(&mut buf).map_err(Unhealthy::Io)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let status_line =
        String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default());
    let status_line = status_line.trim_end();
    let mut parts = status_line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(()),
        _ => Err(Unhealthy::Status(status_line.to_owned())),
    }
}
