//! Certificates for TLS tests, made at test time (no key is ever committed): a CA, server
//! certificates it signs (valid, expired, for other names), written to a temporary directory
//! that is removed when dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};

/// Installs ring as the process's rustls provider unless one is installed: reqwest (built
/// without a bundled provider) panics building any client before that, async-openai's
/// `Client::with_config` included (`clients::install_crypto_provider` does the same for
/// programs).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A certificate authority of its own.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate (PEM): what a client given `ca_cert` trusts.
    pub pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa { .. }")
    }
}

/// A server's certificate chain and key.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The server's certificate, then its CA's (PEM): what the server presents.
    pub chain_pem: String,
    /// The server's private key (PEM).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("ring makes a key pair");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).expect("a CA certificate").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A certificate for `names` (host names, or IP addresses such as `127.0.0.1`), valid
    /// from 1975 to 4096 (rcgen's defaults).
    pub fn server(&self, names: &[&str]) -> ServerCert {
        self.sign(server_params(names))
    }

    /// A certificate for `names` that expired in 2001.
    pub fn expired_server(&self, names: &[&str]) -> ServerCert {
        let mut params = server_params(names);
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> ServerCert {
        let key = KeyPair::generate().expect("ring makes a key pair");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("the CA signs it");
        ServerCert {
            chain_pem: format!("{}{}", cert.pem(), self.pem),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A self-signed certificate for `names` (it is its own CA).
pub fn self_signed(names: &[&str]) -> ServerCert {
    let key = KeyPair::generate().expect("ring makes a key pair");
    let cert = server_params(names)
        .self_signed(&key)
        .expect("a self-signed certificate");
    ServerCert {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn server_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("valid names");
    params
        .distinguished_name
        .push(DnType::CommonName, "fleetbench test server");
    params
}

/// A directory of its own under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fleetbench-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in it; returns the file's path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write a temporary file");
        path
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
