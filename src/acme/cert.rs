//! Certificate download (RFC 8555 §7.4.2): the PEM chain (leaf + issuing CA)
//! by default, an alternate chain that adds the root (Link rel="alternate",
//! when `acme.alternate_chain_with_root` is on), and a certs-only PKCS#7 when
//! the client asks with `Accept: application/pkcs7-mime`.

use http::StatusCode;

use super::problem::Problem;
use super::{Inner, Reply, Signed};
use crate::ca::pkcs7;
use crate::http::routing::HttpRequest;
use crate::ra::acme::acme_requester;

/// The default chain content type.
pub const PEM_CHAIN: &str = "application/pem-certificate-chain";
/// PKCS#7 (certs-only SignedData, DER).
pub const PKCS7: &str = "application/pkcs7-mime";

fn pem_cert(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

impl Inner {
    pub(crate) fn cert_get(
        &self,
        s: &Signed,
        serial: &str,
        alternate: bool,
        req: &HttpRequest,
    ) -> Result<Reply, Problem> {
        let acct = s.account()?;
        s.require_post_as_get()?;
        if alternate && !self.cfg.alternate_chain_with_root {
            return Err(Problem::not_found("alternate chain"));
        }
        let cert = self
            .store
            .get_certificate(&crate::ra::lookup::normalize_serial(serial).unwrap_or_default())?
            .ok_or_else(|| Problem::not_found(format!("certificate {serial:?}")))?;
        if cert.requester != acme_requester(&acct.id) {
            return Err(Problem::unauthorized(
                "this certificate was ordered by another account",
            ));
        }
        let ca = self.ra.ca();
        let leaf = cert.der_bytes();
        let mut chain: Vec<&[u8]> = vec![&leaf, ca.issuing_cert_der()];
        if alternate && ca.root_cert_der() != ca.issuing_cert_der() {
            chain.push(ca.root_cert_der());
        }
        let wants_pkcs7 = req
            .header("accept")
            .is_some_and(|a| a.to_ascii_lowercase().contains(PKCS7));
        let mut r = Reply::empty(StatusCode::OK);
        if wants_pkcs7 {
            r.content_type = Some(PKCS7.into());
            r.body = pkcs7::certs_only_der(&chain);
        } else {
            r.content_type = Some(PEM_CHAIN.into());
            r.body = chain
                .iter()
                .map(|c| pem_cert(c))
                .collect::<String>()
                .into_bytes();
        }
        if self.cfg.alternate_chain_with_root && !alternate {
            r = r.link(&format!("{}/alt", self.cert_url(&cert.serial)), "alternate");
        }
        if alternate {
            r = r.link(&self.cert_url(&cert.serial), "alternate");
        }
        Ok(r)
    }
}
