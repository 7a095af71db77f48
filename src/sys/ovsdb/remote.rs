//! Where an OVSDB server listens, in the form `ovs-vsctl --db` and
//! `ovn-nbctl --db` take (`unix:PATH`, `tcp:HOST:PORT`, `ssl:HOST:PORT`, a
//! comma-separated list for a cluster), and the connection to it.

use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::error::Error;
use super::tls::{Tls, TlsStream};

/// OVSDB's IANA port, the default of `tcp:` and `ssl:` remotes.
pub const DEFAULT_PORT: u16 = 6640;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    /// TLS over TCP, mutual (see `tls.rs`).
    Ssl {
        host: String,
        port: u16,
    },
}

/// A byte stream to a server, whichever the transport.
pub trait Stream: Read + Write {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()>;
    fn try_clone_stream(&self) -> std::io::Result<Box<dyn Stream>>;
}

impl Stream for UnixStream {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }
    fn try_clone_stream(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Stream for TcpStream {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }
    fn try_clone_stream(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Stream for TlsStream {
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_socket_timeouts(t)
    }
    fn try_clone_stream(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.share()))
    }
}

impl Remote {
    /// One remote or a comma-separated list of them (a clustered database:
    /// any member answers).
    pub fn parse_list(text: &str) -> Result<Vec<Remote>, Error> {
        text.split(',').map(|r| Remote::parse(r.trim())).collect()
    }

    pub fn parse(text: &str) -> Result<Remote, Error> {
        let bad = |why: &str| Error::BadRemote { remote: text.to_string(), why: why.to_string() };
        let (method, rest) =
            text.split_once(':').ok_or_else(|| bad("expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT"))?;
        let host_port = || -> Result<(String, u16), Error> {
            // [IPv6]:PORT, HOST:PORT, or a host alone (default port).
            let (host, port) = match rest.strip_prefix('[') {
                Some(v6) => {
                    let (h, p) = v6.split_once(']').ok_or_else(|| bad("unclosed [ in the address"))?;
                    (h, p.strip_prefix(':'))
                }
                None if rest.matches(':').count() > 1 => (rest, None),
                None => match rest.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (rest, None),
                },
            };
            if host.is_empty() {
                return Err(bad("no host"));
            }
            let port = match port {
                Some(p) => p.parse().map_err(|_| bad("the port is not a number from 0 to 65535"))?,
                None => DEFAULT_PORT,
            };
            Ok((host.to_string(), port))
        };
        match method {
            "unix" if !rest.is_empty() => Ok(Remote::Unix(PathBuf::from(rest))),
            "tcp" => host_port().map(|(host, port)| Remote::Tcp { host, port }),
            "ssl" => host_port().map(|(host, port)| Remote::Ssl { host, port }),
            "punix" | "ptcp" | "pssl" => Err(bad("a passive remote (the server listens there); name the active form")),
            _ => Err(bad("expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT")),
        }
    }

    /// A unix socket that does not exist: certainly no server there.
    pub fn certainly_absent(&self) -> bool {
        matches!(self, Remote::Unix(p) if !p.exists())
    }

    /// A connection, within `timeout` (a TCP server that never answers the
    /// handshake must not hang the caller). An `ssl:` remote needs `tls`.
    pub fn connect(&self, timeout: Duration, tls: Option<&Tls>) -> Result<Box<dyn Stream>, Error> {
        let not_running = |source| Error::NotRunning { remote: self.to_string(), source };
        match self {
            Remote::Unix(path) => Ok(Box::new(UnixStream::connect(path).map_err(not_running)?)),
            Remote::Tcp { host, port } => Ok(Box::new(tcp(host, *port, timeout).map_err(not_running)?)),
            Remote::Ssl { host, port } => {
                // Refusing by name beats sending JSON in the clear to a TLS port.
                let Some(tls) = tls else {
                    return Err(Error::BadRemote {
                        remote: self.to_string(),
                        why: "an ssl: remote needs this client's private key, certificate and CA certificate; \
                              pipework takes them for OVN's Northbound database (--ovn-nb-key, --ovn-nb-cert, \
                              --ovn-nb-ca); reach Open vSwitch's own database over unix:PATH or tcp:HOST:PORT"
                            .into(),
                    });
                };
                let stream = tcp(host, *port, timeout).map_err(not_running)?;
                let remote = self.to_string();
                match tls.handshake(stream, host, &remote, timeout) {
                    Ok(s) => Ok(Box::new(s)),
                    Err(why) => Err(Error::BadRemote { remote, why }),
                }
            }
        }
    }
}

/// A TCP connection to the first address of `host` that answers.
fn tcp(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let hp = |f: &mut fmt::Formatter, m: &str, h: &str, p: u16| {
            if h.contains(':') {
                write!(f, "{m}:[{h}]:{p}")
            } else {
                write!(f, "{m}:{h}:{p}")
            }
        };
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp { host, port } => hp(f, "tcp", host, *port),
            Remote::Ssl { host, port } => hp(f, "ssl", host, *port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_as_ovs_vsctl_takes_them() {
        assert_eq!(Remote::parse("unix:/run/ovs/db.sock").unwrap(), Remote::Unix("/run/ovs/db.sock".into()));
        assert_eq!(Remote::parse("tcp:10.0.0.1:6641").unwrap(), Remote::Tcp { host: "10.0.0.1".into(), port: 6641 });
        assert_eq!(Remote::parse("tcp:10.0.0.1").unwrap(), Remote::Tcp { host: "10.0.0.1".into(), port: 6640 });
        assert_eq!(
            Remote::parse("ssl:[2001:db8::1]:6641").unwrap(),
            Remote::Ssl { host: "2001:db8::1".into(), port: 6641 }
        );
        assert_eq!(Remote::parse("tcp:[::1]:6641").unwrap().to_string(), "tcp:[::1]:6641");
        assert_eq!(Remote::parse_list("tcp:a:1, tcp:b:2").unwrap().len(), 2);
        for bad in ["", "db.sock", "unix:", "tcp::1", "tcp:h:99999", "punix:/x", "http:x"] {
            assert!(matches!(Remote::parse(bad), Err(Error::BadRemote { .. })), "{bad}");
        }
    }

    #[test]
    fn a_missing_socket_is_not_running() {
        let r = Remote::parse("unix:/nonexistent/db.sock").unwrap();
        assert!(r.certainly_absent());
        let e = r.connect(Duration::from_secs(1), None).err().unwrap();
        assert!(e.is_not_running() && e.to_string().contains("unix:/nonexistent/db.sock"), "{e}");
    }
}
