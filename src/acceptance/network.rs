//! `network.*`: the agent port's client-certificate requirement, `trusted_agent_cidrs`, the
//! serve process's listening ports (from `/proc`) and datastore ports.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::checks::Outcome;
use super::net::{self, Url};
use super::{Local, Remote};

/// Well-known datastore ports: PostgreSQL, MySQL, Redis, MongoDB, Elasticsearch, Memcached,
/// CouchDB, Cassandra, InfluxDB, etcd.
pub const DATASTORE_PORTS: &[(u16, &str)] = &[
    (5432, "PostgreSQL"),
    (3306, "MySQL"),
    (6379, "Redis"),
    (27017, "MongoDB"),
    (9200, "Elasticsearch"),
    (11211, "Memcached"),
    (5984, "CouchDB"),
    (9042, "Cassandra"),
    (8086, "InfluxDB"),
    (2379, "etcd"),
];

/// How long the agent probe waits for the server's verdict after the handshake.
const AGENT_WAIT: Duration = Duration::from_secs(2);

/// What the agent port did with a client that has no certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentProbe {
    /// Nothing listens there.
    NotListening(String),
    /// The connection was refused or closed (how, in words).
    Refused(String),
    /// The server carried on without a certificate (what it did, in words).
    Accepted(String),
}

/// What the network probes saw.
#[derive(Debug)]
pub struct Facts {
    /// Where the agent port was probed.
    pub agent_target: String,
    /// The probe's result.
    pub agent: AgentProbe,
    /// `trusted_agent_cidrs` and where it came from.
    pub cidrs: (Vec<IpNet>, String),
    /// The serve process's listening sockets, or why they could not be read.
    pub listeners: Result<(u32, Vec<SocketAddr>), String>,
    /// The ports the serve process should listen on (panel, redirect, agent).
    pub allowed: Vec<(u16, &'static str)>,
    /// Datastore ports found listening (local /proc and remote connects).
    pub datastores: Vec<String>,
}

/// Runs the probes.
pub async fn gather(remote: Option<&Remote>, local: &Local) -> Facts {
    let c = &local.config;
    // With --url the agent port is probed on the panel's host; otherwise on agent_addr
    // itself (the loopback address when it binds every interface).
    let agent_url = match remote {
        Some(r) => r.url.with("https", c.agent_addr.port()),
        None => {
            let ip = match c.agent_addr.ip() {
                IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            Url {
                scheme: "https".into(),
                host: ip.to_string(),
                port: c.agent_addr.port(),
                connect: None,
            }
        }
    };
    let agent = probe_agent(&agent_url).await;
    let listeners = find_serve_pid(local).and_then(|pid| {
        listening_sockets(pid)
            .map(|s| (pid, s))
            .map_err(|e| format!("cannot read the sockets of process {pid}: {e}"))
    });
    let mut datastores = Vec::new();
    if let Ok(all) = all_listeners() {
        for (port, name) in DATASTORE_PORTS {
            for addr in all.iter().filter(|a| a.port() == *port) {
                datastores.push(format!(
                    "{name} port {port} listening on {addr} (this host)"
                ));
            }
        }
    }
    if let Some(r) = remote {
        let mut probes = tokio::task::JoinSet::new();
        for (port, name) in DATASTORE_PORTS {
            let url = r.url.with("tcp", *port);
            probes.spawn(async move {
                let open = tokio::time::timeout(
                    Duration::from_secs(1),
                    tokio::net::TcpStream::connect((url.host.as_str(), url.port)),
                )
                .await;
                matches!(open, Ok(Ok(_))).then(|| {
                    format!(
                        "{name} port {port} accepts connections at {}",
                        url.authority()
                    )
                })
            });
        }
        while let Some(found) = probes.join_next().await {
            datastores.extend(found.ok().flatten());
        }
    }
    Facts {
        agent_target: agent_url.authority(),
        agent,
        cidrs: (c.trusted_agent_cidrs.clone(), local.config_source.clone()),
        listeners,
        allowed: vec![
            (c.panel_addr.port(), "panel_addr"),
            (c.redirect_addr.port(), "redirect_addr"),
            (c.agent_addr.port(), "agent_addr"),
        ],
        datastores,
    }
}

/// Connects without a client certificate and watches what the server does.
async fn probe_agent(url: &Url) -> AgentProbe {
    let stream = match net::tcp(url).await {
        Ok(s) => s,
        Err(e) => return AgentProbe::NotListening(e),
    };
    let config = match net::probe_config(&[&rustls::version::TLS13, &rustls::version::TLS12]) {
        Ok(mut c) => {
            c.alpn_protocols = vec![b"h2".to_vec()];
            c
        }
        Err(e) => return AgentProbe::Refused(format!("no client config: {e}")),
    };
    let name = match rustls::pki_types::ServerName::try_from(url.host.clone()) {
        Ok(n) => n,
        Err(e) => return AgentProbe::Refused(format!("bad host name: {e}")),
    };
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let mut tls = match tokio::time::timeout(net::TIMEOUT, connector.connect(name, stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return AgentProbe::Refused(format!("handshake refused: {e}")),
        Err(_) => return AgentProbe::Refused("handshake timed out".into()),
    };
    // In TLS 1.3 the server judges the client's (empty) certificate after the client has
    // finished, so its verdict arrives as an alert on the first read.
    let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    let _ = tls.flush().await;
    let mut buf = [0u8; 256];
    match tokio::time::timeout(AGENT_WAIT, tls.read(&mut buf)).await {
        Ok(Ok(0)) => AgentProbe::Refused("closed the connection after the handshake".into()),
        Ok(Ok(n)) => AgentProbe::Accepted(format!(
            "completed the handshake without a client certificate and answered {n} bytes"
        )),
        Ok(Err(e)) => AgentProbe::Refused(format!("refused after the handshake: {e}")),
        Err(_) => AgentProbe::Accepted(format!(
            "completed the handshake without a client certificate and kept the connection \
             open for {} s",
            AGENT_WAIT.as_secs()
        )),
    }
}

/// The serve process: `--pid`, or the process holding the data dir's control socket.
fn find_serve_pid(local: &Local) -> Result<u32, String> {
    if let Some(pid) = local.pid {
        return Ok(pid);
    }
    let socket = local.data_dir.join(crate::proto::control::SOCKET_NAME);
    let socket = std::fs::canonicalize(&socket).unwrap_or(socket);
    let unix = std::fs::read_to_string("/proc/net/unix")
        .map_err(|e| format!("cannot read /proc/net/unix: {e}"))?;
    let inodes: BTreeSet<u64> = unix
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let path = cols.get(7)?;
            (Path::new(path) == socket).then(|| cols.get(6)?.parse().ok())?
        })
        .collect();
    if inodes.is_empty() {
        return Err(format!(
            "no process listens on {} (is `tundra serve` running with this data dir?); pass \
             --pid PID",
            socket.display()
        ));
    }
    let procs = std::fs::read_dir("/proc").map_err(|e| format!("cannot read /proc: {e}"))?;
    for p in procs.filter_map(Result::ok) {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if socket_inodes(pid).is_ok_and(|s| s.iter().any(|i| inodes.contains(i))) {
            return Ok(pid);
        }
    }
    Err(format!(
        "the process holding {} is not visible (run as root or the service user); pass --pid PID",
        socket.display()
    ))
}

/// The socket inodes among a process's open files.
fn socket_inodes(pid: u32) -> std::io::Result<BTreeSet<u64>> {
    let mut out = BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))?.filter_map(Result::ok) {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.to_string_lossy();
            if let Some(inode) = t
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
            {
                out.insert(inode);
            }
        }
    }
    Ok(out)
}

/// Listening TCP sockets (address, inode) in this network namespace.
fn listen_table() -> std::io::Result<Vec<(SocketAddr, u64)>> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::read_to_string(file) {
            Ok(text) => out.extend(parse_proc_tcp(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn all_listeners() -> std::io::Result<Vec<SocketAddr>> {
    Ok(listen_table()?.into_iter().map(|(a, _)| a).collect())
}

/// The TCP sockets process `pid` listens on.
fn listening_sockets(pid: u32) -> std::io::Result<Vec<SocketAddr>> {
    let mine = socket_inodes(pid)?;
    let mut out: Vec<SocketAddr> = listen_table()?
        .into_iter()
        .filter(|(_, inode)| mine.contains(inode))
        .map(|(a, _)| a)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The LISTEN (state `0A`) rows of a `/proc/net/tcp` or `tcp6` table.
pub fn parse_proc_tcp(text: &str) -> Vec<(SocketAddr, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(3)? != &"0A" {
                return None;
            }
            let (ip_hex, port_hex) = cols.get(1)?.split_once(':')?;
            let port = u16::from_str_radix(port_hex, 16).ok()?;
            let ip = parse_proc_ip(ip_hex)?;
            let inode = cols.get(9)?.parse().ok()?;
            Some((SocketAddr::new(ip, port), inode))
        })
        .collect()
}

/// `/proc/net/tcp*` addresses: 32-bit words in host (little-endian) byte order.
fn parse_proc_ip(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<u32>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let words = words?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes.as_slice()).ok()?)),
        16 => {
            let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(bytes.as_slice()).ok()?);
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            })
        }
        _ => None,
    }
}

/// The agent port refuses a client without a certificate.
pub fn agent_client_cert(f: &Facts) -> Outcome {
    match &f.agent {
        AgentProbe::Refused(how) => Outcome::pass(format!(
            "{}: a TLS client without a certificate was refused: {how}",
            f.agent_target
        )),
        AgentProbe::Accepted(what) => Outcome::fail(format!("{}: {what}", f.agent_target)),
        AgentProbe::NotListening(e) => Outcome::warn(format!(
            "nothing to check: {e} (agent_addr; is the agent port bound?)"
        )),
    }
}

/// `trusted_agent_cidrs` is set and not the whole internet.
pub fn trusted_agent_cidrs(f: &Facts) -> Outcome {
    let (cidrs, source) = &f.cidrs;
    let list: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
    if cidrs.is_empty() {
        return Outcome::fail(format!("trusted_agent_cidrs is empty ({source})"));
    }
    let open: Vec<&String> = cidrs
        .iter()
        .zip(&list)
        .filter(|(n, _)| n.prefix_len() == 0)
        .map(|(_, s)| s)
        .collect();
    if open.is_empty() {
        Outcome::pass(format!(
            "trusted_agent_cidrs = [{}] ({source})",
            list.join(", ")
        ))
    } else {
        Outcome::fail(format!(
            "trusted_agent_cidrs = [{}] ({source}): {} admits every address",
            list.join(", "),
            open.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// The serve process listens only on the panel, redirect and agent ports.
pub fn no_extra_listeners(f: &Facts) -> Outcome {
    let (pid, sockets) = match &f.listeners {
        Ok(x) => x,
        Err(e) => return Outcome::skip(e.clone()),
    };
    let allowed: BTreeSet<u16> = f.allowed.iter().map(|(p, _)| *p).collect();
    let extra: Vec<String> = sockets
        .iter()
        .filter(|a| !allowed.contains(&a.port()))
        .map(ToString::to_string)
        .collect();
    let all: Vec<String> = sockets.iter().map(ToString::to_string).collect();
    let expected: Vec<String> = f.allowed.iter().map(|(p, k)| format!("{k} {p}")).collect();
    if extra.is_empty() {
        Outcome::pass(format!(
            "process {pid} listens on [{}]; allowed: {}",
            all.join(", "),
            expected.join(", ")
        ))
    } else {
        Outcome::fail(format!(
            "process {pid} also listens on {} (allowed: {})",
            extra.join(", "),
            expected.join(", ")
        ))
    }
}

/// No datastore port is open.
pub fn no_datastore_ports(f: &Facts) -> Outcome {
    if f.datastores.is_empty() {
        let ports: Vec<String> = DATASTORE_PORTS.iter().map(|(p, _)| p.to_string()).collect();
        Outcome::pass(format!("none of the ports {} is open", ports.join(", ")))
    } else {
        Outcome::fail(f.datastores.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_rows_are_read() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F91 0100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 12346 1\n";
        assert_eq!(
            parse_proc_tcp(v4),
            vec![("127.0.0.1:8080".parse().unwrap(), 12345)]
        );
        let v6 = "  sl  local_address ...\n   0: 00000000000000000000000001000000:1D17 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n";
        assert_eq!(
            parse_proc_tcp(v6),
            vec![("[::1]:7447".parse().unwrap(), 777)]
        );
    }
}
