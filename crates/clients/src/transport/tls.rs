//! TLS for the HTTP transport: rustls with the ring provider, whose roots an endpoint trusts
//! ([`Trust`]), the CA files it reads, and telling a certificate or handshake failure
//! (`tls`) from the others, with one warning per endpoint that says how to fix it.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Installs ring as the process's rustls provider, unless one is installed already (by an
/// earlier call, another thread, or the program embedding this crate: that one is kept).
///
/// reqwest is built without a bundled provider (the workspace's `Cargo.toml` says why ring):
/// building any reqwest client before a provider is installed panics, async-openai's own
/// `Client::with_config` included. The transport calls this before it builds a client; a
/// program that builds reqwest clients of its own in the same process calls it first.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed one in between: one is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The roots an endpoint's certificates are checked against.
#[derive(Clone, Debug, Default)]
pub(crate) enum Trust {
    /// Plain `http://`: the client gets an empty root store instead of the platform's, so
    /// building it reads no CA store and works on a machine that has none (the platform
    /// verifier fails to build without roots).
    #[default]
    Plain,
    /// `https://`: the platform's roots and these (`ca_cert`, may be empty).
    Platform(Vec<reqwest::Certificate>),
    /// `https://` to the embedded mock: exactly its own certificate (`mock.tls_cert`).
    Only(Vec<reqwest::Certificate>),
}

impl Trust {
    /// Hands the roots to reqwest.
    pub(crate) fn apply(self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match self {
            Trust::Plain => builder.tls_certs_only(Vec::new()),
            Trust::Platform(extra) => builder.tls_certs_merge(extra),
            Trust::Only(roots) => builder.tls_certs_only(roots),
        }
    }
}

/// Why a CA file cannot be used.
#[derive(Debug)]
pub(crate) enum CaError {
    /// It cannot be read.
    Read(io::Error),
    /// A `CERTIFICATE` block is not valid PEM.
    Pem(rustls::pki_types::pem::Error),
    /// It holds no `CERTIFICATE` block.
    Empty,
    /// A certificate is not one a trust anchor can be made of.
    Certificate(rustls::Error),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Read(err) => write!(f, "cannot read it ({err})"),
            CaError::Pem(err) => write!(f, "its PEM does not parse ({err})"),
            CaError::Empty => f.write_str("it holds no -----BEGIN CERTIFICATE----- block"),
            CaError::Certificate(err) => write!(f, "a certificate in it does not parse ({err})"),
        }
    }
}

/// The certificates of the PEM file `path`, each checked the way rustls will use it (as a
/// trust anchor), so that a bad file fails when the clients are built, naming itself, and not
/// at the first handshake.
pub(crate) fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, CaError> {
    let pem = std::fs::read(path).map_err(CaError::Read)?;
    let mut store = rustls::RootCertStore::empty();
    let mut certs = Vec::new();
    for der in CertificateDer::pem_slice_iter(&pem) {
        let der = der.map_err(CaError::Pem)?;
        store.add(der.clone()).map_err(CaError::Certificate)?;
        // With rustls, reqwest only keeps the bytes: it cannot fail here.
        if let Ok(cert) = reqwest::Certificate::from_der(&der) {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(CaError::Empty);
    }
    Ok(certs)
}

/// The rustls error behind a failure, if it is one. rustls's error reaches reqwest inside an
/// `io::Error`, itself inside another (hyper-rustls's connector): an `io::Error`'s `source`
/// skips the error it wraps, so each one is opened with `get_ref` as well.
pub(crate) fn rustls_error<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let wrapped = err
        .downcast_ref::<io::Error>()
        .and_then(io::Error::get_ref)
        .map(|inner| inner as &(dyn StdError + 'static));
    wrapped
        .and_then(rustls_error)
        .or_else(|| err.source().and_then(rustls_error))
}

/// The first TLS failure of one endpoint, said once.
#[derive(Debug)]
pub(crate) struct Hint {
    /// The provider or tool.
    target: String,
    /// It is the embedded mock (trusted through `mock.tls_cert`, not `ca_cert`).
    embedded: bool,
    warned: AtomicBool,
}

impl Hint {
    pub(crate) fn new(target: &str, embedded: bool) -> Self {
        Self {
            target: target.to_owned(),
            embedded,
            warned: AtomicBool::new(false),
        }
    }

    /// Warns (once per endpoint) that TLS with `host` failed for `reason`, and how to fix it.
    /// `host` is the URL's host and port only: never its path or query (a query may hold a
    /// value taken from the environment).
    pub(crate) fn warn_once(&self, host: &str, reason: &rustls::Error) {
        if self.warned.swap(true, Ordering::Relaxed) {
            return;
        }
        let target = &self.target;
        let fix = fix(reason, self.embedded, target);
        if self.embedded {
            tracing::warn!(
                "TLS with the embedded mock at {host} failed: {reason}; calls of `{target}` fail \
                 as `tls`. {fix}"
            );
        } else {
            tracing::warn!(
                "TLS with {host} failed: {reason}; calls of `{target}` fail as `tls`. {fix}"
            );
        }
    }
}

/// What to do about `reason`, in a sentence or two.
fn fix(reason: &rustls::Error, embedded: bool, target: &str) -> String {
    use rustls::CertificateError as C;
    let trust = if embedded {
        "The clients trust exactly the certificates of `mock.tls_cert`: make it a self-signed \
         certificate, or its chain with the CA, valid for 127.0.0.1"
            .to_owned()
    } else {
        format!(
            "If the server's certificate comes from a private CA, set `ca_cert = \"ca.pem\"` \
             (that CA's certificate, PEM) on provider or tool `{target}`"
        )
    };
    match reason {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => trust,
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "The certificate does not name the URL's host: use a host name it names, or \
             reissue it with a subjectAltName for this host (an IP address needs an IP entry)"
            .to_owned(),
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => "The certificate is outside its validity period: renew it (and check this \
              machine's clock)"
            .to_owned(),
        // webpki's name for a self-signed certificate that says it is a CA, which is what
        // `openssl req -x509` makes unless told otherwise (OpenSSL accepts it, webpki does not).
        rustls::Error::InvalidCertificate(other)
            if format!("{other:?}").contains("CaUsedAsEndEntity") =>
        {
            "The server presents a CA certificate as its own (what `openssl req -x509` makes by \
             default): reissue it with `-addext basicConstraints=critical,CA:FALSE`, or serve a \
             certificate signed by that CA"
                .to_owned()
        }
        rustls::Error::InvalidCertificate(_) => {
            format!("{trust}; check that it is not expired and names the URL's host")
        }
        _ => "Check that the server speaks https on that port (use http:// for a plain server) \
              and offers TLS 1.2 or 1.3"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_gets_its_own_fix() {
        use rustls::CertificateError as C;
        let fix_of = |e: rustls::Error, embedded| fix(&e, embedded, "p");
        assert!(
            fix_of(rustls::Error::InvalidCertificate(C::UnknownIssuer), false)
                .contains("ca_cert = \"ca.pem\"")
        );
        assert!(
            fix_of(rustls::Error::InvalidCertificate(C::UnknownIssuer), true)
                .contains("mock.tls_cert")
        );
        assert!(
            fix_of(rustls::Error::InvalidCertificate(C::NotValidForName), false)
                .contains("subjectAltName")
        );
        assert!(fix_of(rustls::Error::InvalidCertificate(C::Expired), false).contains("renew"));
        let ca = rustls::Error::InvalidCertificate(C::Other(rustls::OtherError(
            std::sync::Arc::new(webpki_like::CaUsedAsEndEntity),
        )));
        assert!(fix_of(ca, false).contains("CA:FALSE"));
        assert!(
            fix_of(
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                false
            )
            .contains("speaks https")
        );
    }

    /// A stand-in with webpki's name for the error (only its `Debug` is read).
    mod webpki_like {
        #[derive(Debug)]
        pub(super) struct CaUsedAsEndEntity;
        impl std::fmt::Display for CaUsedAsEndEntity {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("CA used as end entity")
            }
        }
        impl std::error::Error for CaUsedAsEndEntity {}
    }
    use crate::transport::{Connection, Transport};

    #[test]
    fn a_rustls_error_is_found_inside_an_io_error() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, inner);
        let found = rustls_error(&io).expect("found");
        assert_eq!(found.to_string(), "invalid peer certificate: UnknownIssuer");
        // As hyper-rustls hands it to hyper: wrapped twice.
        let twice = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        let found = rustls_error(&twice).expect("found");
        assert_eq!(found.to_string(), "invalid peer certificate: Expired");
        let plain = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert!(rustls_error(&plain).is_none());
    }

    /// A transport to `url` as `build::route` makes it, and the HTTP version of its answer.
    async fn version(url: &str, http2: bool, trust: Trust) -> reqwest::Version {
        let connection = Connection {
            max_in_flight: 4,
            connect_timeout: std::time::Duration::from_secs(5),
            loopback: true,
            ca_cert: None,
            http2,
        };
        let transport = Transport::http("p", &connection, trust).expect("a transport");
        let request = reqwest::Request::new(reqwest::Method::GET, url.parse().expect("a URL"));
        let response = transport.send(request).await.expect("an answer");
        assert_eq!(response.status(), 200);
        response.version()
    }

    #[tokio::test]
    async fn h2_by_alpn_over_tls_and_h2c_by_prior_knowledge_over_plain_http() {
        let ca = testkit::tls::TestCa::new("version CA");
        let tls = testkit::spawn_tls_mock(
            mock::MockConfig::default(),
            &ca.server(&["127.0.0.1", "localhost"]),
        )
        .await;
        let roots = || {
            Trust::Platform(
                reqwest::Certificate::from_pem_bundle(ca.pem.as_bytes()).expect("the CA's PEM"),
            )
        };
        let models = tls.url("/v1/models");
        assert_eq!(
            version(&models, false, roots()).await,
            reqwest::Version::HTTP_2
        );
        // `http2 = true` over https: ALPN offers h2 alone.
        assert_eq!(
            version(&models, true, roots()).await,
            reqwest::Version::HTTP_2
        );

        let plain = testkit::spawn_mock(mock::MockConfig::default()).await;
        let models = plain.url("/v1/models");
        assert_eq!(
            version(&models, false, Trust::Plain).await,
            reqwest::Version::HTTP_11
        );
        assert_eq!(
            version(&models, true, Trust::Plain).await,
            reqwest::Version::HTTP_2
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("fleetbench-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(matches!(read_ca(&empty), Err(CaError::Empty)));
        let bad = dir.join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = read_ca(&bad).unwrap_err();
        assert!(matches!(err, CaError::Certificate(_)), "{err}");
        assert!(matches!(
            read_ca(&dir.join("missing.pem")),
            Err(CaError::Read(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
