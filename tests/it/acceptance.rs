//! `tundra acceptance run` (SPEC §9) as an admin runs it: the real binary against the real
//! appliance (everything but the network section passes), and against deliberately bad
//! targets built here, where each relevant check fails with evidence naming the problem.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::fixture::{stderr, stdout, tundra_cli, Appliance};

/// `id → (status, evidence)` from `--json` output.
fn results(o: &Output) -> HashMap<String, (String, String)> {
    let v: serde_json::Value = serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)));
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["evidence"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// Asserts check `id` has `status` and its evidence mentions each of `words`.
fn expect(r: &HashMap<String, (String, String)>, id: &str, status: &str, words: &[&str]) {
    let (s, evidence) = r.get(id).unwrap_or_else(|| panic!("{id} missing: {r:#?}"));
    assert_eq!(s, status, "{id}: {evidence}");
    for w in words {
        assert!(evidence.contains(w), "{id}: {w:?} not in {evidence:?}");
    }
}

fn repo_unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/tundra.service")
}

/// Writes `config` as a TOML file next to the data dir and returns its path.
fn write_config(dir: &Path, config: &tundra::config::Config) -> PathBuf {
    let path = dir.join("tundra.toml");
    std::fs::write(&path, toml::to_string(config).unwrap()).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The network section against the in-process appliance: its agent port refuses a TLS client
/// without a certificate and the trusted sources are narrow. (Which ports the *process*
/// listens on is checked against the real binary in CI, `packaging/scan.sh`: this test
/// process hosts many appliances at once.)
#[tokio::test]
async fn the_appliance_agent_port_passes_the_network_checks() {
    let a = Appliance::start().await;
    let config = write_config(a.tmp.path(), &a.config);
    let out = a
        .cli(&[
            "--config",
            s(&config),
            "acceptance",
            "run",
            "--url",
            &a.url(""),
            "--json",
            "--section",
            "network",
        ])
        .await;
    let r = results(&out);
    expect(&r, "network.agent_client_cert", "PASS", &[]);
    expect(&r, "network.trusted_agent_cidrs", "PASS", &["127.0.0.0/8"]);
    expect(&r, "network.no_datastore_ports", "PASS", &[]);
}

#[tokio::test]
async fn the_appliance_passes_every_section_but_network() {
    let a = Appliance::start().await;
    let config = write_config(a.tmp.path(), &a.config);
    let cert = a.data_dir().join("panel-cert.pem");
    let url = a.url("");
    let http_url = format!("http://127.0.0.1:{}", a.redirect.port());
    let out = a
        .cli(&[
            "--config",
            s(&config),
            "acceptance",
            "run",
            "--url",
            &url,
            "--http-url",
            &http_url,
            "--ca",
            s(&cert),
            "--unit",
            s(&repo_unit()),
            "--active",
            "--json",
            "--section",
            "transport",
            "--section",
            "headers",
            "--section",
            "identity",
            "--section",
            "storage",
            "--section",
            "host",
        ])
        .await;
    let r = results(&out);
    let not_passed: Vec<_> = r.iter().filter(|(_, (st, _))| st != "PASS").collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(r.len(), 6 + 7 + 4 + 6 + 3);
    expect(
        &r,
        "transport.old_tls_refused",
        "PASS",
        &["TLS 1.2 refused", "TLS 1.0 refused"],
    );
    expect(
        &r,
        "identity.login_throttling",
        "PASS",
        &["429", "throwaway"],
    );

    // The same run for people: a table with the verdicts, no color when not a TTY.
    let out = a
        .cli(&[
            "--config",
            s(&config),
            "acceptance",
            "run",
            "--url",
            &url,
            "--http-url",
            &http_url,
            "--ca",
            s(&cert),
            "--section",
            "headers",
        ])
        .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("PASS  headers.hsts"), "{text}");
    assert!(text.contains("7 passed, 0 failed"), "{text}");
    assert!(!text.contains('\x1b'), "no color codes off a TTY");
}

#[tokio::test]
async fn an_unreachable_url_exits_2_and_says_so() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let out = tundra_cli(tmp.path(), &["acceptance", "run", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Nothing was checked"),
        "{}",
        stderr(&out)
    );
    // A remote section without --url cannot run either.
    let out = tundra_cli(tmp.path(), &["acceptance", "run", "--section", "headers"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--url"), "{}", stderr(&out));
}

/// A self-signed certificate for `localhost` valid for `days`, as (cert PEM, rustls parts).
fn cert(days: i64) -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().unwrap();
    let c = params.self_signed(&key).unwrap();
    let der = c.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (c.pem(), der, key)
}

/// Answers every request with `respond(method, path)` (a full HTTP/1.1 response) and closes.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, respond: fn(&str, &str) -> String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = io.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut first = head.split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let _ = io.write_all(respond(method, path).as_bytes()).await;
    let _ = io.shutdown().await;
}

/// A server on 127.0.0.1:0 answering with `respond`, over TLS when `tls` is set.
async fn weak_server(tls: Option<TlsAcceptor>, respond: fn(&str, &str) -> String) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(tcp).await {
                            answer(s, respond).await;
                        }
                    }
                    None => answer(tcp, respond).await,
                }
            });
        }
    });
    addr
}

fn weak_https(_method: &str, _path: &str) -> String {
    // Every mistake at once: short HSTS, a permissive CSP, no nosniff, no frame or referrer
    // policy, a version in Server, a cacheable page, a loose cookie, and no CSRF check (the
    // login POST is simply accepted).
    "HTTP/1.1 200 OK\r\n\
     Server: nginx/1.18.0\r\n\
     Strict-Transport-Security: max-age=300\r\n\
     Content-Security-Policy: default-src * 'unsafe-inline'\r\n\
     Cache-Control: public, max-age=600\r\n\
     Set-Cookie: sid=abc; Path=/; SameSite=Lax\r\n\
     Content-Length: 2\r\nConnection: close\r\n\r\nok"
        .to_string()
}

fn plain_http(_method: &str, _path: &str) -> String {
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi".to_string()
}

#[tokio::test]
async fn weak_servers_fail_with_evidence_naming_each_problem() {
    let (pem, der, key) = cert(5);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let https = weak_server(Some(TlsAcceptor::from(Arc::new(config))), weak_https).await;
    let http = weak_server(None, plain_http).await;

    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let url = format!("https://localhost:{}", https.port());
    let http_url = format!("http://127.0.0.1:{}", http.port());
    let out = tundra_cli(
        tmp.path(),
        &[
            "acceptance",
            "run",
            "--url",
            &url,
            "--http-url",
            &http_url,
            "--ca",
            s(&ca),
            "--section",
            "transport",
            "--section",
            "headers",
            "--section",
            "identity",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = results(&out);
    expect(
        &r,
        "transport.http_redirect",
        "FAIL",
        &["200", "not a permanent redirect"],
    );
    expect(
        &r,
        "transport.api_not_redirected",
        "FAIL",
        &["answers over plain HTTP"],
    );
    expect(&r, "transport.tls13", "PASS", &["TLS 1.3"]);
    expect(
        &r,
        "transport.old_tls_refused",
        "FAIL",
        &["TLS 1.2 (handshake completed)"],
    );
    expect(&r, "transport.certificate_valid", "PASS", &["localhost"]);
    expect(
        &r,
        "transport.certificate_expiry",
        "FAIL",
        &["less than 14"],
    );
    expect(&r, "headers.hsts", "FAIL", &["max-age=300"]);
    expect(
        &r,
        "headers.csp",
        "FAIL",
        &["'unsafe-inline'", "frame-ancestors", "wildcard"],
    );
    expect(&r, "headers.nosniff", "FAIL", &["X-Content-Type-Options"]);
    expect(
        &r,
        "headers.frame_protection",
        "FAIL",
        &["framing is allowed"],
    );
    expect(&r, "headers.referrer_policy", "FAIL", &["Referrer-Policy"]);
    expect(&r, "headers.no_version_leak", "FAIL", &["nginx/1.18.0"]);
    expect(&r, "headers.no_store", "FAIL", &["public, max-age=600"]);
    expect(
        &r,
        "identity.cookie_flags",
        "FAIL",
        &["sid", "__Host-", "HttpOnly", "Secure", "SameSite=Lax"],
    );
    expect(
        &r,
        "identity.csrf_enforced",
        "FAIL",
        &["200", "instead of refused"],
    );
    expect(&r, "identity.login_throttling", "SKIP", &["--active"]);

    // A certificate for another name than the one in the URL.
    let url = format!("https://127.0.0.1:{}", https.port());
    let out = tundra_cli(
        tmp.path(),
        &[
            "acceptance",
            "run",
            "--url",
            &url,
            "--http-url",
            &http_url,
            "--ca",
            s(&ca),
            "--section",
            "transport",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    expect(
        &results(&out),
        "transport.certificate_valid",
        "FAIL",
        &["does not verify for 127.0.0.1"],
    );
}

#[tokio::test]
async fn a_loose_data_dir_and_corrupt_key_fail() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = dir.join("master.key");
    std::fs::write(&key, [7u8; 64]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(dir.join("tundra.redb"), b"x").unwrap();
    std::fs::set_permissions(
        dir.join("tundra.redb"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = tundra_cli(
        &dir,
        &["acceptance", "run", "--section", "storage", "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = results(&out);
    expect(
        &r,
        "storage.master_key_mode",
        "FAIL",
        &["0644", "looser than 0400"],
    );
    expect(&r, "storage.master_key_owner", "PASS", &[]);
    expect(&r, "storage.master_key_trailer", "FAIL", &["BLAKE3"]);
    expect(&r, "storage.data_dir_mode", "FAIL", &["0755"]);
    expect(
        &r,
        "storage.file_modes",
        "FAIL",
        &["tundra.redb 0644", "master.key 0644"],
    );
    expect(
        &r,
        "storage.no_world_readable",
        "FAIL",
        &["master.key", "tundra.redb"],
    );
}

#[tokio::test]
async fn a_unit_without_hardening_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join("tundra.service");
    std::fs::write(
        &unit,
        "[Unit]\nDescription=x\n[Service]\nExecStart=/usr/local/bin/tundra serve\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SYS_ADMIN\n",
    )
    .unwrap();
    let out = tundra_cli(
        tmp.path(),
        &[
            "acceptance",
            "run",
            "--section",
            "host",
            "--unit",
            s(&unit),
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let r = results(&out);
    expect(&r, "host.unit_non_root", "FAIL", &["no User="]);
    expect(
        &r,
        "host.unit_filesystem",
        "FAIL",
        &["ProtectSystem=unset", "ReadWritePaths"],
    );
    expect(
        &r,
        "host.unit_privileges",
        "FAIL",
        &["NoNewPrivileges", "CAP_SYS_ADMIN"],
    );
}

/// A TLS 1.3 server on 127.0.0.1:0 that requires a client certificate from its own CA when
/// `require_cert`, and otherwise greets any client.
async fn agent_port(require_cert: bool) -> SocketAddr {
    let (_, der, key) = cert(30);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap();
    let config = if require_cert {
        let ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca.self_signed(&ca_key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    }
    .with_single_cert(vec![der], key)
    .unwrap();
    weak_server(Some(TlsAcceptor::from(Arc::new(config))), |_, _| {
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_string()
    })
    .await
}

#[tokio::test]
async fn the_agent_port_must_demand_a_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    for (require, status, words) in [
        (true, "PASS", &["refused"][..]),
        (false, "FAIL", &["without a client certificate"][..]),
    ] {
        let addr = agent_port(require).await;
        let config = tundra::config::Config {
            agent_addr: addr,
            trusted_agent_cidrs: vec!["0.0.0.0/0".parse().unwrap()],
            ..tundra::config::Config::default()
        };
        let file = write_config(tmp.path(), &config);
        let out = tundra_cli(
            &tmp.path().join("no-data"),
            &[
                "--config",
                s(&file),
                "acceptance",
                "run",
                "--section",
                "network",
                "--json",
            ],
        )
        .await;
        let r = results(&out);
        expect(&r, "network.agent_client_cert", status, words);
        expect(
            &r,
            "network.trusted_agent_cidrs",
            "FAIL",
            &["0.0.0.0/0", "every address"],
        );
        expect(&r, "network.no_extra_listeners", "SKIP", &["--pid"]);
        assert_eq!(out.status.code(), Some(1));
    }
}

#[tokio::test]
async fn an_extra_listener_in_the_serve_process_is_named() {
    // The appliance runs in this test process, so the control socket leads to it; a listener
    // the appliance does not own stands in for a stray debug port.
    let a = Appliance::start().await;
    let stray = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stray.local_addr().unwrap().port();
    let config = write_config(a.tmp.path(), &a.config);
    let out = a
        .cli(&[
            "--config",
            s(&config),
            "acceptance",
            "run",
            "--section",
            "network",
            "--json",
        ])
        .await;
    let r = results(&out);
    let pid = std::process::id().to_string();
    expect(
        &r,
        "network.no_extra_listeners",
        "FAIL",
        &[&pid, &format!("127.0.0.1:{port}")],
    );
    expect(&r, "network.trusted_agent_cidrs", "PASS", &["127.0.0.0/8"]);
    drop(stray);
}

async fn sign_in(a: &Appliance, email: &str) -> crate::fixture::Browser {
    let b = a.browser();
    let res = b
        .post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    b
}

#[tokio::test]
async fn admins_see_the_hourly_self_check_on_the_security_page() {
    let mut a = Appliance::start_with(|c| {
        c.self_check_interval_secs = 3600;
        // The lab switch, so the admin need not enroll TOTP here; the check flags it.
        c.require_two_factor = false;
    })
    .await;
    let checks = std::sync::Arc::clone(&a.running.as_ref().unwrap().checks);
    checks.wait_for_runs(1).await; // the run at start
    a.add_user(
        "Ops",
        "admin@example.com",
        tundra::model::Role::Admin,
        "correct horse battery",
    );
    a.add_user(
        "Ops",
        "op@example.com",
        tundra::model::Role::Operator,
        "correct horse battery",
    );

    let admin = sign_in(&a, "admin@example.com").await;
    let home = admin.get("/").await.text().await.unwrap();
    assert!(home.contains("href=\"/security\""), "nav link for admins");
    let page = admin.get("/security").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for want in [
        "Security checks",
        "transport.tls13",
        "headers.csp",
        "storage.master_key_trailer",
        "identity.two_factor_required",
        "require_two_factor = false",
        "Run checks now",
    ] {
        assert!(html.contains(want), "{want} missing");
    }
    assert_eq!(html.matches("<li><time").count(), 1, "one run so far");

    // An hour later on the appliance's clock the schedule runs again: no sleeping.
    a.clock.advance(time::Duration::hours(1));
    checks.wake();
    checks.wait_for_runs(2).await;
    // (The hour also ended the idle session.)
    let admin = sign_in(&a, "admin@example.com").await;
    let html = admin.get("/security").await.text().await.unwrap();
    assert_eq!(html.matches("<li><time").count(), 2);

    // "Run checks now" (a CSRF-protected form) adds a run.
    let res = admin.post_form("/security/run", &[]).await;
    assert_eq!(res.status(), 303);
    let html = admin.get("/security?done=ran").await.text().await.unwrap();
    assert!(html.contains("The checks ran"));
    assert_eq!(html.matches("<li><time").count(), 3);
    // Each run is audited: two by the schedule (system), one by the admin's button.
    let runs: Vec<String> = a
        .audit_records()
        .into_iter()
        .filter(|r| r["action"] == "security_checks.ran")
        .map(|r| r["actor"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs, ["system", "system", "user"]);
    let no_csrf = admin
        .client
        .post(a.url("/security/run"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);

    // Operators neither see the page nor the link.
    let op = sign_in(&a, "op@example.com").await;
    assert_eq!(op.get("/security").await.status(), 403);
    assert!(!op
        .get("/")
        .await
        .text()
        .await
        .unwrap()
        .contains("href=\"/security\""));
    a.stop().await;
}
