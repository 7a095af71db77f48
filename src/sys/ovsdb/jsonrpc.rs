//! JSON-RPC 1.0 as OVSDB speaks it (RFC 7047 §4): JSON objects back to back
//! on a stream, requests with an id, replies carrying it, notifications
//! with a null id. ovs-vswitchd's control socket speaks the same.
//!
//! Every wait has a deadline. Requests may be pipelined (sent together in
//! one write); notifications that arrive while a reply is awaited are kept
//! in order for whoever waits for them next; the server's `echo` (its
//! liveness probe) is answered wherever it comes.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Read};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::error::Error;
use super::remote::Stream;

/// A message from the server that is not a reply: `method` and `params`.
pub type Notification = (String, Value);

type Messages = serde_json::StreamDeserializer<'static, serde_json::de::IoRead<BufReader<Timed>>, Value>;

pub struct Connection {
    remote: String,
    writer: Box<dyn Stream>,
    messages: Messages,
    deadline: Rc<Cell<Instant>>,
    next_id: u64,
    /// Replies read while waiting for another id.
    replies: HashMap<u64, Value>,
    notifications: VecDeque<Notification>,
}

/// The read side: before each read, the socket's timeout is set to what is
/// left until the deadline, so no read outlives it.
struct Timed {
    stream: Box<dyn Stream>,
    deadline: Rc<Cell<Instant>>,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.get().saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_timeouts(Some(left))?;
        self.stream.read(buf)
    }
}

impl Connection {
    /// A conversation over a connected stream; `remote` names the server in
    /// errors.
    pub fn new(stream: Box<dyn Stream>, remote: String) -> Result<Connection, Error> {
        let broken = |e: std::io::Error| Error::Broken { remote: remote.clone(), why: e.to_string() };
        let reader = stream.try_clone_stream().map_err(broken)?;
        let deadline = Rc::new(Cell::new(Instant::now()));
        let timed = Timed { stream: reader, deadline: deadline.clone() };
        let messages = serde_json::Deserializer::from_reader(BufReader::new(timed)).into_iter();
        Ok(Connection {
            remote,
            writer: stream,
            messages,
            deadline,
            next_id: 0,
            replies: HashMap::new(),
            notifications: VecDeque::new(),
        })
    }

    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// Sends requests in one write (pipelined); their ids, in order.
    pub fn send(&mut self, requests: &[(&str, Value)], deadline: Instant) -> Result<Vec<u64>, Error> {
        let mut bytes = Vec::new();
        let mut ids = Vec::new();
        for (method, params) in requests {
            let id = self.next_id;
            self.next_id += 1;
            ids.push(id);
            let msg = json!({"id": id, "method": method, "params": params});
            serde_json::to_writer(&mut bytes, &msg).expect("a JSON value always serializes");
        }
        self.write(&bytes, deadline)?;
        Ok(ids)
    }

    fn write(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), Error> {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let broken = |e: std::io::Error| Error::Broken { remote: self.remote.clone(), why: e.to_string() };
        self.writer.set_timeouts(Some(left)).map_err(broken)?;
        std::io::Write::write_all(&mut self.writer, bytes).map_err(broken)
    }

    /// One request and its answer: `result`, or the server's `error`.
    pub fn call(&mut self, method: &str, params: Value, deadline: Instant) -> Result<Value, Error> {
        let id = self.send(&[(method, params)], deadline)?[0];
        self.reply(id, method, deadline)
    }

    /// The answer to request `id` (sent as `method`, for errors).
    pub fn reply(&mut self, id: u64, method: &str, deadline: Instant) -> Result<Value, Error> {
        let msg = loop {
            if let Some(m) = self.replies.remove(&id) {
                break m;
            }
            self.read_one(deadline, &format!("waiting for the answer to {method}"))?;
        };
        match msg.get("error") {
            None | Some(Value::Null) => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
            Some(e) => {
                let (error, details) = match e {
                    Value::String(s) => (s.trim_end().to_string(), String::new()),
                    other => (
                        other.get("error").and_then(Value::as_str).unwrap_or("error").to_string(),
                        other.get("details").and_then(Value::as_str).unwrap_or("").to_string(),
                    ),
                };
                Err(Error::Refused { remote: self.remote.clone(), method: method.to_string(), error, details })
            }
        }
    }

    /// The next notification, oldest first; `what` says what is awaited.
    pub fn notification(&mut self, deadline: Instant, what: &str) -> Result<Notification, Error> {
        loop {
            if let Some(n) = self.notifications.pop_front() {
                return Ok(n);
            }
            self.read_one(deadline, what)?;
        }
    }

    /// Reads one message and files it: a reply by id, a notification in
    /// the queue; an echo request is answered at once.
    fn read_one(&mut self, deadline: Instant, what: &str) -> Result<(), Error> {
        self.deadline.set(deadline);
        let msg = match self.messages.next() {
            Some(Ok(m)) => m,
            Some(Err(e)) if e.is_io() && Instant::now() >= deadline => {
                return Err(Error::Timeout { remote: self.remote.clone(), what: what.to_string() });
            }
            Some(Err(e)) => return Err(Error::Broken { remote: self.remote.clone(), why: e.to_string() }),
            None => {
                return Err(Error::Broken {
                    remote: self.remote.clone(),
                    why: "the server closed the connection".into(),
                })
            }
        };
        let method = msg.get("method").and_then(Value::as_str).map(str::to_string);
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        match (method, id) {
            (Some(m), Value::Null) => {
                self.notifications.push_back((m, msg.get("params").cloned().unwrap_or(Value::Null)));
            }
            (Some(m), id) if m == "echo" => {
                let answer =
                    json!({"id": id, "result": msg.get("params").cloned().unwrap_or(json!([])), "error": null});
                let bytes = serde_json::to_vec(&answer).expect("JSON");
                self.write(&bytes, deadline)?;
            }
            // Another request of the server's: none is defined for clients
            // but echo; say so rather than leave it waiting.
            (Some(_), id) => {
                let bytes =
                    serde_json::to_vec(&json!({"id": id, "result": null, "error": "unknown method"})).expect("JSON");
                self.write(&bytes, deadline)?;
            }
            (None, Value::Number(n)) if n.as_u64().is_some() => {
                self.replies.insert(n.as_u64().unwrap_or_default(), msg);
            }
            // A reply to nothing we sent (such as a cancelled monitor's): dropped.
            (None, _) => {}
        }
        Ok(())
    }
}
