//! The API contract, fuzzed by a tool we did not write: schemathesis (PyPI) generates requests
//! from `/openapi.json` — valid ones, and ones that break each constraint — as an anonymous
//! caller and as each kind of signed-in caller (viewer, creator, merchant, operator), and checks
//! every answer against the document: no 5xx, every status documented, every body of the
//! documented shape, schema-valid requests accepted and schema-violating ones refused.
//!
//! Rate limits are off (the fuzzer sends hundreds of requests as one account; the budgets have
//! their own tests) and sign-out routes are left out of signed-in runs (they would end the
//! session the rest of the run signs in with). Per-operation settings, each with its reason,
//! are in `tests/contract/schemathesis.toml`; `tests/contract/hooks.py` teaches it the tus
//! bodies' media type.

use std::process::Command;

use crate::common::{test_config, TestApp};
use vitrine::Role;

/// Runs schemathesis against the API at `base` as `token` (anonymous when `None`); its output
/// on failure.
fn fuzz(base: &str, token: Option<&str>, who: &str) -> Result<(), String> {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/contract/schemathesis.toml"
    );
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract/hooks.py");
    let mut st = Command::new("st");
    st.env("SCHEMATHESIS_HOOKS", hooks)
        .args(["--config-file", config, "--no-color", "run"])
        .arg(format!("{base}/openapi.json"))
        // Every check (the default); `--checks` here would override the per-operation settings.
        .args([
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "10",
            "--seed",
            "20261207",
            "--workers",
            "2",
            "--generation-database",
            "none",
        ]);
    if let Some(token) = token {
        st.args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--exclude-path-regex", "^/v1/auth/logout"])
            .args(["--exclude-path-regex", "^/v1/me/sessions/"]);
    }
    let out = st
        .output()
        .expect("running schemathesis (`st`): scripts/setup.sh --test installs it");
    if out.status.success() {
        return Ok(());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Err(format!(
        "schemathesis found failures as {who}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_keeps_its_documented_contract_for_every_kind_of_caller() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.rate_limits.enabled = false;
    let app = TestApp::spawn_with(config, Role::Api, Some(dir)).await;
    let mut callers = vec![("an anonymous caller".to_owned(), None)];
    for role in ["viewer", "creator", "merchant", "admin"] {
        let (_, token) = app.account(role, &format!("Fuzzed {role}")).await;
        callers.push((format!("a {role}"), Some(token)));
    }
    let base = app.base.clone();
    let failures: Vec<String> = tokio::task::spawn_blocking(move || {
        callers
            .into_iter()
            .filter_map(|(who, token)| fuzz(&base, token.as_deref(), &who).err())
            .collect()
    })
    .await
    .unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
