//! The door to OVSDB servers: a small synchronous client of RFC 7047's
//! JSON-RPC protocol, over `unix:`, `tcp:` and `ssl:` remotes, for any database —
//! Open vSwitch's own (`vswitch.rs`, its typed helpers) today, OVN's
//! Northbound next. Nothing forks: the database is spoken to directly.
//!
//! One connection per run: opened on first use, reused by every step, so a
//! Linux-bridge attach on an OVS host never connects at all. Rows and
//! operations are schema-free (tables and columns by name); no schema is
//! fetched. Every wait has a deadline; errors are typed (`Error`).

mod datum;
mod error;
mod jsonrpc;
mod monitor;
pub mod northbound;
mod op;
mod remote;
mod tls;
pub mod unixctl;
pub mod vswitch;

#[cfg(test)]
mod fake;

use std::cell::{RefCell, RefMut};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use datum::{Atom, Datum, Row};
pub use error::{find as find_error, Error};
pub use monitor::{Monitor, Shape, Watch};
pub use op::{add, delete, eq, includes, insert, Op, Reply};
pub use remote::Remote;
pub use tls::{Tls, TlsFiles, OVN_NB_FLAGS};

use jsonrpc::Connection;

/// A client of one OVSDB server (or cluster), connected lazily.
pub struct Client {
    remotes: Result<Vec<Remote>, String>,
    /// The user's spelling, for errors.
    spelled: String,
    /// How long any one request may take.
    timeout: Duration,
    conn: RefCell<Option<Connection>>,
    /// For `ssl:` remotes.
    tls: Option<std::rc::Rc<Tls>>,
    monitors: std::cell::Cell<u64>,
}

impl Client {
    /// A client of `remote` (one or a comma-separated list); nothing is
    /// opened yet, and a remote that cannot be parsed is reported on use.
    pub fn new(remote: &str, timeout: Duration) -> Client {
        let remotes = Remote::parse_list(remote).map_err(|e| e.to_string());
        Client {
            remotes,
            spelled: remote.to_string(),
            timeout,
            conn: RefCell::new(None),
            tls: None,
            monitors: 0.into(),
        }
    }

    /// The same, with the key and certificates `ssl:` remotes need.
    pub fn with_tls(remote: &str, timeout: Duration, tls: Option<std::rc::Rc<Tls>>) -> Client {
        Client { tls, ..Client::new(remote, timeout) }
    }

    /// The remotes, as parsed (empty when they cannot be).
    pub fn remotes(&self) -> &[Remote] {
        self.remotes.as_deref().unwrap_or(&[])
    }

    pub fn spelled(&self) -> &str {
        &self.spelled
    }

    /// The connection, opened now if it is not yet: the first remote of the
    /// list that answers.
    fn conn(&self) -> Result<RefMut<'_, Connection>, Error> {
        let mut slot = self.conn.borrow_mut();
        if slot.is_none() {
            let remotes = self
                .remotes
                .as_ref()
                .map_err(|why| Error::BadRemote { remote: self.spelled.clone(), why: why.clone() })?;
            let mut last = None;
            for r in remotes {
                match r.connect(self.timeout, self.tls.as_deref()).and_then(|s| Connection::new(s, r.to_string())) {
                    Ok(c) => {
                        *slot = Some(c);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            if slot.is_none() {
                return Err(last.unwrap_or(Error::BadRemote { remote: self.spelled.clone(), why: "empty".into() }));
            }
        }
        Ok(RefMut::map(slot, |c| c.as_mut().expect("connected above")))
    }

    /// Opens the connection if needed: does a server answer?
    pub fn connect(&self) -> Result<(), Error> {
        self.conn().map(drop)
    }

    /// Runs `f` on the connection; a connection that broke or timed out is
    /// dropped, so that the next request opens a fresh one.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, Error>) -> Result<T, Error> {
        let r = f(&mut *self.conn()?);
        if matches!(r, Err(Error::Broken { .. } | Error::Timeout { .. })) {
            *self.conn.borrow_mut() = None;
        }
        r
    }

    /// One transaction: every operation commits, or none does.
    pub fn transact(&self, db: &str, ops: &[Op]) -> Result<Reply, Error> {
        let deadline = Instant::now() + self.timeout;
        self.with(|c| {
            let result = c.call("transact", transact_params(db, ops), deadline)?;
            parse_reply(c.remote(), &result, ops.len())
        })
    }

    /// A transaction whose effects are to be awaited: `watches` are
    /// monitored from before it commits (one write carries both requests).
    /// It has committed when this returns; `await_watched` waits for its
    /// effects later, so the caller may do other work meanwhile. One watch
    /// is awaited at a time: updates of others are dropped.
    pub fn transact_watched(&self, db: &str, ops: &[Op], watches: &[Watch]) -> Result<Watching, Error> {
        let n = self.monitors.get() + 1;
        self.monitors.set(n);
        let (mut mon, params) = Monitor::request(db, &format!("pipework-{n}"), watches);
        let deadline = Instant::now() + self.timeout;
        self.with(|c| {
            let ids = c.send(&[("monitor_cond", params), ("transact", transact_params(db, ops))], deadline)?;
            let initial = c.reply(ids[0], "monitor_cond", deadline)?;
            mon.apply(&initial).map_err(|e| broken(c.remote(), e))?;
            let result = c.reply(ids[1], "transact", deadline)?;
            match parse_reply(c.remote(), &result, ops.len()) {
                Ok(reply) => Ok(Watching { mon, reply }),
                Err(e) => {
                    cancel(c, &mon, deadline)?;
                    Err(e)
                }
            }
        })
    }

    /// `done` is asked now and after each update of the watch, until it
    /// answers or `wait` has passed (`what` names the wait in errors); then
    /// the monitor ends.
    pub fn await_watched<T>(
        &self,
        w: &mut Watching,
        wait: Duration,
        what: &str,
        mut done: impl FnMut(&Reply, &Monitor) -> Option<T>,
    ) -> Result<T, Error> {
        let deadline = Instant::now() + wait;
        self.with(|c| {
            let outcome = loop {
                if let Some(t) = done(&w.reply, &w.mon) {
                    break Ok(t);
                }
                match c.notification(deadline, what) {
                    Ok((method, params)) => {
                        if method == "update2" && params.get(0).and_then(Value::as_str) == Some(w.mon.id.as_str()) {
                            let updates = params.get(1).unwrap_or(&Value::Null);
                            if let Err(e) = w.mon.apply(updates) {
                                break Err(broken(c.remote(), e));
                            }
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            if !matches!(outcome, Err(Error::Broken { .. } | Error::Timeout { .. })) {
                cancel(c, &w.mon, Instant::now() + self.timeout)?;
            }
            outcome
        })
    }
}

/// A committed transaction whose effects are being watched.
pub struct Watching {
    mon: Monitor,
    reply: Reply,
}

impl Watching {
    /// What the transaction's operations answered.
    pub fn reply(&self) -> &Reply {
        &self.reply
    }
}

/// Ends a monitor; its answer, when it comes, is dropped unread.
fn cancel(c: &mut Connection, mon: &Monitor, deadline: Instant) -> Result<(), Error> {
    c.send(&[("monitor_cancel", json!([mon.id]))], deadline).map(drop)
}

fn transact_params(db: &str, ops: &[Op]) -> Value {
    let mut params = vec![json!(db)];
    params.extend(ops.iter().map(Op::to_json));
    Value::Array(params)
}

fn parse_reply(remote: &str, result: &Value, ops: usize) -> Result<Reply, Error> {
    match Reply::parse(result, ops) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(txn)) => Err(Error::Txn { remote: remote.to_string(), txn }),
        Err(e) => Err(broken(remote, e)),
    }
}

fn broken(remote: &str, e: datum::Malformed) -> Error {
    Error::Broken { remote: remote.to_string(), why: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// `tcp:` speaks the same protocol: a select over a TCP connection to a
    /// server on this machine's loopback.
    #[test]
    fn a_tcp_remote_carries_the_same_requests() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            let req: Value = serde_json::from_slice(&buf[..n]).unwrap();
            let answer = json!({"id": req["id"], "result": [{"rows": [{"name": "sw0"}]}], "error": null});
            s.write_all(answer.to_string().as_bytes()).unwrap();
            req
        });
        let c = Client::new(&format!("tcp:127.0.0.1:{port}"), Duration::from_secs(5));
        let reply = c.transact("Open_vSwitch", &[Op::select("Bridge", vec![], &["name"])]).unwrap();
        assert_eq!(reply.rows(0).unwrap()[0].str("name"), "sw0");
        let req = server.join().unwrap();
        assert_eq!(
            req["params"],
            json!(["Open_vSwitch", {"op": "select", "table": "Bridge", "where": [], "columns": ["name"]}])
        );
    }
}
