//! The web console and demo mode end to end: the real binary, and for the
//! console itself Debian's chromium driven by playwright-core
//! (tests/console/e2e.mjs, installed with `npm ci --prefix tests/console`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bomizzel_store::testing::suites::{self, Skip, Suite};
use common::app::{Backend, TestApp, split};
use serde_json::{Value, json};

async fn demo_app() -> TestApp {
    TestApp::start_without_seeding(Backend::Sqlite, &["--demo"]).await
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.client.post(app.server.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    split(request.send().await.unwrap()).await
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    split(request.send().await.unwrap()).await
}

async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

async fn demo_token(app: &TestApp, user: &str) -> String {
    let (status, session) = post(app, "/api/demo/login", None, json!({ "user_id": user })).await;
    assert_eq!(status, 200, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let app = TestApp::start_without_seeding(Backend::Sqlite, &[]).await;
    let response = app.client.get(app.server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let etag = headers["etag"].clone();
    let page = response.text().await.unwrap();
    assert!(
        page.contains("/console/"),
        "the page loads its modules: {page}"
    );

    let again = app
        .client
        .get(app.server.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "an unchanged page is not sent twice");
    let missing = app
        .client
        .get(app.server.url("/console/no-such.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn demo_routes_do_not_exist_without_demo_mode() {
    let app = TestApp::start_without_seeding(Backend::Sqlite, &[]).await;
    assert_eq!(get(&app, "/api/demo/users", None).await.0, 404);
    let (status, _) = post(&app, "/api/demo/login", None, json!({ "user_id": "ada" })).await;
    assert_eq!(status, 404);
    assert_eq!(get(&app, "/api/demo/simulation", None).await.0, 404);
    assert!(!app.server.logged("DEMO MODE"));
}

#[tokio::test]
async fn demo_mode_seeds_a_directory_and_signs_in_as_its_users() {
    let app = demo_app().await;
    assert!(
        app.server.logged("DEMO MODE"),
        "demo mode says so in the log"
    );

    let (status, users) = get(&app, "/api/demo/users", None).await;
    assert_eq!(status, 200);
    let roles: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["role"].as_str().unwrap())
        .collect();
    for role in ["admin", "agent", "customer", "analyst"] {
        assert!(roles.contains(&role), "a demo {role}: {users}");
    }

    let alice = demo_token(&app, "alice").await;
    let (status, me) = get(&app, "/api/me", Some(&alice)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "agent");
    assert_eq!(me["queue_ids"], json!(["general", "hardware"]));
    let ada = demo_token(&app, "ada").await;
    let (_, companies) = get(&app, "/api/companies", Some(&ada)).await;
    assert_eq!(companies.as_array().unwrap().len(), 2, "{companies}");
    let (_, queues) = get(&app, "/api/queues", Some(&ada)).await;
    assert_eq!(queues.as_array().unwrap().len(), 3, "{queues}");

    for (body, field) in [
        (json!({ "user_id": "mallory" }), "user_id"),
        (json!({ "user_id": "ada", "ttl_seconds": 0 }), "ttl_seconds"),
        (
            json!({ "user_id": "ada", "ttl_seconds": 86_400 }),
            "ttl_seconds",
        ),
    ] {
        let (status, problem) = post(&app, "/api/demo/login", None, body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, problem) = post(&app, "/api/demo/login", None, json!({ "user": "ada" })).await;
    assert_eq!(status, 400, "an unknown field: {problem}");

    let (status, session) = post(
        &app,
        "/api/demo/login",
        None,
        json!({ "user_id": "dave", "ttl_seconds": 60 }),
    )
    .await;
    assert_eq!(status, 200);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires_at = session["expires_at"].as_i64().unwrap();
    assert!((now + 55..=now + 61).contains(&expires_at), "{session}");
}

/// Every ticket `token` may see, all pages.
async fn all_tickets(app: &TestApp, token: &str) -> Vec<Value> {
    let mut tickets = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) =
            get(app, &format!("/api/tickets?limit=200{cursor}"), Some(token)).await;
        assert_eq!(status, 200, "{page}");
        tickets.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return tickets,
        }
    }
}

/// Waits until the tickets read model lists `count` tickets for `token`.
async fn until_listed(app: &TestApp, token: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tickets = all_tickets(app, token).await;
        if tickets.len() >= count {
            return tickets;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} tickets listed",
            tickets.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SAMPLE_TICKETS: usize = 18;

#[tokio::test]
async fn a_fresh_demo_starts_with_sample_tickets_dated_in_the_past() {
    let app = demo_app().await;
    let ada = demo_token(&app, "ada").await;
    let tickets = until_listed(&app, &ada, SAMPLE_TICKETS).await;
    assert_eq!(tickets.len(), SAMPLE_TICKETS);
    let states: Vec<&str> = tickets
        .iter()
        .map(|t| t["sla"]["state"].as_str().unwrap_or_default())
        .collect();
    assert!(states.contains(&"breached"), "a breach: {states:?}");
    assert!(states.contains(&"due_soon"), "one due soon: {states:?}");
    let oldest = tickets
        .iter()
        .filter_map(|t| t["created_at"].as_str())
        .min()
        .unwrap()
        .to_owned();
    let created =
        time::OffsetDateTime::parse(&oldest, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert!(
        time::OffsetDateTime::now_utc() - created > time::Duration::days(3),
        "the oldest sample was opened {oldest}, not days ago"
    );
    let (_, history) = get(
        &app,
        &format!(
            "/api/tickets/{}/history",
            tickets[0]["id"].as_str().unwrap()
        ),
        Some(&ada),
    )
    .await;
    assert_eq!(
        history[0]["actor"].as_str().map(|a| a.len() > 1),
        Some(true),
        "{history}"
    );
    let (_, views) = get(&app, "/api/views", Some(&demo_token(&app, "alice").await)).await;
    assert_eq!(
        views.as_array().unwrap().len(),
        4,
        "support's views: {views}"
    );
}

#[tokio::test]
async fn demo_mode_restarts_on_its_own_directory_without_seeding_twice() {
    let first = demo_app().await;
    let ada = demo_token(&first, "ada").await;
    until_listed(&first, &ada, SAMPLE_TICKETS).await;
    let workdir = first.workdir().to_owned();
    assert!(first.server.terminate().success());
    let second = common::Server::start_with(
        &workdir,
        &[("BOMIZZEL_JWT_SECRET", common::app::SECRET)],
        &["--demo"],
    );
    let users = reqwest::get(second.url("/api/demo/users")).await.unwrap();
    assert_eq!(users.status(), 200, "seeding again keeps what exists");
    let client = reqwest::Client::new();
    let login = client
        .post(second.url("/api/demo/login"))
        .json(&json!({ "user_id": "ada" }));
    let session = json_answer(login).await;
    let list = client
        .get(second.url("/api/tickets?limit=200"))
        .bearer_auth(session["token"].as_str().unwrap());
    let page = json_answer(list).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        SAMPLE_TICKETS,
        "the samples are not seeded twice"
    );
}

#[tokio::test]
async fn simulated_activity_creates_and_works_tickets() {
    let app = demo_app().await;
    let (status, settings) = get(&app, "/api/demo/simulation", None).await;
    assert_eq!(status, 200);
    assert_eq!(settings["running"], false, "the simulation starts paused");

    let put = |body: Value| {
        app.client
            .put(app.server.url("/api/demo/simulation"))
            .json(&body)
            .send()
    };
    let (status, problem) = split(
        put(json!({ "running": true, "per_minute": 0 }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "per_minute");
    let (status, settings) = split(
        put(json!({ "running": true, "per_minute": 600 }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{settings}");

    let ada = demo_token(&app, "ada").await;
    let samples = until_listed(&app, &ada, SAMPLE_TICKETS).await;
    let worked_before: Vec<i64> = samples
        .iter()
        .map(|t| t["version"].as_i64().unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tickets = all_tickets(&app, &ada).await;
        let simulated: Vec<&Value> = tickets
            .iter()
            .filter(|t| t["description"] == "Opened by the demo simulation.")
            .collect();
        let worked = tickets
            .iter()
            .filter(|t| samples.iter().any(|s| s["id"] == t["id"]))
            .map(|t| t["version"].as_i64().unwrap())
            .sum::<i64>()
            > worked_before.iter().sum::<i64>();
        if simulated.len() >= 2 && worked {
            for ticket in simulated {
                let title = ticket["title"].as_str().unwrap().to_lowercase();
                let fitting = if ["invoice", "refund", "double charge", "vat", "card"]
                    .iter()
                    .any(|w| title.contains(w))
                {
                    "invoices"
                } else if [
                    "printer",
                    "laptop",
                    "monitor",
                    "docking",
                    "keyboard",
                    "projector",
                ]
                .iter()
                .any(|w| title.contains(w))
                {
                    "hardware"
                } else {
                    "general"
                };
                assert_eq!(ticket["queue_id"], fitting, "{title} is misfiled");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the simulation did not create and work tickets: {} simulated, worked {worked}",
            simulated.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = split(
        put(json!({ "running": false, "per_minute": 600 }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

const CHROMIUM: &str = "/usr/bin/chromium";

const SUITE: Suite = Suite {
    name: "browser",
    require_variable: "BOMIZZEL_REQUIRE_BROWSER",
};

/// Whether Debian's chromium and playwright-core are installed, after
/// installing the latter from its lockfile where node and npm are present.
/// Without them the test says it was skipped, unless
/// `BOMIZZEL_REQUIRE_BROWSER=1` (set by CI) makes that a failure.
fn browser_installed(test: &str) -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    let installed = if Path::new(&chromium).is_file() {
        suites::npm_client(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            "tests/console",
            "playwright-core",
        )
    } else {
        Err(Skip::new(
            format!("there is no chromium at {chromium}"),
            "apt-get install chromium",
        ))
    };
    if let Err(why) = &installed {
        suites::skip(&SUITE, test, why);
    }
    installed.is_ok()
}

#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    if !browser_installed("the_console_works_in_a_real_browser") {
        return;
    }
    let app = demo_app().await;
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let base_url = app.server.base_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(e2e_dir().join("e2e.mjs"))
            .env("BASE_URL", base_url)
            .env("SCREENSHOT_DIR", &screenshots)
            .output()
            .expect("node runs (Node.js 20 is needed for the browser tests)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
