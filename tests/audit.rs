//! The audit trail end to end, on both backends: the real binary's exports
//! checked by the shipped offline script (`tools/audit_verify.py`), the
//! CLI's `audit verify` finding a removed directory change at its position,
//! and the chain left as it was by a rebuild of every read model and by two
//! nodes appending at once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bomizzel_store::EventStore;
use bomizzel_store::testing::fresh_postgres_database;
use bomizzel_store::testing::suites::{Skip, Suite, skip};
use bomizzel_store::testing::tamper::behind_dropped_triggers;
use common::app::{Backend, TestApp};
use common::ws::WsClient;
use reqwest::Method;
use serde_json::Value;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(url) = super::fresh_postgres_database(stringify!($name)).await {
                        super::$name(super::Backend::Postgres(url)).await;
                    }
                }
            )*
        }
    };
}

on_both!(
    a_ticket_export_verifies_offline_and_one_changed_byte_fails_it,
    the_cli_exports_what_the_script_verifies_against_the_head,
    a_removed_directory_change_is_found_at_its_position,
    the_chain_is_the_same_after_every_read_model_is_rebuilt,
);

/// The database the app's server uses, as a URL the CLI accepts.
fn database_url(app: &TestApp, backend: &Backend) -> String {
    match backend {
        Backend::Sqlite => format!(
            "sqlite://{}",
            app.workdir().join("data/bomizzel.db").display()
        ),
        Backend::Postgres(url) => url.clone(),
    }
}

/// Runs `bomizzel ARGS` against `url`.
fn bomizzel(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bomizzel"))
        .args(args)
        .env("BOMIZZEL_DATABASE_URL", url)
        .env("BOMIZZEL_JWT_SECRET", common::app::SECRET)
        .output()
        .expect("bomizzel runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The offline script's suite: skipped (and said so) only without python3.
const PYTHON: Suite = Suite {
    name: "offline audit script (python3)",
    require_variable: "BOMIZZEL_REQUIRE_PYTHON",
};

/// Runs the offline verifier on `export` (with `anchor`); `None` (after
/// saying so, through the suites' skip record) when there is no python3.
fn offline_verify(export: &Path, anchor: Option<&str>) -> Option<Output> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/audit_verify.py");
    let mut command = Command::new("python3");
    command.arg(script).arg(export);
    if let Some(anchor) = anchor {
        command.args(["--anchor", anchor]);
    }
    match command.output() {
        Ok(output) => Some(output),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let why = Skip::new("python3 is not on PATH", "apt-get install python3");
            skip(&PYTHON, "offline_verify", &why);
            None
        }
        Err(error) => panic!("python3 cannot run: {error}"),
    }
}

fn write(directory: &tempfile::TempDir, name: &str, contents: &str) -> PathBuf {
    let path = directory.path().join(name);
    std::fs::write(&path, contents).expect("the export is written");
    path
}

async fn audit_get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app
        .request(Method::GET, path, Some("auditor-1"))
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

async fn a_ticket_export_verifies_offline_and_one_changed_byte_fails_it(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    app.comment("agent-1", &id, "Refund approved", true).await;
    app.comment("cust-acme", &id, "Thanks", false).await;

    let (status, export) = audit_get(&app, &format!("/api/audit/tickets/{id}")).await;
    assert_eq!(status, 200, "{export}");
    let events = lines(&export);
    assert_eq!(events.len(), 3);
    assert_eq!(events[1]["actor"], "agent-1");
    assert!(
        events[1]["payload"]
            .as_str()
            .unwrap()
            .contains("Refund approved")
    );
    let versions: Vec<_> = events
        .iter()
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);

    let directory = tempfile::tempdir().unwrap();
    let intact = write(&directory, "ticket.jsonl", &export);
    let Some(output) = offline_verify(&intact, None) else {
        return;
    };
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("intact: 3 events"),
        "{}",
        stdout(&output)
    );

    let forged = write(
        &directory,
        "forged.jsonl",
        &export.replacen("Refund approved", "Refund approvee", 1),
    );
    let output = offline_verify(&forged, None).unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let position = events[1]["position"].as_i64().unwrap();
    assert!(
        stdout(&output).contains(&format!("position {position}: changed")),
        "{}",
        stdout(&output)
    );
}

async fn the_cli_exports_what_the_script_verifies_against_the_head(backend: Backend) {
    let app = TestApp::start(backend.clone(), &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    app.comment("agent-1", &id, "Looking", false).await;
    let url = database_url(&app, &backend);

    let head = bomizzel(&url, &["audit", "head"]);
    assert!(head.status.success(), "{}", stderr(&head));
    let anchor = stdout(&head).trim().to_owned();
    let (status, served) = audit_get(&app, "/api/audit/head").await;
    assert_eq!(status, 200);
    let served: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(
        anchor,
        format!(
            "{}:{}",
            served["position"],
            served["hash"].as_str().unwrap()
        )
    );

    let export = bomizzel(&url, &["audit", "export", "--from", "1"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let directory = tempfile::tempdir().unwrap();
    let file = write(&directory, "log.jsonl", &stdout(&export));
    let Some(output) = offline_verify(&file, Some(&anchor)) else {
        return;
    };
    assert!(output.status.success(), "{}", stdout(&output));

    let (position, _) = anchor.split_once(':').unwrap();
    let wrong = format!("{position}:{}", "0".repeat(64));
    let output = offline_verify(&file, Some(&wrong)).unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));

    let verified = bomizzel(&url, &["audit", "verify", "--anchor", &anchor]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        stdout(&verified).contains("intact"),
        "{}",
        stdout(&verified)
    );
}

/// An admin's change of the directory is in the log; taking it out is
/// found at its position, however the rest of the database looks.
async fn a_removed_directory_change_is_found_at_its_position(backend: Backend) {
    let app = TestApp::start(backend.clone(), &[]).await;
    let (status, directory) = audit_get(&app, "/api/audit/directory").await;
    assert_eq!(status, 200, "{directory}");
    let membership = lines(&directory)
        .into_iter()
        .find(|e| e["stream_id"] == "directory:user:agent-1")
        .expect("agent-1's creation is in the trail");
    assert_eq!(membership["event_type"], "UserSaved");
    assert_eq!(membership["actor"], "admin-1");
    assert!(membership["payload"].as_str().unwrap().contains("team-1"));

    let url = database_url(&app, &backend);
    assert!(bomizzel(&url, &["audit", "verify"]).status.success());
    let position = membership["position"].as_i64().unwrap();
    let store = EventStore::connect(&url).await.unwrap();
    let removal = format!("DELETE FROM events WHERE position = {position}");
    behind_dropped_triggers(&store, &[removal]).await;

    let verified = bomizzel(&url, &["audit", "verify"]);
    assert_eq!(verified.status.code(), Some(1), "{}", stdout(&verified));
    assert!(
        stderr(&verified).contains(&format!("position {position}: missing")),
        "{}",
        stderr(&verified)
    );
}

async fn the_chain_is_the_same_after_every_read_model_is_rebuilt(backend: Backend) {
    let app = TestApp::start(backend.clone(), &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    app.comment("agent-1", &id, "Rebuilt", true).await;
    let url = database_url(&app, &backend);
    let before = stdout(&bomizzel(&url, &["audit", "export", "--from", "1"]));

    let rebuilt = bomizzel(&url, &["projections", "rebuild", "all"]);
    assert!(rebuilt.status.success(), "{}", stderr(&rebuilt));

    assert_eq!(
        stdout(&bomizzel(&url, &["audit", "export", "--from", "1"])),
        before
    );
    assert!(bomizzel(&url, &["audit", "verify"]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_appending_at_once_keep_one_chain() {
    let Some(url) = fresh_postgres_database("audit_two_nodes").await else {
        return;
    };
    let first = TestApp::start(Backend::Postgres(url.clone()), &[]).await;
    let second = TestApp::start_without_seeding(Backend::Postgres(url.clone()), &[]).await;
    let opened = futures::future::join_all((0..20).map(|n| {
        let node = if n % 2 == 0 { &first } else { &second };
        node.open_ticket("agent-1", "queue-1", "acme")
    }))
    .await;
    assert_eq!(opened.len(), 20);
    let (_, head_first) = audit_get(&first, "/api/audit/head").await;
    let (_, head_second) = audit_get(&second, "/api/audit/head").await;
    assert_eq!(head_first, head_second);
    let verified = bomizzel(&url, &["audit", "verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));
}

/// Auditors read the log over HTTP; live, the docs grant them only their
/// own room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_join_only_their_own_room_live() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let (mut auditor, _) = WsClient::connect(&app.server.base_url, &app.token("auditor-1")).await;
    auditor.subscribe("user:auditor-1", None).await;
    for room in [
        format!("ticket:{id}"),
        "team:team-1".to_owned(),
        "queue:queue-1".to_owned(),
        "company:acme".to_owned(),
    ] {
        auditor
            .send(serde_json::json!({ "type": "subscribe", "room": room }))
            .await;
        assert_eq!(
            auditor.next_of("error").await["code"],
            "forbidden",
            "{room}"
        );
    }
}
