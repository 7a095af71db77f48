//! A scripted OVSDB server for the wire-format tests: it listens on a unix
//! socket, reads the client's requests as they come (pipelined or not),
//! and answers each with messages the test gives — recorded from a real
//! ovsdb-server 3.1 — carrying the request's id.

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;

use serde_json::Value;

pub struct Fake {
    pub dir: PathBuf,
    server: Option<JoinHandle<Vec<Value>>>,
}

impl Fake {
    /// `answer` gets each request and says what to send back (`$ID` in a
    /// message becomes the request's id); it is called until the client
    /// hangs up.
    pub fn start(name: &str, mut answer: impl FnMut(&Value) -> Vec<String> + Send + 'static) -> Fake {
        let dir = std::env::temp_dir().join(format!("pw-fake-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("db.sock")).unwrap();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Ok((mut s, _)) = listener.accept() {
                let reader = s.try_clone().unwrap();
                for req in serde_json::Deserializer::from_reader(reader).into_iter::<Value>() {
                    let Ok(req) = req else { break };
                    let id = req["id"].to_string();
                    // A client that has hung up misses only what it no
                    // longer waits for (a cancelled monitor's answer).
                    for msg in answer(&req) {
                        let _ = s.write_all(msg.replace("$ID", &id).as_bytes());
                    }
                    let done = req["method"] == "stop";
                    seen.push(req);
                    if done {
                        return seen;
                    }
                }
            }
            seen
        });
        Fake { dir, server: Some(server) }
    }

    pub fn remote(&self) -> String {
        format!("unix:{}", self.dir.join("db.sock").display())
    }

    /// Every request the server read, in order, once the client is done.
    pub fn requests(mut self) -> Vec<Value> {
        // A last connection tells the server to stop accepting.
        let mut s = std::os::unix::net::UnixStream::connect(self.dir.join("db.sock")).unwrap();
        s.write_all(br#"{"id":0,"method":"stop","params":[]}"#).unwrap();
        let seen = self.server.take().unwrap().join().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        seen.into_iter().filter(|r| r["method"] != "stop").collect()
    }
}
