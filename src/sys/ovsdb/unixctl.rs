//! A daemon's control socket (what `ovs-appctl` speaks to): the same
//! JSON-RPC, one command per request, whose result is the text the command
//! prints.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::Error;
use super::jsonrpc::Connection;

/// The control socket of the daemon `name` (`ovs-vswitchd`) in `rundir`:
/// `NAME.ctl` when the daemon was started with that name for it, else
/// `NAME.PID.ctl` by its pid file, as `ovs-appctl -t NAME` finds it.
pub fn socket(rundir: &Path, name: &str) -> Option<PathBuf> {
    let plain = rundir.join(format!("{name}.ctl"));
    if plain.exists() {
        return Some(plain);
    }
    let pid = std::fs::read_to_string(rundir.join(format!("{name}.pid"))).ok()?;
    let by_pid = rundir.join(format!("{name}.{}.ctl", pid.trim()));
    by_pid.exists().then_some(by_pid)
}

/// Runs `command ARGS…` in the daemon: its output, or its complaint as
/// `Error::Refused`.
pub fn call(socket: &Path, command: &str, args: &[String], timeout: Duration) -> Result<String, Error> {
    let remote = format!("unix:{}", socket.display());
    let stream = UnixStream::connect(socket).map_err(|source| Error::NotRunning { remote: remote.clone(), source })?;
    let mut conn = Connection::new(Box::new(stream), remote)?;
    let result = conn.call(command, Value::from(args.to_vec()), Instant::now() + timeout)?;
    Ok(result.as_str().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// ovs-vswitchd 3.1's answers to `ovs/route/lookup` (recorded).
    #[test]
    fn route_lookup_as_ovs_vswitchd_answers() {
        let dir = std::env::temp_dir().join(format!("pw-unixctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ovs-vswitchd.ctl");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let answers = [
                r#"{"id":0,"result":"src 127.0.0.1\ngateway ::\ndev lo\n","error":null}"#,
                r#"{"id":0,"error":"Not found\n"}"#,
            ];
            for a in answers {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).unwrap();
                let req: Value = serde_json::from_slice(&buf[..n]).unwrap();
                assert_eq!(req["method"], "ovs/route/lookup");
                s.write_all(a.as_bytes()).unwrap();
            }
        });
        assert_eq!(socket(&dir, "ovs-vswitchd").as_deref(), Some(path.as_path()));
        let t = Duration::from_secs(5);
        let out = call(&path, "ovs/route/lookup", &["127.0.0.1".into()], t).unwrap();
        assert_eq!(out, "src 127.0.0.1\ngateway ::\ndev lo\n");
        match call(&path, "ovs/route/lookup", &["10.9.9.9".into()], t) {
            Err(Error::Refused { error, .. }) => assert_eq!(error, "Not found"),
            other => panic!("{other:?}"),
        }
        server.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
