//! Demo mode (`bomizzel serve --demo`), so a newcomer can see and use the
//! live system at once: a demo directory (two companies, two teams, three
//! queues, agents, customers, an analyst and an admin), sample tickets and
//! saved views on a fresh database ([`samples`]), a "sign in as" route that
//! mints short-lived tokens for those users, and simulated activity.
//!
//! Anyone who can reach a demo server can act as any demo user: the routes
//! under `/api/demo/` exist only in demo mode, and the server says so loudly.
//!
//! Everything the demo does to the directory and to tickets goes through
//! the public HTTP API (the same router, called in-process with a minted
//! token), so it obeys the same validation and permissions as any client.
//! The samples' steps are dated in the past with the API's in-process
//! `OccurredAt` extension, which no HTTP client can set.

mod samples;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use bomizzel_api::commands::OccurredAt;
use bomizzel_api::error::{ApiError, ApiResult};
use bomizzel_api::{AppState, JsonBody};
use bomizzel_identity::auth::claims_for;
use bomizzel_identity::{Role, TokenKeys};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt;

/// A user of the demo directory.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DemoUser {
    pub id: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub company_id: Option<&'static str>,
    pub team_ids: &'static [&'static str],
}

const fn user(
    id: &'static str,
    name: &'static str,
    role: Role,
    company_id: Option<&'static str>,
    team_ids: &'static [&'static str],
) -> DemoUser {
    DemoUser {
        id,
        name,
        role,
        company_id,
        team_ids,
    }
}

pub const USERS: &[DemoUser] = &[
    user("ada", "Ada (admin)", Role::Admin, None, &[]),
    user("alice", "Alice", Role::Agent, None, &["support"]),
    user("bob", "Bob", Role::Agent, None, &["support"]),
    user("carol", "Carol", Role::Agent, None, &["billing"]),
    user("ann", "Ann (analyst)", Role::Analyst, None, &[]),
    user("dave", "Dave", Role::Customer, Some("acme"), &[]),
    user("erin", "Erin", Role::Customer, Some("acme"), &[]),
    user("frank", "Frank", Role::Customer, Some("globex"), &[]),
];

const COMPANIES: &[(&str, &str)] = &[("acme", "Acme Corp"), ("globex", "Globex Inc")];
const TEAMS: &[(&str, &str)] = &[("support", "Support"), ("billing", "Billing")];
/// (id, name, team)
const QUEUES: &[(&str, &str, &str)] = &[
    ("general", "General", "support"),
    ("hardware", "Hardware", "support"),
    ("invoices", "Invoices", "billing"),
];

/// A demo user by id (the samples name them).
fn demo_user(id: &str) -> anyhow::Result<&'static DemoUser> {
    USERS
        .iter()
        .find(|user| user.id == id)
        .with_context(|| format!("{id} is not a demo user"))
}

/// The longest a demo token lives.
const MAX_TOKEN_SECONDS: i64 = 3600;
const MAX_PER_MINUTE: u32 = 600;

/// Whether simulated users are at work, and how many actions a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    pub running: bool,
    pub per_minute: u32,
}

impl Default for Simulation {
    fn default() -> Self {
        Self {
            running: false,
            per_minute: 30,
        }
    }
}

#[derive(Debug, Clone)]
struct Demo {
    /// The public API, called in-process.
    api: Router,
    keys: TokenKeys,
    simulation: Arc<watch::Sender<Simulation>>,
}

/// Seeds the demo directory, starts the (paused) simulator and returns the
/// `/api/demo/` routes.
pub async fn start(state: AppState, shutdown: watch::Receiver<bool>) -> anyhow::Result<Router> {
    let demo = Demo {
        api: bomizzel_api::router(state.clone(), None),
        keys: state.keys.clone(),
        simulation: Arc::new(watch::channel(Simulation::default()).0),
    };
    demo.token(&USERS[0], MAX_TOKEN_SECONDS).map_err(|error| {
        anyhow::anyhow!(
            "demo mode mints tokens, which needs a shared secret rather than a public key: {error}"
        )
    })?;
    if demo
        .seed()
        .await
        .context("cannot seed the demo directory")?
    {
        demo.seed_samples()
            .await
            .context("cannot seed the demo's sample tickets")?;
    }
    tokio::spawn(simulate(demo.clone(), shutdown));
    tracing::warn!(
        "DEMO MODE: anyone who can reach this server can sign in as any demo user \
         (POST /api/demo/login); never run --demo with real data"
    );
    Ok(Router::new()
        .route("/api/demo/users", get(users))
        .route("/api/demo/login", post(login))
        .route(
            "/api/demo/simulation",
            get(simulation).put(change_simulation),
        )
        .with_state(demo))
}

impl Demo {
    fn token(&self, user: &DemoUser, seconds: i64) -> Result<String, String> {
        let claims = claims_for(
            user.id,
            user.role,
            user.company_id.map(str::to_owned),
            time::Duration::seconds(seconds),
        );
        self.keys.mint(&claims)
    }

    /// Sends one request to the API as `user`; the answer's status and JSON.
    async fn call(
        &self,
        user: &DemoUser,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call_at(user, method, path, body, None).await
    }

    /// [`Demo::call`], with a command dated `at` when given.
    async fn call_at(
        &self,
        user: &DemoUser,
        method: Method,
        path: &str,
        body: Option<Value>,
        at: Option<time::OffsetDateTime>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let token = self.token(user, 60).map_err(anyhow::Error::msg)?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(at) = at {
            request = request.extension(OccurredAt(at));
        }
        let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
        let response = self.api.clone().oneshot(request.body(body)?).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).context("the API answered something other than JSON")?
        };
        Ok((status, value))
    }

    /// Creates what is missing of the demo directory; what exists (a restart
    /// on the same database) is left as it is. True when the database was
    /// fresh (its first company did not exist yet).
    async fn seed(&self) -> anyhow::Result<bool> {
        let mut creations = Vec::new();
        for (id, name) in COMPANIES {
            creations.push(("/api/companies", json!({ "id": id, "name": name })));
        }
        for (id, name) in TEAMS {
            creations.push(("/api/teams", json!({ "id": id, "name": name })));
        }
        for (id, name, team) in QUEUES {
            creations.push((
                "/api/queues",
                json!({ "id": id, "name": name, "team_id": team }),
            ));
        }
        for user in USERS {
            creations.push(("/api/users", serde_json::to_value(user)?));
        }
        let admin = &USERS[0];
        let mut fresh = None;
        for (path, body) in creations {
            let (status, answer) = self.call(admin, Method::POST, path, Some(body)).await?;
            if !status.is_success() && status != StatusCode::CONFLICT {
                bail!("POST {path} answered {status}: {answer}");
            }
            fresh.get_or_insert(status.is_success());
        }
        Ok(fresh.unwrap_or(false))
    }

    /// The sample tickets, each step dated when it happened, and each
    /// team's saved views.
    async fn seed_samples(&self) -> anyhow::Result<()> {
        let now = time::OffsetDateTime::now_utc();
        let mut ids: Vec<Option<String>> = Vec::new();
        for step in samples::plan() {
            let path = match ids.get(step.sample).cloned().flatten() {
                Some(id) => step.path.replace("{id}", &id),
                None => step.path.to_owned(),
            };
            let at = now - time::Duration::seconds_f64(step.minutes_ago * 60.0);
            let who = demo_user(step.who)?;
            let (status, answer) = self
                .call_at(who, Method::POST, &path, Some(step.body), Some(at))
                .await?;
            if !status.is_success() {
                bail!("POST {path} as {} answered {status}: {answer}", who.id);
            }
            if ids.len() <= step.sample {
                ids.resize(step.sample + 1, None);
            }
            if let Some(id) = answer["id"].as_str() {
                ids[step.sample].get_or_insert_with(|| id.to_owned());
            }
        }
        let admin = &USERS[0];
        for (team, _) in TEAMS {
            for (name, query) in samples::views() {
                let body = json!({ "name": name, "team_id": team, "query": query });
                let (status, answer) = self
                    .call(admin, Method::POST, "/api/views", Some(body))
                    .await?;
                if !status.is_success() {
                    bail!("POST /api/views answered {status}: {answer}");
                }
            }
        }
        Ok(())
    }
}

/// The demo users, for the console's "sign in as" list.
async fn users() -> Json<&'static [DemoUser]> {
    Json(USERS)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user_id: String,
    /// 1..=3600, default 3600.
    ttl_seconds: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Session {
    token: String,
    expires_at: i64,
    user: DemoUser,
}

/// A short-lived token for a demo user.
async fn login(
    State(demo): State<Demo>,
    JsonBody(login): JsonBody<Login>,
) -> ApiResult<Json<Session>> {
    let user = USERS
        .iter()
        .find(|user| user.id == login.user_id)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_demo_user",
                format!("{:?} is not a demo user", login.user_id),
            )
            .with_field("user_id")
        })?;
    let seconds = login.ttl_seconds.unwrap_or(MAX_TOKEN_SECONDS);
    if !(1..=MAX_TOKEN_SECONDS).contains(&seconds) {
        return Err(ApiError::unprocessable(
            "validation_failed",
            format!("ttl_seconds must be between 1 and {MAX_TOKEN_SECONDS}"),
        )
        .with_field("ttl_seconds"));
    }
    let token = demo
        .token(user, seconds)
        .map_err(|error| ApiError::internal(anyhow::anyhow!(error)))?;
    Ok(Json(Session {
        token,
        expires_at: time::OffsetDateTime::now_utc().unix_timestamp() + seconds,
        user: *user,
    }))
}

async fn simulation(State(demo): State<Demo>) -> Json<Simulation> {
    Json(*demo.simulation.borrow())
}

async fn change_simulation(
    State(demo): State<Demo>,
    JsonBody(wanted): JsonBody<Simulation>,
) -> ApiResult<Json<Simulation>> {
    if !(1..=MAX_PER_MINUTE).contains(&wanted.per_minute) {
        return Err(ApiError::unprocessable(
            "validation_failed",
            format!("per_minute must be between 1 and {MAX_PER_MINUTE}"),
        )
        .with_field("per_minute"));
    }
    demo.simulation.send_replace(wanted);
    tracing::info!(
        running = wanted.running,
        per_minute = wanted.per_minute,
        "demo simulation changed"
    );
    Ok(Json(wanted))
}

/// Acts as a random demo user at the configured rate while running.
async fn simulate(demo: Demo, mut shutdown: watch::Receiver<bool>) {
    let mut settings = demo.simulation.subscribe();
    loop {
        let current = *settings.borrow_and_update();
        let pause = Duration::from_secs_f64(60.0 / f64::from(current.per_minute.max(1)));
        let due = tokio::select! {
            _ = tokio::time::sleep(pause), if current.running => true,
            changed = settings.changed() => if changed.is_err() { return } else { false },
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        if due && let Err(error) = act(&demo).await {
            tracing::warn!(%error, "a simulated action failed");
        }
    }
}

/// One simulated action: a customer opens a ticket, or an agent works one.
async fn act(demo: &Demo) -> anyhow::Result<()> {
    let (customers, agents): (Vec<&DemoUser>, Vec<&DemoUser>) = USERS
        .iter()
        .filter(|user| matches!(user.role, Role::Customer | Role::Agent))
        .partition(|user| user.role == Role::Customer);
    let opens_ticket = rand::rng().random_bool(0.3);
    if opens_ticket {
        // A title and the queue it belongs in.
        let (customer, title, queue) = {
            let mut rng = rand::rng();
            let (queue, titles) = samples::TOPICS.choose(&mut rng).context("no topics")?;
            (
                *customers.choose(&mut rng).context("no customers")?,
                *titles.choose(&mut rng).context("no titles")?,
                *queue,
            )
        };
        let body = json!({ "title": title, "description": "Opened by the demo simulation.", "queue_id": queue });
        expect_success(
            demo.call(customer, Method::POST, "/api/tickets", Some(body))
                .await?,
        )
    } else {
        let agent = *agents.choose(&mut rand::rng()).context("no agents")?;
        work_a_ticket(demo, agent).await
    }
}

async fn work_a_ticket(demo: &Demo, agent: &DemoUser) -> anyhow::Result<()> {
    let (_, page) = demo
        .call(
            agent,
            Method::GET,
            "/api/tickets?status=open,in_progress,waiting,resolved&limit=50",
            None,
        )
        .await?;
    let tickets = page["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(ticket) = tickets.choose(&mut rand::rng()) else {
        return Ok(());
    };
    let id = ticket["id"].as_str().context("a ticket without an id")?;
    let (path, body) = next_step(agent, ticket);
    expect_success(
        demo.call(
            agent,
            Method::POST,
            &format!("/api/tickets/{id}/{path}"),
            Some(body),
        )
        .await?,
    )
}

/// What an agent plausibly does next with `ticket`: take it when nobody
/// holds it, otherwise move it along, reprioritise it or comment on it.
fn next_step(agent: &DemoUser, ticket: &Value) -> (&'static str, Value) {
    if ticket["assignee_id"].is_null() {
        return ("assign", json!({ "assignee_id": agent.id }));
    }
    let mut rng = rand::rng();
    match rng.random_range(0..4) {
        0 => {
            let priority = ["low", "medium", "high", "urgent"]
                .choose(&mut rng)
                .copied()
                .unwrap_or("medium");
            ("priority", json!({ "priority": priority }))
        }
        1 => {
            let internal = rng.random_bool(0.5);
            let body = if internal {
                "Checked the logs; looks like a known issue."
            } else {
                "Thanks, we are looking into it."
            };
            ("comments", json!({ "body": body, "internal": internal }))
        }
        _ => {
            let next = match ticket["status"].as_str() {
                Some("open") => "in_progress",
                Some("in_progress") => *["waiting", "resolved"]
                    .choose(&mut rng)
                    .unwrap_or(&"resolved"),
                Some("waiting") => "in_progress",
                _ => "closed",
            };
            ("status", json!({ "status": next }))
        }
    }
}

fn expect_success((status, answer): (StatusCode, Value)) -> anyhow::Result<()> {
    // A conflict means someone else changed the ticket first: expected when
    // several simulated users (or people) work on the same tickets.
    if status.is_success() || status == StatusCode::CONFLICT {
        Ok(())
    } else {
        bail!("the API answered {status}: {answer}")
    }
}
