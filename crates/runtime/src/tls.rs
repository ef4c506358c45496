//! Optional TLS on both ports (rustls, ring provider, TLS 1.3 only).
//!
//! Concern: untrusted networks. Without TLS the peer port proves membership (the HMAC
//! handshake, [`crate::transport::handshake`]) but carries everything in the clear, and
//! the client port carries keys and values in the clear. With `[tls]` in the cluster
//! file:
//!
//! - the **peer port** runs mutual TLS: each end presents its node certificate and
//!   checks the other's against the cluster's CA; the HMAC handshake then runs inside
//!   the TLS session, unchanged (defence in depth: a stolen node key without the
//!   cluster secret, or the secret without a certificate, is not enough);
//! - the **client port** runs server-authenticated TLS: the node presents its
//!   certificate, a client checks it against the CA (clients present none).
//!
//! A dialer checks the certificate against the IP address it dialed (the address in
//! the cluster file), so a node certificate must name its node's IP address (and may
//! name DNS names, which nothing here checks). An acceptor refuses a connection whose
//! first byte is not a TLS handshake record (a plain-TCP peer or client) before
//! rustls sees it, to log it plainly.
//!
//! [`CertAuthority`] makes a self-signed cluster CA and node certificates (rcgen), for
//! `cwb config --tls` and for tests.

use protocols::NodeId;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long a TLS handshake (after the TCP connect) may take on either port.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest certificate or key file read (PEM files are a few KiB).
pub const MAX_PEM_BYTES: u64 = 1 << 20;

/// The first byte of every TLS record carrying a handshake message (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why TLS material could not be loaded, built or made.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file's contents are not what they should be.
    #[error("{what} {path}: {reason}")]
    Bad {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the material (e.g. a key that does not match its certificate).
    #[error("TLS setup: {0}")]
    Setup(String),
    /// Making a CA or certificate failed.
    #[error("generating TLS certificates: {0}")]
    Generate(String),
    /// A file to write exists already (keys are never overwritten).
    #[error(
        "{0} exists already: remove it (or write the config elsewhere) to make new certificates"
    )]
    Exists(PathBuf),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn setup(e: impl std::fmt::Display) -> TlsError {
    TlsError::Setup(e.to_string())
}

/// Reads a PEM file of at most [`MAX_PEM_BYTES`].
fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let read = |source| TlsError::Read {
        what,
        path: path.into(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::Bad {
            what,
            path: path.into(),
            reason: format!("larger than {MAX_PEM_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

fn certificates(
    pem: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::Bad {
        what,
        path: path.into(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no certificate (no BEGIN CERTIFICATE block)".into()
        ));
    }
    Ok(certs)
}

/// rustls with *ring*: no cmake or C toolchain beyond what `ring` needs. rustls marks
/// it deprecated for lacking post-quantum key exchange (only its aws-lc-rs provider
/// has that); X25519 and the NIST curves remain.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 only: both ends are this program.
static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn tls13() -> &'static [&'static rustls::SupportedProtocolVersion] {
    TLS13_ONLY
}

/// The cluster's CA: what every node and client checks certificates against.
#[derive(Clone)]
pub struct ClusterCa {
    roots: Arc<RootCertStore>,
    origin: PathBuf,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClusterCa {{ {} ({} certificates) }}",
            self.origin.display(),
            self.roots.len()
        )
    }
}

impl ClusterCa {
    /// Reads the CA certificate(s) from a PEM file.
    pub fn load(path: &Path) -> Result<ClusterCa, TlsError> {
        ClusterCa::from_pem(&read_pem(path, "CA certificate")?, path)
    }

    /// The CA certificate(s) in PEM text (`origin` names it in errors).
    pub fn from_pem(pem: &[u8], origin: &Path) -> Result<ClusterCa, TlsError> {
        let what = "CA certificate";
        let mut roots = RootCertStore::empty();
        for cert in certificates(pem, origin, what)? {
            roots.add(cert).map_err(|e| TlsError::Bad {
                what,
                path: origin.into(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
        Ok(ClusterCa {
            roots: Arc::new(roots),
            origin: origin.into(),
        })
    }

    /// A client's side: checks a node's certificate against this CA, presents none.
    pub fn client(&self) -> Result<ClientTls, TlsError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(tls13())
            .map_err(setup)?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// A node's side: its certificate chain and key from PEM files.
    pub fn node(&self, cert: &Path, key: &Path) -> Result<NodeTls, TlsError> {
        let cert_pem = read_pem(cert, "node certificate")?;
        let key_pem = read_pem(key, "node key")?;
        self.node_from_pem(&cert_pem, cert, &key_pem, key)
    }

    /// A node's side from PEM text (the paths name them in errors).
    pub fn node_from_pem(
        &self,
        cert_pem: &[u8],
        cert_origin: &Path,
        key_pem: &[u8],
        key_origin: &Path,
    ) -> Result<NodeTls, TlsError> {
        let chain = certificates(cert_pem, cert_origin, "node certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Bad {
            what: "node key",
            path: key_origin.into(),
            reason: format!("no private key in it: {e}"),
        })?;
        let mismatch = |e: rustls::Error| {
            TlsError::Setup(format!(
                "{} and {}: {e}",
                cert_origin.display(),
                key_origin.display()
            ))
        };
        // Peers: mutual TLS, each side's certificate checked against the CA.
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider())
            .build()
            .map_err(setup)?;
        let peer_server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(tls13())
            .map_err(setup)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(mismatch)?;
        let peer_client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(tls13())
            .map_err(setup)?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(mismatch)?;
        // Clients: only the node proves who it is.
        let client_server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(tls13())
            .map_err(setup)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(mismatch)?;
        Ok(NodeTls {
            peer_acceptor: TlsAcceptor::from(Arc::new(peer_server)),
            peer_connector: TlsConnector::from(Arc::new(peer_client)),
            client_acceptor: TlsAcceptor::from(Arc::new(client_server)),
        })
    }
}

/// A node's TLS: mutual TLS on the peer port, server TLS on the client port.
#[derive(Clone)]
pub struct NodeTls {
    pub(crate) peer_acceptor: TlsAcceptor,
    pub(crate) peer_connector: TlsConnector,
    pub(crate) client_acceptor: TlsAcceptor,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeTls { .. }")
    }
}

/// A client's TLS: checks the node's certificate against the cluster's CA.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls { .. }")
    }
}

impl ClientTls {
    /// Runs the TLS handshake on a connected socket to `addr`, checking the node's
    /// certificate names `addr`'s IP address and is signed by the cluster's CA.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        connect(&self.connector, addr, tcp).await
    }
}

/// The TLS handshake as the dialing side, bounded by [`TLS_HANDSHAKE_TIMEOUT`].
pub(crate) async fn connect(
    connector: &TlsConnector,
    addr: SocketAddr,
    tcp: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::from(addr.ip());
    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

/// Why an incoming connection did not become a TLS session.
#[derive(Debug, Error)]
pub enum AcceptError {
    /// The other end spoke plain TCP to a TLS port.
    #[error("plain TCP on a TLS port (first byte {0:#04x} is not a TLS handshake): the other end has no [tls] in its config")]
    NotTls(u8),
    /// The other end closed before sending anything.
    #[error("closed before the TLS handshake")]
    Closed,
    /// The handshake failed (e.g. a certificate of another CA).
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    /// The handshake did not finish in time.
    #[error("TLS handshake timed out")]
    Timeout,
}

/// The TLS handshake as the accepting side: refuses plain TCP before rustls reads
/// anything; bounded by [`TLS_HANDSHAKE_TIMEOUT`].
pub(crate) async fn accept(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, AcceptError> {
    let handshake = async {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(0) => return Err(AcceptError::Closed),
            Ok(_) if first[0] != TLS_HANDSHAKE_RECORD => return Err(AcceptError::NotTls(first[0])),
            Ok(_) => {}
            Err(e) => return Err(AcceptError::Handshake(e)),
        }
        acceptor.accept(tcp).await.map_err(AcceptError::Handshake)
    };
    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| AcceptError::Timeout)?
}

/// A client's connection to a node: plain TCP or TLS.
#[derive(Debug)]
pub enum ClientStream {
    /// Plain TCP (a cluster without `[tls]`).
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl ClientStream {
    /// Connects to `addr`, with TLS when `tls` is given.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<&ClientTls>,
    ) -> std::io::Result<ClientStream> {
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(ClientStream::Plain(tcp)),
            Some(tls) => Ok(ClientStream::Tls(Box::new(tls.connect(addr, tcp).await?))),
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A self-signed cluster CA that issues node certificates (rcgen, ECDSA P-256).
pub struct CertAuthority {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert_pem: String,
    key_pem: String,
}

/// A node certificate and its private key, in PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (keep it private).
    pub key_pem: String,
}

fn generate(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

impl CertAuthority {
    /// A fresh CA named after the cluster (`name` goes into its common name).
    pub fn generate(name: &str) -> Result<CertAuthority, TlsError> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("cwb cluster CA {name}"));
        let key = rcgen::KeyPair::generate().map_err(generate)?;
        let cert = params.self_signed(&key).map_err(generate)?;
        let key_pem = key.serialize_pem();
        Ok(CertAuthority {
            cert_pem: cert.pem(),
            key_pem,
            issuer: rcgen::Issuer::new(params, key),
        })
    }

    /// The CA certificate (what nodes and clients trust).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (only needed to issue more certificates).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A certificate for node `id`, good for both ports (server and client
    /// authentication), naming `ips` and the DNS names `node-<id>.cwb` and, for a node
    /// on a loopback address, `localhost`.
    pub fn issue(&self, id: NodeId, ips: &[IpAddr]) -> Result<Issued, TlsError> {
        let mut names: Vec<String> = Vec::new();
        for ip in ips {
            let ip = ip.to_string();
            if !names.contains(&ip) {
                names.push(ip);
            }
        }
        names.push(format!("node-{id}.cwb"));
        if ips.iter().any(|ip| ip.is_loopback()) {
            names.push("localhost".into());
        }
        let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("cwb node {id}"));
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().map_err(generate)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(generate)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A CA and one certificate for 127.0.0.1 that every node of a loopback cluster
/// shares (tests, benches), and the matching client side. The PEM texts are kept for
/// clusters of processes, which read them from files ([`LoopbackTls::write_files`]).
#[derive(Clone)]
pub struct LoopbackTls {
    /// Every node's TLS.
    pub node: NodeTls,
    /// What clients dial with.
    pub client: ClientTls,
    ca_pem: String,
    issued: Issued,
}

impl std::fmt::Debug for LoopbackTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoopbackTls { .. }")
    }
}

/// Where [`LoopbackTls::write_files`] put the CA, the certificate and its key.
#[derive(Clone, Debug)]
pub struct LoopbackFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The shared node certificate.
    pub cert: PathBuf,
    /// Its key (mode 0600).
    pub key: PathBuf,
}

impl LoopbackTls {
    /// A fresh CA and a certificate for 127.0.0.1 signed by it.
    pub fn generate() -> Result<LoopbackTls, TlsError> {
        let ca = CertAuthority::generate("loopback")?;
        let issued = ca.issue(0, &[IpAddr::from([127, 0, 0, 1])])?;
        let cluster = ClusterCa::from_pem(ca.cert_pem().as_bytes(), Path::new("(generated CA)"))?;
        let node = cluster.node_from_pem(
            issued.cert_pem.as_bytes(),
            Path::new("(generated certificate)"),
            issued.key_pem.as_bytes(),
            Path::new("(generated key)"),
        )?;
        Ok(LoopbackTls {
            node,
            client: cluster.client()?,
            ca_pem: ca.cert_pem().to_string(),
            issued,
        })
    }

    /// Writes the CA, the certificate and its key (mode 0600) as new files in `dir`
    /// (`ca.pem`, `node.pem`, `node.key`).
    pub fn write_files(&self, dir: &Path) -> Result<LoopbackFiles, TlsError> {
        let files = LoopbackFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("node.pem"),
            key: dir.join("node.key"),
        };
        write_new(&files.ca, &self.ca_pem, false)?;
        write_new(&files.cert, &self.issued.cert_pem, false)?;
        write_new(&files.key, &self.issued.key_pem, true)?;
        Ok(files)
    }
}

/// Writes `contents` to a new file (never over an existing one); `private` files are
/// readable by their owner only (0600).
pub fn write_new(path: &Path, contents: &str, private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            TlsError::Exists(path.into())
        } else {
            TlsError::Write {
                path: path.into(),
                source,
            }
        }
    })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| TlsError::Write {
            path: path.into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ca_and_node_certificate_load() {
        let ca = CertAuthority::generate("test").expect("ca");
        let issued = ca.issue(1, &[IpAddr::from([127, 0, 0, 1])]).expect("issue");
        let cluster =
            ClusterCa::from_pem(ca.cert_pem().as_bytes(), Path::new("ca.pem")).expect("ca loads");
        cluster
            .node_from_pem(
                issued.cert_pem.as_bytes(),
                Path::new("n.pem"),
                issued.key_pem.as_bytes(),
                Path::new("n.key"),
            )
            .expect("node loads");
        cluster.client().expect("client");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_both_files() {
        let ca = CertAuthority::generate("test").expect("ca");
        let ip = [IpAddr::from([127, 0, 0, 1])];
        let a = ca.issue(1, &ip).expect("issue");
        let b = ca.issue(2, &ip).expect("issue");
        let cluster =
            ClusterCa::from_pem(ca.cert_pem().as_bytes(), Path::new("ca.pem")).expect("ca loads");
        let err = cluster
            .node_from_pem(
                a.cert_pem.as_bytes(),
                Path::new("a.pem"),
                b.key_pem.as_bytes(),
                Path::new("b.key"),
            )
            .expect_err("mismatch");
        let text = err.to_string();
        assert!(text.contains("a.pem") && text.contains("b.key"), "{text}");
    }

    #[test]
    fn garbage_is_not_a_ca() {
        let err = ClusterCa::from_pem(b"hello", Path::new("x/ca.pem")).expect_err("garbage");
        assert!(err.to_string().contains("x/ca.pem"), "{err}");
        let err = ClusterCa::load(Path::new("/nonexistent/ca.pem")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
