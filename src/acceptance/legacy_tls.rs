//! A raw TLS 1.0/1.1 ClientHello for the versions rustls cannot speak: enough to see whether
//! a server still agrees to them, never a completed handshake.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::net::{tcp, Url, TIMEOUT};

/// What a server did with a legacy (TLS 1.0/1.1) ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Legacy {
    /// It answered with a ServerHello for that version.
    Accepted,
    /// It refused (alert, other version, or closed); the text says how.
    Refused(String),
}

/// Sends a TLS 1.0 (`minor = 1`) or 1.1 (`minor = 2`) ClientHello with classic cipher suites
/// and reports whether the server agrees to that version. rustls cannot speak these
/// versions, so the hello is built by hand; no handshake is completed.
pub async fn legacy_hello(url: &Url, minor: u8) -> Result<Legacy, String> {
    let mut stream = tcp(url).await?;
    stream
        .write_all(&client_hello(minor, &url.host))
        .await
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 5];
    let read = tokio::time::timeout(TIMEOUT, stream.read_exact(&mut head)).await;
    match read {
        Err(_) => return Ok(Legacy::Refused("no answer (timed out)".into())),
        Ok(Err(_)) => {
            return Ok(Legacy::Refused(
                "connection closed without a ServerHello".into(),
            ))
        }
        Ok(Ok(_)) => {}
    }
    match head[0] {
        0x15 => {
            let mut alert = [0u8; 2];
            let desc = match stream.read_exact(&mut alert).await {
                Ok(_) => alert_name(alert[1]),
                Err(_) => "alert".into(),
            };
            Ok(Legacy::Refused(format!("alert {desc}")))
        }
        0x16 => {
            // Handshake header (4 bytes) then server_version (2 bytes).
            let mut hs = [0u8; 6];
            if stream.read_exact(&mut hs).await.is_err() {
                return Ok(Legacy::Refused("truncated ServerHello".into()));
            }
            if hs[0] == 2 && hs[4] == 3 && hs[5] == minor {
                Ok(Legacy::Accepted)
            } else {
                Ok(Legacy::Refused(format!(
                    "answered with version 3.{} instead",
                    hs[5]
                )))
            }
        }
        other => Ok(Legacy::Refused(format!(
            "answered with record type {other}, not TLS"
        ))),
    }
}

fn alert_name(code: u8) -> String {
    match code {
        40 => "handshake_failure".into(),
        47 => "illegal_parameter".into(),
        70 => "protocol_version".into(),
        71 => "insufficient_security".into(),
        80 => "internal_error".into(),
        other => format!("{other}"),
    }
}

/// A minimal TLS 1.0/1.1 ClientHello: ECDHE and RSA suites with AES-CBC and 3DES, SNI, the
/// curves the appliance allows, uncompressed points.
fn client_hello(minor: u8, host: &str) -> Vec<u8> {
    let suites: &[u16] = &[0xc014, 0xc013, 0xc00a, 0xc009, 0x0035, 0x002f, 0x000a];
    let mut ext = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() && host.len() < 256 {
        let name = host.as_bytes();
        let list_len = name.len() + 3;
        push_u16(&mut ext, 0x0000);
        push_u16(&mut ext, (list_len + 2) as u16);
        push_u16(&mut ext, list_len as u16);
        ext.push(0);
        push_u16(&mut ext, name.len() as u16);
        ext.extend_from_slice(name);
    }
    // supported_groups: x25519, secp256r1, secp384r1
    ext.extend_from_slice(&[
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
    ]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);

    let mut body = vec![3, minor];
    body.extend_from_slice(&crate::crypto::random::bytes::<32>());
    body.push(0); // no session id
    push_u16(&mut body, (suites.len() * 2) as u16);
    for s in suites {
        push_u16(&mut body, *s);
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    push_u16(&mut body, ext.len() as u16);
    body.extend_from_slice(&ext);

    let mut hs = vec![1];
    let len = body.len() as u32;
    hs.extend_from_slice(&len.to_be_bytes()[1..]);
    hs.extend_from_slice(&body);

    let mut record = vec![0x16, 3, 1];
    push_u16(&mut record, hs.len() as u16);
    record.extend_from_slice(&hs);
    record
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_lengths_add_up() {
        let h = client_hello(1, "localhost");
        let record_len = u16::from_be_bytes([h[3], h[4]]) as usize;
        assert_eq!(h.len(), 5 + record_len);
        let hs_len = u32::from_be_bytes([0, h[6], h[7], h[8]]) as usize;
        assert_eq!(record_len, 4 + hs_len);
        assert_eq!(&h[9..11], &[3, 1]);
    }
}
