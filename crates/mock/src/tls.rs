//! The mock over TLS ([`crate::serve_tls`]): a certificate chain and its key ([`TlsConfig`]),
//! served with rustls and the ring provider, offering `h2` and `http/1.1` by ALPN. The
//! handshake runs in the connection's own task, bounded like a request head: by the idle
//! timeout, so a client that connects and says nothing holds a socket no longer over TLS than
//! over plain HTTP.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A certificate chain and its private key, ready to serve.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.write_str("TlsConfig { .. }")
    }
}

/// Why a certificate or key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {what} `{}`", path.display())]
    Read {
        /// The certificate chain or the key.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The certificate chain does not parse or is empty.
    #[error(
        "the certificate chain {from} holds no certificate ({reason}): give a PEM file with -----BEGIN CERTIFICATE----- blocks, the server's first"
    )]
    Chain {
        /// Where it came from.
        from: String,
        /// Why (the cause is in the message).
        reason: String,
    },
    /// The key does not parse, or is not the certificate's.
    #[error(
        "the private key {from} cannot be used ({reason}): give the PEM key (-----BEGIN PRIVATE KEY-----, PKCS#8, SEC1 or PKCS#1) of the certificate's public key"
    )]
    Key {
        /// Where it came from.
        from: String,
        /// Why (the cause is in the message).
        reason: String,
    },
}

impl TlsConfig {
    /// The chain (PEM, the server's certificate first) and key (PEM) of these files: the
    /// `--tls-cert` and `--tls-key` of `fleetbench serve`, or a scenario's `[mock] tls_cert`
    /// and `tls_key`.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_owned(),
                source,
            })
        };
        let (cert_pem, key_pem) = (
            read("the certificate chain", cert)?,
            read("the private key", key)?,
        );
        Self::build(
            &cert_pem,
            &key_pem,
            &format!("in `{}`", cert.display()),
            &format!("in `{}`", key.display()),
        )
    }

    /// The chain (PEM, the server's certificate first) and key (PEM) given as bytes.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        Self::build(cert, key, "given", "given")
    }

    fn build(cert: &[u8], key: &[u8], cert_from: &str, key_from: &str) -> Result<Self, TlsError> {
        let chain_error = |reason: String| TlsError::Chain {
            from: cert_from.to_owned(),
            reason,
        };
        let key_error = |reason: String| TlsError::Key {
            from: key_from.to_owned(),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| chain_error(err.to_string()))?;
        if chain.is_empty() {
            return Err(chain_error("no CERTIFICATE block".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|err| key_error(err.to_string()))?;
        // The provider is named here rather than taken from the process: serving needs no
        // global state (the clients' side installs one for reqwest: `clients`).
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|err| key_error(err.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|err| key_error(err.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The TLS handshake on `stream`, given `limit` to complete. A client that fails it (it
    /// does not trust the certificate, it speaks plain HTTP) is logged at debug only: a test
    /// of a wrong CA makes many.
    pub(crate) async fn accept<S>(&self, stream: S, limit: Duration) -> Option<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(limit, self.acceptor.accept(stream)).await {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(err)) => {
                tracing::debug!("mock: TLS handshake failed: {err}");
                None
            }
            Err(_) => {
                tracing::debug!("mock: no TLS handshake within {limit:?}");
                None
            }
        }
    }
}
