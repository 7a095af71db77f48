//! TLS for `ssl:` remotes, as Open vSwitch's and OVN's own clients speak it:
//! mutual (an ovsdb-server listening on `pssl:` asks for the client's
//! certificate and checks it against its CA), and the server's certificate
//! must chain to the CA certificate given. No host name is checked, as OVS
//! checks none: ovs-pki names a certificate by its CN ("nb id:UUID"), not by
//! the address the server is reached at, and an ovs-pki certificate may
//! carry no subjectAltName at all, which a name check would refuse.
//!
//! rustls (with ring) rather than OpenSSL: pipework is one static executable,
//! and rustls adds no shared library the package would have to depend on.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};

/// The three files an `ssl:` remote needs, as `ovn-nbctl -p -c -C` and
/// `ovs-vsctl -p -c -C` take them (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This client's private key (`-p`, `--private-key`).
    pub key: PathBuf,
    /// This client's certificate (`-c`, `--certificate`).
    pub cert: PathBuf,
    /// The CA certificate the server's certificate must chain to (`-C`,
    /// `--ca-cert`).
    pub ca: PathBuf,
}

/// The option names that gave the files, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub key: &'static str,
    pub cert: &'static str,
    pub ca: &'static str,
}

/// The Northbound database's: `--ovn-nb-key`, `--ovn-nb-cert`, `--ovn-nb-ca`.
pub const OVN_NB_FLAGS: Flags = Flags { key: "--ovn-nb-key", cert: "--ovn-nb-cert", ca: "--ovn-nb-ca" };

/// The files, read and checked: a client configuration ready to connect.
pub struct Tls {
    files: TlsFiles,
    flags: Flags,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls({:?})", self.files)
    }
}

impl TlsFiles {
    /// `ovn-nbctl`'s spelling of the files: ` -p KEY -c CERT -C CA`.
    pub fn nbctl_args(&self) -> String {
        let q = |p: &Path| {
            let s = p.display().to_string();
            shlex::try_quote(&s).map_or(s.clone(), |q| q.into_owned())
        };
        format!(" -p {} -c {} -C {}", q(&self.key), q(&self.cert), q(&self.ca))
    }

    /// Reads the key, the certificate and the CA certificate; every error
    /// names the file, the option that gave it and what to do.
    pub fn load(&self, flags: Flags) -> Result<Tls, String> {
        let read = |path: &Path, flag: &str, what: &str| -> Result<Vec<u8>, String> {
            std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read {what} {} ({flag}): {e}; name the PEM file ovn-nbctl and ovs-vsctl would take, \
                     as made by ovs-pki (ovs-pki req+sign NAME)",
                    path.display()
                )
            })
        };
        let certs = |path: &Path, flag: &str, what: &str| -> Result<Vec<CertificateDer<'static>>, String> {
            let pem = read(path, flag, what)?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{what} {} ({flag}) is not a PEM certificate: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "{what} {} ({flag}) holds no certificate (no -----BEGIN CERTIFICATE----- block): is it the \
                     right file?",
                    path.display()
                ));
            }
            Ok(certs)
        };

        let key_pem = read(&self.key, flags.key, "the private key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            format!(
                "the private key {} ({}) holds no private key in PEM ({e}): name the *-privkey.pem file, not a \
                 certificate",
                self.key.display(),
                flags.key
            )
        })?;
        let chain = certs(&self.cert, flags.cert, "the certificate")?;
        let mut roots = RootCertStore::empty();
        for ca in certs(&self.ca, flags.ca, "the CA certificate")? {
            roots
                .add(ca)
                .map_err(|e| format!("the CA certificate {} ({}) cannot be used: {e}", self.ca.display(), flags.ca))?;
        }

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(ChainToCa { roots: Arc::new(roots), algs: provider.signature_verification_algorithms });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| {
                format!(
                    "the private key {} ({}) and the certificate {} ({}) do not go together ({e}): name the key \
                     the certificate was made for",
                    self.key.display(),
                    flags.key,
                    self.cert.display(),
                    flags.cert
                )
            })?;
        Ok(Tls { files: self.clone(), flags, config: Arc::new(config) })
    }
}

impl Tls {
    /// The TLS handshake over a connected TCP stream, within `timeout`;
    /// `remote` names the server in errors.
    pub fn handshake(
        &self,
        mut tcp: TcpStream,
        host: &str,
        remote: &str,
        timeout: Duration,
    ) -> Result<TlsStream, String> {
        // The name is not checked (see ChainToCa); it is sent for SNI only,
        // and an address or an odd name falls back to a placeholder.
        let name = ServerName::try_from(host.to_string())
            .unwrap_or_else(|_| ServerName::try_from("ovsdb").expect("a valid DNS name"));
        let mut conn = ClientConnection::new(self.config.clone(), name).map_err(|e| format!("TLS: {e}"))?;
        tcp.set_read_timeout(Some(timeout))
            .and_then(|()| tcp.set_write_timeout(Some(timeout)))
            .map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut tcp) {
                return Err(self.explain(remote, &e, true));
            }
        }
        Ok(TlsStream {
            inner: Rc::new(RefCell::new(StreamOwned::new(conn, tcp))),
            files: Rc::new(self.clone_parts()),
            answered: Rc::new(Cell::new(false)),
        })
    }

    fn clone_parts(&self) -> (TlsFiles, Flags) {
        (self.files.clone(), self.flags)
    }

    fn explain(&self, remote: &str, e: &std::io::Error, handshaking: bool) -> String {
        explain(&self.files, self.flags, remote, e, handshaking)
    }
}

/// What a failed TLS exchange means, in the user's terms.
fn explain(files: &TlsFiles, flags: Flags, remote: &str, e: &std::io::Error, handshaking: bool) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let ca = files.ca.display();
    let cert = files.cert.display();
    let tls = e.get_ref().and_then(|i| i.downcast_ref::<R>());
    match tls {
        Some(R::InvalidCertificate(C::UnknownIssuer | C::BadSignature | C::NotValidForName)) => format!(
            "the server's certificate is not signed by the CA in {ca} ({}): name the CA certificate that signed \
             the server's (with ovs-pki, its pki/switchca/cacert.pem or controllerca/cacert.pem)",
            flags.ca
        ),
        Some(R::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        )) => {
            format!(
                "the server's certificate is outside its validity period ({e}): renew it, or check this host's clock"
            )
        }
        Some(R::InvalidCertificate(c)) => {
            format!("the server's certificate was refused ({c:?}) against the CA in {ca} ({})", flags.ca)
        }
        Some(R::AlertReceived(
            A::BadCertificate
            | A::UnknownCA
            | A::CertificateRequired
            | A::CertificateUnknown
            | A::AccessDenied
            | A::DecryptError,
        )) => format!(
            "the server refused this client's certificate {cert} ({}): it must be signed by a CA the server \
             trusts (its --ca-cert), and {} must be that certificate's key",
            flags.cert,
            files.key.display()
        ),
        Some(R::AlertReceived(a)) => format!("the server ended the TLS handshake ({a:?})"),
        Some(R::InvalidMessage(_) | R::InappropriateMessage { .. } | R::InappropriateHandshakeMessage { .. }) => {
            format!("{remote} does not speak TLS (does the server listen with pssl: there, not ptcp:?)")
        }
        Some(other) => format!("TLS with {remote} failed: {other}"),
        None if handshaking && e.kind() == std::io::ErrorKind::UnexpectedEof => format!(
            "{remote} closed the connection during the TLS handshake: does it listen with pssl: there (not ptcp:), \
             and does it trust the certificate {cert} ({})?",
            flags.cert
        ),
        None if handshaking && matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            format!("{remote} did not answer the TLS handshake in time: does it listen with pssl: there (not ptcp:)?")
        }
        None => e.to_string(),
    }
}

/// A TLS connection, shared by the reading and the writing half of one
/// JSON-RPC connection (one thread uses both).
pub struct TlsStream {
    inner: Rc<RefCell<StreamOwned<ClientConnection, TcpStream>>>,
    files: Rc<(TlsFiles, Flags)>,
    /// The server has sent data since the handshake.
    answered: Rc<Cell<bool>>,
}

impl TlsStream {
    fn translate(&self, e: std::io::Error) -> std::io::Error {
        use std::io::ErrorKind as K;
        let (files, flags) = (&self.files.0, self.files.1);
        if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
            let peer = self.inner.borrow().sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            let why = explain(files, flags, &peer, &e, false);
            return std::io::Error::new(e.kind(), why);
        }
        // With TLS 1.3 the server judges our certificate after our side of
        // the handshake is done: its refusal is an alert on the first read,
        // or, if the reset overtook it, a connection that just ends.
        if !self.answered.get() && matches!(e.kind(), K::ConnectionReset | K::BrokenPipe | K::UnexpectedEof) {
            return std::io::Error::new(
                e.kind(),
                format!(
                    "{e}: the server ended the TLS connection before answering; most likely it refused this \
                     client's certificate {} ({}): it must be signed by a CA the server trusts (its --ca-cert)",
                    files.cert.display(),
                    flags.cert
                ),
            );
        }
        e
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.inner.borrow_mut().read(buf);
        match r {
            Ok(0) if !buf.is_empty() && !self.answered.get() => {
                Err(self.translate(std::io::ErrorKind::UnexpectedEof.into()))
            }
            Ok(n) => {
                self.answered.set(self.answered.get() || n > 0);
                Ok(n)
            }
            Err(e) => Err(self.translate(e)),
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.borrow_mut().write(buf);
        r.map_err(|e| self.translate(e))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.borrow_mut().flush();
        r.map_err(|e| self.translate(e))
    }
}

impl TlsStream {
    /// Read and write timeouts of the TCP connection beneath.
    pub fn set_socket_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        let s = self.inner.borrow();
        s.sock.set_read_timeout(t)?;
        s.sock.set_write_timeout(t)
    }

    /// A second handle on the same connection (the JSON-RPC reader's).
    pub fn share(&self) -> TlsStream {
        TlsStream { inner: self.inner.clone(), files: self.files.clone(), answered: self.answered.clone() }
    }
}

/// The server's certificate chains to the CA given, and is valid now; its
/// names are not looked at (see the module's comment).
#[derive(Debug)]
struct ChainToCa {
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainToCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles { key: dir.join("k.pem"), cert: dir.join("c.pem"), ca: dir.join("ca.pem") }
    }

    /// Each unusable file is named with the option that gave it, before
    /// any connection.
    #[test]
    fn unusable_files_are_named() {
        let dir = std::env::temp_dir().join(format!("pipework-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = files(&dir);
        let e = f.load(OVN_NB_FLAGS).unwrap_err();
        assert!(e.contains(&format!("cannot read the private key {} (--ovn-nb-key)", f.key.display())), "{e}");
        let not_pem = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
        std::fs::write(&f.key, not_pem).unwrap();
        let e = f.load(OVN_NB_FLAGS).unwrap_err();
        assert!(e.contains("(--ovn-nb-key) holds no private key") && e.contains("not a certificate"), "{e}");
        std::fs::write(&f.key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let e = f.load(OVN_NB_FLAGS).unwrap_err();
        assert!(e.contains(&format!("cannot read the certificate {} (--ovn-nb-cert)", f.cert.display())), "{e}");
        std::fs::write(&f.cert, "no PEM here").unwrap();
        let e = f.load(OVN_NB_FLAGS).unwrap_err();
        assert!(e.contains("(--ovn-nb-cert) holds no certificate"), "{e}");
        std::fs::write(&f.cert, not_pem).unwrap();
        let e = f.load(OVN_NB_FLAGS).unwrap_err();
        assert!(e.contains(&format!("cannot read the CA certificate {} (--ovn-nb-ca)", f.ca.display())), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nbctl_quotes_paths_a_shell_would_split() {
        let f = TlsFiles { key: "/my keys/k.pem".into(), cert: "c.pem".into(), ca: "ca.pem".into() };
        assert_eq!(f.nbctl_args(), " -p '/my keys/k.pem' -c c.pem -C ca.pem");
    }
}
