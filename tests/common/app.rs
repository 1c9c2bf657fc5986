//! A running server with a known JWT secret, a directory of two companies,
//! two teams with a queue each, and a user of every role; plus a client
//! that signs requests as any of them.

use std::time::Duration;

use bomizzel_identity::auth::{Expected, claims_for};
use bomizzel_identity::{Role, TokenKeys};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use super::Server;

/// A command rate no test reaches.
const UNLIMITED: &str = "1000000";

pub const SECRET: &str = "test-secret-that-is-long-enough";

/// The users the fixture creates: (id, role, company, teams).
pub const USERS: &[(&str, Role, Option<&str>, &[&str])] = &[
    ("admin-1", Role::Admin, None, &[]),
    ("agent-1", Role::Agent, None, &["team-1"]),
    ("agent-2", Role::Agent, None, &["team-2"]),
    ("analyst-1", Role::Analyst, None, &[]),
    ("auditor-1", Role::Auditor, None, &[]),
    ("cust-acme", Role::Customer, Some("acme"), &[]),
    ("cust-acme-2", Role::Customer, Some("acme"), &[]),
    ("cust-globex", Role::Customer, Some("globex"), &[]),
];

#[derive(Debug)]
pub struct TestApp {
    pub server: Server,
    pub client: reqwest::Client,
    keys: TokenKeys,
    _workdir: tempfile::TempDir,
}

/// Which database the server runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl TestApp {
    /// Starts a server with `extra` arguments to `serve` and the fixture directory.
    pub async fn start(backend: Backend, extra: &[&str]) -> Self {
        let app = Self::start_without_seeding(backend, extra).await;
        app.seed_directory().await;
        app
    }

    /// Two nodes on one fresh PostgreSQL database (the first seeds the
    /// fixture), or `None` when PostgreSQL tests are skipped.
    pub async fn two_nodes(test: &str) -> Option<(Self, Self)> {
        let url = bomizzel_store::testing::fresh_postgres_database(test).await?;
        let first = Self::start(Backend::Postgres(url.clone()), &[]).await;
        let second = Self::start_without_seeding(Backend::Postgres(url), &[]).await;
        Some((first, second))
    }

    /// Starts another server on a database that already has the fixture.
    pub async fn start_without_seeding(backend: Backend, extra: &[&str]) -> Self {
        let workdir = tempfile::tempdir().expect("a temporary directory");
        // No per-user rate limit unless `extra` sets one: a test's commands
        // come as fast as the machine runs them (hundreds a second from one
        // user), and the limit is the subject of its own tests only.
        let mut env = vec![
            ("BOMIZZEL_JWT_SECRET", SECRET.to_owned()),
            ("BOMIZZEL_RATE_LIMIT_PER_SECOND", UNLIMITED.to_owned()),
            ("BOMIZZEL_RATE_LIMIT_BURST", UNLIMITED.to_owned()),
        ];
        if let Backend::Postgres(url) = &backend {
            env.push(("BOMIZZEL_DATABASE_URL", url.clone()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = Server::start_with(workdir.path(), &env, extra);
        Self {
            server,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
            keys: TokenKeys::shared_secret(SECRET.as_bytes(), &Expected::default()),
            _workdir: workdir,
        }
    }

    /// The server's working directory (its `data/` is the SQLite default).
    pub fn workdir(&self) -> &std::path::Path {
        self._workdir.path()
    }

    /// Calls `GET path` as `user` until `ready` accepts the answer, within a
    /// deadline: read models follow commands a few milliseconds behind.
    pub async fn eventually(
        &self,
        path: &str,
        user: &str,
        ready: impl Fn(u16, &Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.call(Method::GET, path, user, None).await;
            if ready(status, &body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never became ready: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A valid one-hour token for fixture user `user`.
    pub fn token(&self, user: &str) -> String {
        let (id, role, company, _) = USERS
            .iter()
            .find(|(id, ..)| *id == user)
            .unwrap_or_else(|| panic!("no fixture user {user}"));
        self.keys
            .mint(&claims_for(
                id,
                *role,
                company.map(str::to_owned),
                time::Duration::hours(1),
            ))
            .expect("token mints")
    }

    /// A token with the given claims tweaked by `edit`.
    pub fn token_with(
        &self,
        user: &str,
        edit: impl FnOnce(&mut bomizzel_identity::auth::Claims),
    ) -> String {
        let (id, role, company, _) = USERS
            .iter()
            .find(|(id, ..)| *id == user)
            .expect("fixture user");
        let mut claims = claims_for(
            id,
            *role,
            company.map(str::to_owned),
            time::Duration::hours(1),
        );
        edit(&mut claims);
        self.keys.mint(&claims).expect("token mints")
    }

    pub fn request(&self, method: Method, path: &str, user: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, self.server.url(path));
        match user {
            Some(user) => request.bearer_auth(self.token(user)),
            None => request,
        }
    }

    /// Sends `body` (or nothing) as `user` and returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.request(method, path, Some(user));
        if let Some(body) = body {
            request = request.json(&body);
        }
        split(request.send().await.expect("request is answered")).await
    }

    async fn seed_directory(&self) {
        for company in ["acme", "globex"] {
            self.must(
                Method::POST,
                "/api/companies",
                json!({ "id": company, "name": company }),
            )
            .await;
        }
        for (team, queue) in [("team-1", "queue-1"), ("team-2", "queue-2")] {
            self.must(
                Method::POST,
                "/api/teams",
                json!({ "id": team, "name": team }),
            )
            .await;
            self.must(
                Method::POST,
                "/api/queues",
                json!({ "id": queue, "name": queue, "team_id": team }),
            )
            .await;
        }
        for (id, role, company, teams) in USERS {
            let body = json!({ "id": id, "name": id, "role": role, "company_id": company, "team_ids": teams });
            self.must(Method::POST, "/api/users", body).await;
        }
    }

    async fn must(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, answer) = self.call(method, path, "admin-1", Some(body)).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    /// Opens a ticket in `queue` for `company` as `user`; returns its id.
    pub async fn open_ticket(&self, user: &str, queue: &str, company: &str) -> String {
        let body = json!({ "title": "Printer on fire", "queue_id": queue, "company_id": company });
        let (status, ticket) = self
            .call(Method::POST, "/api/tickets", user, Some(body))
            .await;
        assert_eq!(status, 201, "{ticket}");
        ticket["id"].as_str().expect("an id").to_owned()
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.server.url("/metrics")).send().await;
        response
            .expect("/metrics answers")
            .text()
            .await
            .expect("a text")
    }

    /// Moves ticket `id` to `queue` as the admin, which must succeed.
    pub async fn move_ticket(&self, id: &str, queue: &str) {
        let path = format!("/api/tickets/{id}/move");
        let body = json!({ "queue_id": queue });
        let (status, answer) = self.call(Method::POST, &path, "admin-1", Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }

    /// Makes `user` a member of exactly `teams`, as the admin.
    pub async fn set_teams(&self, user: &str, teams: &[&str]) {
        let path = format!("/api/users/{user}");
        let body = json!({ "team_ids": teams });
        let (status, answer) = self.call(Method::PATCH, &path, "admin-1", Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }

    /// Adds a comment to ticket `id` as `user`, which must succeed.
    pub async fn comment(&self, user: &str, id: &str, body: &str, internal: bool) {
        let (status, answer) = self
            .call(
                Method::POST,
                &format!("/api/tickets/{id}/comments"),
                user,
                Some(json!({ "body": body, "internal": internal })),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// Status and JSON body (Null when the body is empty or not JSON).
pub async fn split(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}
