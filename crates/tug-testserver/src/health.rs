//! `tug-testserver health`: the image's HEALTHCHECK (exec form, no shell in a scratch image).
//! Plain TCP and a hand-written HTTP/1.0 request: no DNS beyond `localhost` (a scratch image has no
//! resolver configuration to speak of).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// GETs `url` (http:// only); Ok(status) when a response came back.
pub fn get_status(url: &str) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = resolve(authority).map_err(|e| format!("{url}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{url}: connect: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| format!("{url}: {e}"))?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| format!("{url}: {e}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: tug-testserver\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("{url}: send: {e}"))?;
    // Only the status line matters; read until it is complete (or the peer closes).
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).map_err(|e| format!("{url}: read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    // "HTTP/1.x 200 OK"
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse::<u16>().ok())) {
        (Some(version), Some(status)) if version.starts_with("HTTP/") => Ok(status),
        _ => Err(format!("{url}: not an HTTP response: {line:?}")),
    }
}

fn resolve(authority: &str) -> Result<SocketAddr, String> {
    let with_port = if authority.starts_with('[') {
        if authority.contains("]:") {
            authority.to_string()
        } else {
            format!("{authority}:80")
        }
    } else if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    // `localhost` without the resolver: a static binary in a scratch image has no NSS to ask.
    let with_port = match with_port.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => with_port,
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {authority}: no address"))
}

/// The HEALTHCHECK's exit code: 0 on 200, else 1 (with the reason on stderr).
pub fn health_command(url: &str) -> i32 {
    match get_status(url) {
        Ok(200) => 0,
        Ok(status) => {
            eprintln!("{url}: {status}");
            1
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
