//! Transport to one registry host: TLS with the system roots plus the host's own CAs and client
//! certificates from `certs.d/<host>/` (Docker's layout: `*.crt` CAs, `*.cert` + `*.key`
//! pairs), plain HTTP only for loopback and `--insecure-registry` hosts.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{RegistryError, Result};

/// Request bodies: empty, in memory, or streamed.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

pub(crate) type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// How berth reaches registries (dockerd's `--insecure-registry`, `--registry-mirror`, and
/// the certs.d roots).
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Hosts (`host:port`) or CIDRs (`10.0.0.0/8`) that may be reached over plain HTTP or
    /// TLS without verification.
    pub insecure: Vec<String>,
    /// Mirrors of docker.io, tried in order before it (`http://127.0.0.1:5001`).
    pub mirrors: Vec<String>,
    /// Directories holding `<host>/` sub-directories of CAs and client certificates.
    pub certs_dirs: Vec<PathBuf>,
    /// Attempts per request on transient failures.
    pub attempts: u32,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            certs_dirs: vec!["/etc/docker/certs.d".into(), "/etc/berth/certs.d".into()],
            attempts: 4,
        }
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    Some((ip.parse().ok()?, bits.parse().ok()?))
}

fn in_cidr(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `host:port` → host (IPv6 brackets removed).
pub(crate) fn host_only(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl RegistryConfig {
    /// Docker's rule: loopback (`127.0.0.0/8`, `::1`, `localhost`) and the configured hosts
    /// and CIDRs may use plain HTTP.
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = host_only(host);
        if name == "localhost" {
            return true;
        }
        let ip: Option<IpAddr> = name.parse().ok();
        if ip.is_some_and(|i| i.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|entry| {
            let entry = entry
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            if entry == host || entry == name {
                return true;
            }
            match (parse_cidr(entry), ip) {
                (Some(net), Some(ip)) => in_cidr(ip, net),
                _ => false,
            }
        })
    }

    /// The certs.d directories that exist for `host`.
    fn host_cert_dirs(&self, host: &str) -> Vec<PathBuf> {
        self.certs_dirs
            .iter()
            .map(|d| d.join(host))
            .filter(|d| d.is_dir())
            .collect()
    }
}

fn certs_err(path: &Path) -> impl Fn(rustls_pki_types::pem::Error) -> RegistryError + '_ {
    move |e| RegistryError::Certs {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .map_err(certs_err(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(certs_err(path))
}

/// What a host's certs.d directories hold.
#[derive(Default)]
struct HostCerts {
    cas: Vec<CertificateDer<'static>>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

fn load_host_certs(dirs: &[PathBuf]) -> Result<HostCerts> {
    let mut out = HostCerts::default();
    for dir in dirs {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| RegistryError::Certs {
                path: dir.clone(),
                why: e.to_string(),
            })?
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        for p in &names {
            match p.extension().and_then(|e| e.to_str()) {
                Some("crt") => out.cas.extend(read_certs(p)?),
                Some("cert") => {
                    let key = p.with_extension("key");
                    let k = PrivateKeyDer::from_pem_file(&key).map_err(certs_err(&key))?;
                    out.client = Some((read_certs(p)?, k));
                }
                Some("key") if !p.with_extension("cert").exists() => {
                    return Err(RegistryError::Certs {
                        path: p.clone(),
                        why: "a client key without its .cert".into(),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Accepts any server certificate: only for `--insecure-registry` hosts, as Docker does.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The system's roots, read once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!("system certificates: {e}");
        }
        found.certs
    })
}

/// Builds the HTTP(S) client for `host`.
pub(crate) fn client_for(cfg: &RegistryConfig, host: &str) -> Result<HttpClient> {
    let tls_err = |e: rustls::Error| RegistryError::Tls {
        host: host.to_owned(),
        why: e.to_string(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = load_host_certs(&cfg.host_cert_dirs(host))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = if cfg.is_insecure(host) && certs.cas.is_empty() {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        for ca in certs.cas {
            roots.add(ca).map_err(tls_err)?;
        }
        builder.with_root_certificates(roots)
    };
    let tls = match certs.client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(tls_err)?,
        None => builder.with_no_client_auth(),
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(15)));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_hosts_are_insecure() {
        let cfg = RegistryConfig {
            insecure: vec!["reg.test:5000".into(), "10.9.0.0/16".into()],
            ..RegistryConfig::default()
        };
        for h in [
            "127.0.0.1:5000",
            "localhost:5000",
            "[::1]:5000",
            "127.5.5.5",
        ] {
            assert!(cfg.is_insecure(h), "{h}");
        }
        assert!(cfg.is_insecure("reg.test:5000"));
        assert!(cfg.is_insecure("10.9.3.4:443"));
        assert!(!cfg.is_insecure("10.10.3.4:443"));
        assert!(!cfg.is_insecure("registry-1.docker.io"));
        assert!(!cfg.is_insecure("reg.test:5001"));
    }

    #[test]
    fn certs_d_pairs_need_both_halves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client.key"), "x").unwrap();
        assert!(load_host_certs(&[dir.path().to_path_buf()]).is_err());
    }
}
