//! The Engine API: Docker's HTTP API (and Podman's Docker-compatible one)
//! over its unix socket, or plain TCP. Asking it for a container costs about
//! a millisecond; the `docker` command costs 20 to 30. Only what pipework
//! needs is spoken: one HTTP/1.0 GET (the engine answers it unchunked and
//! closes), and the JSON of the answer.
//!
//! Where we cannot speak to the engine as its own CLI would (ssh:// hosts,
//! TLS, another Docker context), the caller falls back to the CLI.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// The engine's view of the guest, for OVS external-ids and the DHCP helper
/// container.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    /// As the engine's CLI prints it; Docker's with its leading `/`: the
    /// reference stores it that way in `pipework.containername`, and scripts
    /// search OVS for that value.
    pub name: String,
}

/// Where an engine's API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, without TLS.
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Docker's API as the `docker` command would reach it, when we can.
pub fn docker() -> Option<Endpoint> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // TLS and contexts are the CLI's business: let it handle them.
    if var("DOCKER_TLS_VERIFY").is_some() || var("DOCKER_CERT_PATH").is_some() {
        return None;
    }
    if var("DOCKER_CONTEXT").is_some_and(|c| c != "default") || non_default_context() {
        return None;
    }
    match var("DOCKER_HOST") {
        None => Some(Endpoint::Unix("/var/run/docker.sock".into())),
        Some(h) => parse_host(&h),
    }
}

/// Podman's Docker-compatible API, when its socket is there.
pub fn podman() -> Option<Endpoint> {
    let var = std::env::var("CONTAINER_HOST").ok().filter(|v| !v.is_empty());
    match var {
        Some(h) => parse_host(&h),
        None => {
            let p = Path::new("/run/podman/podman.sock");
            p.exists().then(|| Endpoint::Unix(p.into()))
        }
    }
}

/// Where Podman's API listens or will: `--watch` waits for a socket that
/// is not there yet.
pub fn podman_expected() -> Option<Endpoint> {
    match std::env::var("CONTAINER_HOST").ok().filter(|v| !v.is_empty()) {
        Some(h) => parse_host(&h),
        None => Some(Endpoint::Unix("/run/podman/podman.sock".into())),
    }
}

/// `unix:///path` or `tcp://host:port`; anything else (ssh://, npipe://)
/// is not ours to speak.
fn parse_host(h: &str) -> Option<Endpoint> {
    if let Some(path) = h.strip_prefix("unix://") {
        return Some(Endpoint::Unix(path.into()));
    }
    if let Some(addr) = h.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        return Some(Endpoint::Tcp(if addr.contains(':') { addr.to_string() } else { format!("{addr}:2375") }));
    }
    None
}

/// The Docker CLI's current context, from its config file, is not the
/// default one.
fn non_default_context() -> bool {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
    let Some(text) = dir.and_then(|d| std::fs::read_to_string(d.join("config.json")).ok()) else { return false };
    let current = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("currentContext").and_then(|c| c.as_str()).map(str::to_string));
    current.is_some_and(|c| !c.is_empty() && c != "default")
}

/// What the engine said about a container.
#[derive(Debug, PartialEq)]
pub enum Inspected {
    /// Its PID (0 while it starts or when stopped) and identity.
    Found(u32, Container),
    /// The engine does not know it: its words.
    Unknown(String),
}

/// How long an engine asked about one name may take to begin its answer
/// before it counts as not answering. A socket left behind by a daemon that
/// died, or one whose daemon hangs, would otherwise stall every unknown name
/// (ctr dials for 10 s); a live engine begins within milliseconds.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// The engine could not be asked: no socket, nobody listening on it, or no
/// answer within [`ANSWER_WITHIN`]. Its CLI, on the same socket, would fare
/// no better: the caller skips the engine and says why.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// Whether an error says the engine could not be asked at all.
pub fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Unreachable>())
}

/// Connects to a socket, telling "nobody there" apart from other failures.
fn connect_unix(p: &Path) -> Result<UnixStream> {
    UnixStream::connect(p).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => format!("no socket at {}", p.display()),
            std::io::ErrorKind::ConnectionRefused => format!("nothing listens on {} (a stale socket)", p.display()),
            _ => format!("cannot connect to {}: {e}", p.display()),
        };
        anyhow::Error::new(Unreachable(why))
    })
}

fn connect_tcp(a: &str) -> Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let unreachable = |why: String| anyhow::Error::new(Unreachable(why));
    let addrs = a.to_socket_addrs().map_err(|e| unreachable(format!("cannot resolve {a}: {e}")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, ANSWER_WITHIN) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(unreachable(match last {
        Some(e) => format!("cannot connect to {a}: {e}"),
        None => format!("{a} has no address"),
    }))
}

/// Whether something answers on a containerd socket: containerd speaks
/// gRPC, so an HTTP/2 client preface and an empty SETTINGS frame draw its
/// own SETTINGS frame at once. `ctr` is run only when this answers; it would
/// dial a dead socket for 10 s.
pub fn grpc_answers(p: &Path) -> Result<()> {
    let mut s = connect_unix(p)?;
    s.set_write_timeout(Some(ANSWER_WITHIN))?;
    s.set_read_timeout(Some(ANSWER_WITHIN))?;
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
    let silent = |e: std::io::Error| {
        anyhow::Error::new(Unreachable(format!(
            "{} accepted but did not answer within {} ms ({e})",
            p.display(),
            ANSWER_WITHIN.as_millis()
        )))
    };
    s.write_all(PREFACE).map_err(silent)?;
    let mut first = [0u8; 9];
    match s.read(&mut first) {
        Ok(0) => Err(anyhow::Error::new(Unreachable(format!("{} hung up without answering", p.display())))),
        Ok(_) => Ok(()),
        Err(e) => Err(silent(e)),
    }
}

/// `GET /containers/NAME/json`. An [`Unreachable`] error means the engine
/// could not be asked (no socket, nobody listening, no answer in time);
/// other errors, that its answer made no sense.
pub fn inspect(ep: &Endpoint, name: &str) -> Result<Inspected> {
    match container_json(ep, name, ANSWER_WITHIN)? {
        Ok(json) => {
            let (pid, c) =
                parse_inspect(&json).with_context(|| format!("unexpected answer from the engine for {name}"))?;
            Ok(Inspected::Found(pid, c))
        }
        Err(why) => Ok(Inspected::Unknown(why)),
    }
}

/// `GET /containers/NAME/json`: the container's JSON, or the engine's words
/// when it does not know the name (404).
fn container_json(
    ep: &Endpoint,
    name: &str,
    within: Duration,
) -> Result<std::result::Result<serde_json::Value, String>> {
    let (status, body) = get(ep, &format!("/containers/{}/json", encode(name)), within)?;
    let json: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("the engine's answer for {name} is not JSON"))?;
    let message = |default: &str| json.get("message").and_then(|m| m.as_str()).unwrap_or(default).to_string();
    match status {
        200 => Ok(Ok(json)),
        404 => Ok(Err(message("no such container"))),
        s => bail!("the engine answered {s} for {name}: {}", message("(no message)")),
    }
}

fn parse_inspect(json: &serde_json::Value) -> Result<(u32, Container)> {
    let pid = json.pointer("/State/Pid").and_then(|p| p.as_u64()).context("no State.Pid")?;
    let id = json.get("Id").and_then(|i| i.as_str()).context("no Id")?;
    let name = json.get("Name").and_then(|n| n.as_str()).unwrap_or("");
    let pid = u32::try_from(pid).map_err(|_| anyhow!("State.Pid {pid} is not a PID"))?;
    Ok((pid, Container { id: id.to_string(), name: name.to_string() }))
}

/// A running container, as the engine lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: String,
    /// Its names, without Docker's leading `/`.
    pub names: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `GET /containers/json`: every running container, in one answer (no PIDs:
/// the engine's list does not carry them).
pub fn list_running(ep: &Endpoint) -> Result<Vec<Listed>> {
    Ok(list_running_while(ep, || ())?.0)
}

/// The same list, with `meanwhile` run while the engine composes it: a
/// thousand containers keep dockerd busy for tens of milliseconds.
pub fn list_running_while<T>(ep: &Endpoint, meanwhile: impl FnOnce() -> T) -> Result<(Vec<Listed>, T)> {
    let mut conn = request(ep, "/containers/json")?;
    let done = meanwhile();
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut raw = Vec::with_capacity(256 * 1024);
    conn.read_to_end(&mut raw).context("reading the engine's answer")?;
    let (status, body) = split_response(&raw)?;
    if status != 200 {
        bail!("the engine answered {status} to the container list");
    }
    let json: serde_json::Value = serde_json::from_slice(&body).context("the engine's container list is not JSON")?;
    let items = json.as_array().context("the engine's container list is not a list")?;
    Ok((items.iter().filter_map(parse_listed).collect(), done))
}

fn parse_listed(v: &serde_json::Value) -> Option<Listed> {
    let id = v.get("Id")?.as_str()?.to_string();
    let names = v
        .get("Names")
        .and_then(|n| n.as_array())
        .map(|a| a.iter().filter_map(|n| n.as_str()).map(|n| n.trim_start_matches('/').to_string()).collect())
        .unwrap_or_default();
    Some(Listed { id, names, labels: labels_of(v.get("Labels")) })
}

fn labels_of(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let Some(obj) = v.and_then(|l| l.as_object()) else { return BTreeMap::new() };
    obj.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()
}

/// A running container inspected: what `--watch` needs to attach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub pid: u32,
    pub container: Container,
    pub labels: BTreeMap<String, String>,
}

/// `GET /containers/ID/json`, for a container that should be running: None
/// when it is gone or not running (any more).
pub fn inspect_running(ep: &Endpoint, id: &str) -> Result<Option<Running>> {
    let Ok(json) = container_json(ep, id, ANSWER_PATIENCE)? else { return Ok(None) };
    let (pid, container) = parse_inspect(&json)?;
    let labels = labels_of(json.pointer("/Config/Labels"));
    Ok((pid != 0).then_some(Running { pid, container, labels }))
}

/// What happened to a container, from the engine's event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `start`, `die`, `destroy`, …
    pub action: String,
    pub id: String,
    pub name: String,
    /// When the engine says it happened, in nanoseconds since the epoch.
    pub time_nano: u128,
    /// The container carries `pipework.attach` labels (events carry labels
    /// among their attributes).
    pub labeled: bool,
}

/// The engine's stream of container events, one JSON object per line.
pub struct Events {
    reader: BufReader<Conn>,
}

impl Events {
    /// Container events from now on.
    pub fn subscribe(ep: &Endpoint) -> Result<Events> {
        let filters = encode(r#"{"type":["container"]}"#);
        let conn = request(ep, &format!("/events?filters={filters}"))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(conn);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).context("reading the engine's answer to the event subscription")? == 0 {
                bail!("the engine closed the event stream before answering");
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head.split(' ').nth(1).unwrap_or("");
        if !head.starts_with("HTTP/") || status != "200" {
            bail!("the engine refused the event subscription: {}", head.lines().next().unwrap_or("").trim());
        }
        // From here on the stream is read only when poll says so.
        reader.get_ref().set_read_timeout(None)?;
        Ok(Events { reader })
    }

    /// Whether a whole event may already wait in our buffer: then poll
    /// would not say so.
    pub fn buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// The next event; None when the engine closed the stream.
    pub fn next(&mut self) -> Result<Option<Event>> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).context("reading the engine's event stream")? == 0 {
                return Ok(None);
            }
            if line.trim().is_empty() {
                continue;
            }
            let json: serde_json::Value =
                serde_json::from_str(&line).with_context(|| format!("an event that is not JSON: {}", line.trim()))?;
            if let Some(e) = parse_event(&json) {
                return Ok(Some(e));
            }
        }
    }
}

impl AsFd for Events {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self.reader.get_ref() {
            Conn::Unix(s) => s.as_fd(),
            Conn::Tcp(s) => s.as_fd(),
        }
    }
}

/// Docker's and Podman's container events; other types are skipped.
fn parse_event(v: &serde_json::Value) -> Option<Event> {
    if v.get("Type").and_then(|t| t.as_str()).is_some_and(|t| t != "container") {
        return None;
    }
    let action = v.get("Action").or_else(|| v.get("status"))?.as_str()?.to_string();
    let id = v.pointer("/Actor/ID").or_else(|| v.get("id"))?.as_str()?.to_string();
    let name = v.pointer("/Actor/Attributes/name").and_then(|n| n.as_str()).unwrap_or("").to_string();
    let time_nano = v
        .get("timeNano")
        .and_then(|t| t.as_u64().map(u128::from))
        .or_else(|| v.get("time").and_then(|t| t.as_u64()).map(|s| u128::from(s) * 1_000_000_000))
        .unwrap_or(0);
    let labeled = v
        .pointer("/Actor/Attributes")
        .and_then(|a| a.as_object())
        .is_some_and(|a| a.keys().any(|k| k.starts_with("pipework.attach")));
    Some(Event { action, id, name, time_nano, labeled })
}

/// Path segment encoding: container names are usually plain, but a user's
/// word may hold anything.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How long a watch, which knows the engine is there, waits for an answer.
const ANSWER_PATIENCE: Duration = Duration::from_secs(10);

/// One HTTP/1.0 GET: the status and the body. The answer must begin
/// `within` (else [`Unreachable`]); then it has 10 s to finish.
fn get(ep: &Endpoint, path: &str, within: Duration) -> Result<(u16, Vec<u8>)> {
    let mut conn = request(ep, path)?;
    conn.set_read_timeout(Some(within))?;
    let mut raw = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 4096];
    let n = loop {
        match conn.read(&mut chunk) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(anyhow::Error::new(Unreachable(format!(
                    "{ep} accepted but did not answer within {} ms",
                    within.as_millis()
                ))))
            }
            Err(e) => return Err(e).context("reading the engine's answer"),
        }
    };
    raw.extend_from_slice(&chunk[..n]);
    if n > 0 {
        conn.set_read_timeout(Some(ANSWER_PATIENCE))?;
        conn.read_to_end(&mut raw).context("reading the engine's answer")?;
    }
    split_response(&raw)
}

/// A connection to the engine, unix or TCP.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(t),
            Conn::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

/// Connects and sends `GET path`; the answer is the caller's to read.
fn request(ep: &Endpoint, path: &str) -> Result<Conn> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: engine\r\nUser-Agent: pipework\r\n\r\n");
    match ep {
        Endpoint::Unix(p) => {
            let mut s = connect_unix(p)?;
            s.write_all(request.as_bytes())?;
            Ok(Conn::Unix(s))
        }
        Endpoint::Tcp(a) => {
            let mut s = connect_tcp(a)?;
            s.write_all(request.as_bytes())?;
            Ok(Conn::Tcp(s))
        }
    }
}

/// `HTTP/1.x NNN …` head, a blank line, the body.
fn split_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").context("the engine's answer has no end of head")?;
    let head = std::str::from_utf8(&raw[..end]).context("the engine's answer head is not text")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| head.starts_with("HTTP/"))
        .with_context(|| format!("not an HTTP answer: {}", head.lines().next().unwrap_or("")))?;
    Ok((status, raw[end + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_we_speak_and_those_we_leave_to_the_cli() {
        assert_eq!(parse_host("unix:///run/d.sock"), Some(Endpoint::Unix("/run/d.sock".into())));
        assert_eq!(parse_host("tcp://10.0.0.1:2375"), Some(Endpoint::Tcp("10.0.0.1:2375".into())));
        assert_eq!(parse_host("tcp://docker"), Some(Endpoint::Tcp("docker:2375".into())));
        assert_eq!(parse_host("ssh://me@host"), None);
    }

    #[test]
    fn an_answer_and_its_pieces() {
        let raw = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Id\":\"abc\",\"Name\":\"/web1\",\"State\":{\"Pid\":42}}";
        let (status, body) = split_response(raw).unwrap();
        assert_eq!(status, 200);
        let json = serde_json::from_slice(&body).unwrap();
        assert_eq!(parse_inspect(&json).unwrap(), (42, Container { id: "abc".into(), name: "/web1".into() }));
        assert!(split_response(b"garbage").is_err());
        assert_eq!(encode("web 1/x"), "web%201%2Fx");
    }

    #[test]
    fn events_and_lists_as_docker_and_podman_write_them() {
        let docker: serde_json::Value = serde_json::from_str(
            r#"{"status":"start","id":"abc","Type":"container","Action":"start",
               "Actor":{"ID":"abc","Attributes":{"name":"web1","pipework.attach":"br1 10.0.0.5/24"}},
               "time":1795671622,"timeNano":1795671622112576230}"#,
        )
        .unwrap();
        let e = parse_event(&docker).unwrap();
        assert_eq!((e.action.as_str(), e.id.as_str(), e.name.as_str()), ("start", "abc", "web1"));
        assert_eq!(e.time_nano, 1795671622112576230);
        assert!(e.labeled);
        let image: serde_json::Value = serde_json::from_str(r#"{"Type":"image","Action":"pull","id":"x"}"#).unwrap();
        assert_eq!(parse_event(&image), None);
        let old: serde_json::Value = serde_json::from_str(r#"{"status":"die","id":"abc","time":7}"#).unwrap();
        let e = parse_event(&old).unwrap();
        assert_eq!((e.action.as_str(), e.time_nano, e.labeled), ("die", 7_000_000_000, false));
        let listed: serde_json::Value =
            serde_json::from_str(r#"{"Id":"abc","Names":["/web1"],"Labels":null,"State":"running"}"#).unwrap();
        assert_eq!(
            parse_listed(&listed),
            Some(Listed { id: "abc".into(), names: vec!["web1".into()], labels: BTreeMap::new() })
        );
    }
}
