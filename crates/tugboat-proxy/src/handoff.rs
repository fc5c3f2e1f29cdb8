//! Listening sockets: bound fresh, or adopted from the process being upgraded; and the handover itself.
//!
//! The upgrade protocol (no gap: the listening sockets never close, so the kernel's accept queue carries
//! every connection over): the running proxy binds a one-shot Unix socket next to the admin socket
//! (`<admin_socket>.handoff`), starts the configured command with `TUG_PROXY_HANDOFF=<that path>`, and
//! sends the new process, over SCM_RIGHTS, its client listeners (with their addresses, as JSON) and the
//! admin listener. The new process serves on them and writes `ready <pid>\n`; only then does the old one
//! stop accepting, drain (bounded) and exit 0. If the new process fails or is not ready in time, the old one
//! kills it and keeps serving.
//!
//! Why SCM_RIGHTS rather than inherited fd numbers: adopting a raw fd number needs `unsafe`
//! (`OwnedFd::from_raw_fd`), which the workspace forbids; a received fd arrives as a safe `OwnedFd`.

use std::io::{self, BufRead, BufReader, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};
use serde::{Deserialize, Serialize};

use crate::config::{Listen, ProxyConfig, UpgradeCommand};
use crate::ProxyError;

/// Set (to the handoff socket's path) in the environment of the process an upgrade starts.
pub const HANDOFF_ENV: &str = "TUG_PROXY_HANDOFF";
/// At most this many client listeners travel in one handoff.
const MAX_FDS: usize = 32;

/// The sockets a proxy serves on. Get them before starting tokio ([`Listeners::acquire`]).
pub struct Listeners {
    pub(crate) tcp: Vec<(Listen, TcpListener)>,
    pub(crate) admin: UnixListener,
    /// Set when adopted: the old process waits for `ready` on it.
    pub(crate) ready: Option<UnixStream>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners").field("addrs", &self.local_addrs()).field("adopted", &self.ready.is_some()).finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    /// The client listeners' addresses, in the order of the fds (the admin listener's fd comes last).
    listen: Vec<SocketAddr>,
}

impl Listeners {
    /// Adopts the sockets of the proxy being upgraded when `TUG_PROXY_HANDOFF` is set, else binds.
    pub fn acquire(config: &ProxyConfig) -> Result<Listeners, ProxyError> {
        match std::env::var_os(HANDOFF_ENV) {
            Some(path) if !path.is_empty() => Listeners::adopt(config, Path::new(&path)),
            _ => Listeners::bind(config),
        }
    }

    /// Binds every listener of the config and the admin socket (mode 0600; a stale socket file is
    /// replaced, a live one is an error: another proxy is running).
    pub fn bind(config: &ProxyConfig) -> Result<Listeners, ProxyError> {
        let mut tcp = Vec::new();
        for listen in &config.listen {
            tcp.push((listen.clone(), bind_tcp(listen.address)?));
        }
        let admin = bind_admin(&config.admin_socket)?;
        Ok(Listeners { tcp, admin, ready: None })
    }

    /// Receives the listeners from the proxy at `handoff` (see the module docs). Listeners the config no
    /// longer names are closed; new ones are bound.
    pub fn adopt(config: &ProxyConfig, handoff: &Path) -> Result<Listeners, ProxyError> {
        let stream = UnixStream::connect(handoff)
            .map_err(|e| ProxyError::io(format!("connect to the handoff socket {}", handoff.display()), e))?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| ProxyError::io("handoff socket", e))?;
        let (manifest, mut fds) = receive(&stream).map_err(|e| ProxyError::io("receive the listeners", e))?;
        if fds.len() != manifest.listen.len() + 1 {
            return Err(ProxyError::Upgrade(format!(
                "handoff sent {} sockets for {} listeners",
                fds.len(),
                manifest.listen.len()
            )));
        }
        let admin = UnixListener::from(fds.pop().ok_or_else(|| ProxyError::Upgrade("no admin socket".into()))?);
        admin.set_nonblocking(true).map_err(|e| ProxyError::io("admin socket", e))?;
        let mut inherited: Vec<(SocketAddr, TcpListener)> =
            manifest.listen.into_iter().zip(fds).map(|(addr, fd)| (addr, TcpListener::from(fd))).collect();
        let mut tcp = Vec::new();
        for listen in &config.listen {
            // Port 0 in the config ("any port") keeps whatever port the predecessor had on that address.
            let exact = inherited.iter().position(|(addr, _)| *addr == listen.address);
            let any_port = || {
                (listen.address.port() == 0)
                    .then(|| inherited.iter().position(|(addr, _)| addr.ip() == listen.address.ip()))
                    .flatten()
            };
            let listener = match exact.or_else(any_port) {
                Some(i) => inherited.swap_remove(i).1,
                None => bind_tcp(listen.address)?,
            };
            listener.set_nonblocking(true).map_err(|e| ProxyError::io("listener", e))?;
            tcp.push((listen.clone(), listener));
        }
        Ok(Listeners { tcp, admin, ready: Some(stream) })
    }

    /// The client listeners' bound addresses (port 0 in the config becomes the real port).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp.iter().filter_map(|(_, l)| l.local_addr().ok()).collect()
    }

    /// Whether these sockets came from an upgraded proxy.
    pub fn adopted(&self) -> bool {
        self.ready.is_some()
    }
}

fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    let listener = TcpListener::bind(addr).map_err(|e| ProxyError::io(format!("listen on {addr}"), e))?;
    listener.set_nonblocking(true).map_err(|e| ProxyError::io(format!("listen on {addr}"), e))?;
    Ok(listener)
}

fn bind_admin(path: &Path) -> Result<UnixListener, ProxyError> {
    let io = |what: &str, e| ProxyError::io(format!("{what} {}", path.display()), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ProxyError::Config(format!(
                "{}: another proxy answers on this admin socket (use an upgrade to replace it)",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(|e| io("remove the stale socket", e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| io("bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| io("chmod", e))?;
    listener.set_nonblocking(true).map_err(|e| io("bind", e))?;
    Ok(listener)
}

fn receive(stream: &UnixStream) -> io::Result<(Manifest, Vec<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS + 1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = vec![0u8; 64 * 1024];
    let got = recvmsg(stream, &mut [IoSliceMut::new(&mut buf)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    let mut payload = buf[..got.bytes].to_vec();
    // The manifest ends with a newline; the rest (if any) follows as plain bytes.
    let mut reader = stream;
    while !payload.ends_with(b"\n") {
        let mut more = [0u8; 4096];
        let n = reader.read(&mut more)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "handoff closed before the manifest"));
        }
        payload.extend_from_slice(&more[..n]);
    }
    let manifest = serde_json::from_slice(&payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok((manifest, fds))
}

/// Tells the old process this one serves; it then stops accepting and drains.
pub(crate) fn signal_ready(mut stream: UnixStream) -> io::Result<()> {
    writeln!(stream, "ready {}", std::process::id())?;
    stream.flush()
}

/// The process an upgrade started, serving on the sockets now.
#[derive(Debug)]
pub struct Successor {
    pub child: Child,
}

impl Successor {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub(crate) fn handoff_path(admin_socket: &Path) -> PathBuf {
    let mut name = admin_socket.as_os_str().to_owned();
    name.push(".handoff");
    PathBuf::from(name)
}

/// Starts `command` and hands it the sockets; returns once it reported ready (blocking: run it on a
/// blocking thread). On failure the new process is killed and the caller keeps serving.
pub(crate) fn hand_over(
    command: &UpgradeCommand,
    admin_socket: &Path,
    tcp: Vec<(SocketAddr, OwnedFd)>,
    admin: OwnedFd,
    timeout: Duration,
) -> Result<Successor, ProxyError> {
    let path = handoff_path(admin_socket);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| ProxyError::io(format!("bind {}", path.display()), e))?;
    let result = (|| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ProxyError::io(format!("chmod {}", path.display()), e))?;
        listener.set_nonblocking(true).map_err(|e| ProxyError::io("handoff socket", e))?;
        let mut child = Command::new(&command.program)
            .args(&command.args)
            .env(HANDOFF_ENV, &path)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| ProxyError::io(format!("start {}", command.program.display()), e))?;
        match serve_handoff(&listener, &mut child, tcp, admin, timeout) {
            Ok(()) => Ok(Successor { child }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    })();
    let _ = std::fs::remove_file(&path);
    result
}

fn serve_handoff(
    listener: &UnixListener,
    child: &mut Child,
    tcp: Vec<(SocketAddr, OwnedFd)>,
    admin: OwnedFd,
    timeout: Duration,
) -> Result<(), ProxyError> {
    let deadline = Instant::now() + timeout;
    // Wait for the new process to connect, noticing if it exits first (a bad binary, a config error).
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(ProxyError::io("accept on the handoff socket", e)),
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(ProxyError::Upgrade(format!("the new process exited ({status}) before taking over")));
        }
        if Instant::now() >= deadline {
            return Err(ProxyError::Upgrade("the new process did not connect in time".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    stream.set_nonblocking(false).map_err(|e| ProxyError::io("handoff socket", e))?;
    let manifest = Manifest { listen: tcp.iter().map(|(addr, _)| *addr).collect() };
    let mut payload = serde_json::to_vec(&manifest).map_err(|e| ProxyError::Upgrade(e.to_string()))?;
    payload.push(b'\n');
    let fds: Vec<_> = tcp.iter().map(|(_, fd)| fd.as_fd()).chain(std::iter::once(admin.as_fd())).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS + 1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if fds.len() > MAX_FDS + 1 || !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(ProxyError::Upgrade(format!("too many listeners to hand over ({})", fds.len() - 1)));
    }
    let sent = sendmsg(&stream, &[IoSlice::new(&payload)], &mut control, SendFlags::empty())
        .map_err(|e| ProxyError::io("send the listeners", e.into()))?;
    (&stream).write_all(&payload[sent..]).map_err(|e| ProxyError::io("send the listeners", e))?;
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left)).map_err(|e| ProxyError::io("handoff socket", e))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(|e| ProxyError::io("wait for the new process", e))?;
    if !line.starts_with("ready") {
        return Err(ProxyError::Upgrade("the new process closed the handoff without reporting ready".into()));
    }
    Ok(())
}
