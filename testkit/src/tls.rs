//! Test certificates, made in-process with `rcgen` (P-256 keys, rcgen's default validity) and
//! written as PEM files: a self-signed certificate for jitgate's HTTPS listener, and a private
//! CA with a certificate it signed, for peers (the SMTP relay) that a client must verify
//! against that CA.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};

/// A certificate and its private key, as PEM files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// The certificate's path as a string, for a config file or `curl --cacert`.
    pub fn cert_str(&self) -> String {
        self.cert.to_string_lossy().into_owned()
    }

    /// The key's path as a string, for a config file.
    pub fn key_str(&self) -> String {
        self.key.to_string_lossy().into_owned()
    }
}

/// The names the tests reach jitgate by, each named on its own: clients refuse a wildcard over
/// a single-label domain such as `*.localhost`.
pub const LOCAL_NAMES: &[&str] = &[
    "localhost",
    "access.localhost",
    "app.localhost",
    "wiki.localhost",
    "site.localhost",
    "127.0.0.1",
];

fn params(common_name: &str, names: &[&str]) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>())
            .expect("valid subject alternative names");
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    params
}

fn write(dir: &Path, name: &str, cert_pem: &str, key: &KeyPair) -> CertFiles {
    let files =
        CertFiles { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) };
    std::fs::write(&files.cert, cert_pem).expect("write the certificate");
    std::fs::write(&files.key, key.serialize_pem()).expect("write the key");
    files
}

/// A self-signed certificate for `names` (DNS names or IP addresses), written to `dir` as
/// `name.pem` and `name.key`. It is its own trust anchor: `curl --cacert` takes the
/// certificate itself, as it took the one `openssl req -x509` made.
pub fn self_signed(dir: &Path, name: &str, names: &[&str]) -> CertFiles {
    let key = KeyPair::generate().expect("a P-256 key");
    let mut params = params("localhost", names);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    write(dir, name, &cert.pem(), &key)
}

/// A private CA and a certificate it signed for `names`, written to `dir`: the CA's
/// certificate (`ca.pem`) and the leaf's files (`name.pem`, `name.key`).
pub fn private_ca(dir: &Path, name: &str, names: &[&str]) -> (PathBuf, CertFiles) {
    let ca_key = KeyPair::generate().expect("a P-256 key");
    let mut ca_params = params("jitgate test CA", &[]);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("the CA's certificate");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write the CA's certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().expect("a P-256 key");
    let common_name = names.first().copied().unwrap_or("localhost");
    let cert = params(common_name, names).signed_by(&key, &issuer).expect("a signed certificate");
    (ca_path, write(dir, name, &cert.pem(), &key))
}
