//! One agent's HTTP/1.1 connection to a Fleet Server: a long-poll holds the connection, so every
//! agent owns exactly one (as a real agent does), bound to its own loopback source address when
//! asked so that tens of thousands of them never run out of ephemeral ports.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Where one Fleet Server listens, resolved once and shared by the agents that use it.
pub struct Target {
    addr: SocketAddr,
    authority: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Target {
    /// Parses `http(s)://host:port` and resolves the host.
    pub async fn resolve(url: &str, insecure: bool) -> Result<Target> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            bail!("the Fleet Server URL must start with http:// or https://: {url}");
        };
        let authority = rest.trim_end_matches('/').to_string();
        if authority.is_empty() || authority.contains('/') {
            bail!("the Fleet Server URL must be scheme://host:port with no path: {url}");
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.clone()
        } else {
            format!("{authority}:{}", if tls { 443 } else { 80 })
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .with_context(|| format!("resolving {with_port}"))?
            .next()
            .ok_or_else(|| anyhow!("{with_port} has no address"))?;
        let tls = if tls {
            let host = with_port
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or_default();
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| anyhow!("bad server name {host}: {e}"))?;
            Some((TlsConnector::from(Arc::new(tls_config(insecure))), name))
        } else {
            None
        };
        Ok(Target {
            addr,
            authority,
            tls,
        })
    }

    pub fn is_loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }
}

fn tls_config(insecure: bool) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth()
    } else {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    }
}

/// `--insecure`, as elastic-agent's flag of the same name: any server certificate is accepted.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A response: status and (decompressed) body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

pub struct Conn {
    target: Arc<Target>,
    source: Option<IpAddr>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: Arc<Target>, source: Option<IpAddr>) -> Conn {
        Conn {
            target,
            source,
            sender: None,
        }
    }

    /// Closes the connection (an agent that abandons its long-poll, or restarts).
    pub fn reset(&mut self) {
        self.sender = None;
    }

    async fn connect(&mut self) -> Result<()> {
        let socket = match self.target.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = self.source {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("binding {ip}"))?;
        }
        let stream = socket.connect(self.target.addr).await?;
        stream.set_nodelay(true)?;
        let sender = match &self.target.tls {
            None => handshake(stream).await?,
            Some((connector, name)) => {
                handshake(connector.connect(name.clone(), stream).await?).await?
            }
        };
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request; a connection the server closed is reopened once.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer> {
        let reusable = match &mut self.sender {
            Some(s) => !s.is_closed() && s.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.connect().await?;
        }
        let target = self.target.clone();
        let sender = self.sender.as_mut().expect("connected above");
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &target.authority)
            .header("accept-encoding", "gzip");
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = match sender.send_request(req.body(Full::new(body))?).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        let status = res.status().as_u16();
        let gzip = res
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let close = res
            .headers()
            .get("connection")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let bytes = match res.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        if close {
            self.sender = None;
        }
        let body = if gzip {
            let mut out = Vec::with_capacity(bytes.len() * 4);
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .context("gunzip")?;
            Bytes::from(out)
        } else {
            bytes
        };
        Ok(Answer { status, body })
    }
}

async fn handshake<S>(io: S) -> Result<SendRequest<Full<Bytes>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        // Ends when the agent drops its sender or the server closes; either is expected.
        let _ = connection.await;
    });
    Ok(sender)
}
