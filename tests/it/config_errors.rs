//! Bad configuration through the real binary: named, non-zero exit, nothing created.

use crate::fixture::stderr;

async fn serve_with(
    config: Option<&str>,
    env: &[(&str, &str)],
) -> (std::process::Output, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"));
    if let Some(text) = config {
        let path = tmp.path().join("tundra.toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--config").arg(path);
    }
    cmd.arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("serve");
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.output().await.unwrap(), tmp)
}

#[tokio::test]
async fn unknown_key_in_the_file_is_named() {
    let (out, tmp) = serve_with(Some("panel_adr = \"127.0.0.1:0\"\n"), &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("panel_adr"), "{}", stderr(&out));
    assert!(!tmp.path().join("data").exists(), "nothing was created");
}

#[tokio::test]
async fn unknown_env_variable_is_named() {
    let (out, tmp) = serve_with(None, &[("TUNDRA_PANEL_ADR", "127.0.0.1:0")]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("TUNDRA_PANEL_ADR"),
        "{}",
        stderr(&out)
    );
    assert!(!tmp.path().join("data").exists());
}

#[tokio::test]
async fn bad_value_is_named() {
    let (out, _tmp) = serve_with(Some("trusted_agent_cidrs = [\"10.0.0.0/40\"]\n"), &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("trusted_agent_cidrs"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn missing_config_file_is_named() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
        .args(["--config", "/nonexistent/tundra.toml", "serve"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/tundra.toml"));
}
