//! Finding and working tickets end to end, on the real binary: ticket
//! numbers, the list's filters, orders and stable pages, SLA due times,
//! assigning to a colleague, full-text search with its visibility rules,
//! saved views and streamed exports.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use bomizzel_store::testing::fresh_postgres_database;
use common::app::{Backend, TestApp};
use common::ws::WsClient;
use reqwest::Method;
use serde_json::{Value, json};

on_both!(
    tickets_are_numbered_and_found_by_their_number,
    filters_combine_and_pages_never_repeat_or_skip_while_tickets_change,
    sla_due_times_and_states_follow_the_targets,
    title_requester_status_and_assignee_sorts_page_stably,
    agents_assign_tickets_to_colleagues_of_the_ticket_team,
    search_ranks_and_marks_matches_and_never_reveals_internal_text,
    search_follows_a_ticket_to_its_new_team,
    saved_views_answer_their_list_and_are_shared_with_a_team,
    exports_stream_rfc4180_csv_and_jsonl_with_the_same_visibility,
);

/// Opens a ticket with `body` (plus queue and company) as `user`; returns
/// the answer.
async fn open(app: &TestApp, user: &str, queue: &str, company: &str, body: Value) -> Value {
    let mut body = body;
    body["queue_id"] = json!(queue);
    body["company_id"] = json!(company);
    let (status, ticket) = app
        .call(Method::POST, "/api/tickets", user, Some(body))
        .await;
    assert_eq!(status, 201, "{ticket}");
    ticket
}

async fn post(app: &TestApp, user: &str, path: &str, body: Value) -> Value {
    let (status, answer) = app.call(Method::POST, path, user, Some(body)).await;
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

/// Opens a ticket of acme in queue-1 as its customer cust-acme.
async fn acme_ticket(app: &TestApp, body: Value) -> Value {
    open(app, "cust-acme", "queue-1", "acme", body).await
}

/// Adds agent `agent-3` to team-1 (a colleague of agent-1).
async fn add_colleague(app: &TestApp) {
    let colleague =
        json!({ "id": "agent-3", "name": "Colleague", "role": "agent", "team_ids": ["team-1"] });
    let (status, answer) = app
        .call(Method::POST, "/api/users", "admin-1", Some(colleague))
        .await;
    assert_eq!(status, 201, "{answer}");
}

/// `method path` as agent-3, who is not a fixture user.
async fn as_colleague(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let token = app.token_with("agent-1", |claims| claims.sub = "agent-3".into());
    let mut request = app
        .client
        .request(method, app.server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    common::app::split(request.send().await.expect("an answer")).await
}

/// The ids of a list answer's items, in order.
fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The problem `GET /api/tickets?{query}` answers `user` with: a 400.
async fn refused_list(app: &TestApp, query: &str, user: &str) -> Value {
    let path = format!("/api/tickets?{query}");
    let (status, problem) = app.call(Method::GET, &path, user, None).await;
    assert_eq!(status, 400, "{path} as {user}: {problem}");
    problem
}

/// `path` as `user` once the list holds exactly `expected` tickets (any order).
async fn list_settles(app: &TestApp, path: &str, user: &str, expected: &[&String]) -> Value {
    let expected: BTreeSet<String> = expected.iter().map(|id| (*id).clone()).collect();
    app.eventually(path, user, |status, body| {
        status == 200 && ids(body).into_iter().collect::<BTreeSet<_>>() == expected
    })
    .await
}

async fn tickets_are_numbered_and_found_by_their_number(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let mut numbers = Vec::new();
    let mut tickets = Vec::new();
    for title in ["First", "Second", "Third"] {
        let ticket = acme_ticket(&app, json!({ "title": title })).await;
        numbers.push(ticket["number"].as_u64().expect("a number"));
        tickets.push(ticket["id"].as_str().expect("an id").to_owned());
    }
    assert_eq!(numbers, [1, 2, 3], "numbers start at 1 and increase");

    // By number, the same ticket as by id, for whoever may see it.
    let by_number = app
        .eventually("/api/tickets/2", "agent-1", |status, _| status == 200)
        .await;
    assert_eq!(by_number["id"], json!(tickets[1]));
    assert_eq!(by_number["number"], 2);
    let (status, _) = app
        .call(Method::GET, "/api/tickets/2", "cust-globex", None)
        .await;
    assert_eq!(
        status, 404,
        "another company's ticket is not found by number either"
    );
    let (status, _) = app
        .call(Method::GET, "/api/tickets/999", "admin-1", None)
        .await;
    assert_eq!(status, 404);
    let (status, problem) = app
        .call(Method::GET, "/api/tickets/12ab", "admin-1", None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_id"))
    );

    // The list and a retried create carry the same numbers.
    let all: Vec<&String> = tickets.iter().collect();
    let list = list_settles(&app, "/api/tickets?sort=created", "admin-1", &all).await;
    let listed: Vec<u64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["number"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [1, 2, 3]);
    let retry = |key: &str| {
        app.request(Method::POST, "/api/tickets", Some("agent-1"))
            .header("Idempotency-Key", key.to_owned())
            .json(&json!({ "title": "Once", "queue_id": "queue-1", "company_id": "acme" }))
    };
    let first: Value = retry("k-1").send().await.unwrap().json().await.unwrap();
    let again: Value = retry("k-1").send().await.unwrap().json().await.unwrap();
    assert_eq!(first["number"], 4);
    assert_eq!(
        again["number"], 4,
        "a retried create answers its first number"
    );
}

/// Two nodes on one PostgreSQL database open tickets at once: every number
/// is given once.
#[tokio::test]
async fn two_nodes_never_give_the_same_number() {
    let Some((first, second)) = TestApp::two_nodes("two_nodes_never_give_the_same_number").await
    else {
        return;
    };
    let opens = (0..40).map(|n| {
        let node = if n % 2 == 0 { &first } else { &second };
        open(
            node,
            "agent-1",
            "queue-1",
            "acme",
            json!({ "title": format!("T{n}") }),
        )
    });
    let numbers: Vec<u64> = futures::future::join_all(opens)
        .await
        .iter()
        .map(|ticket| ticket["number"].as_u64().unwrap())
        .collect();
    let distinct: BTreeSet<u64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), 40, "{numbers:?}");
    assert_eq!(
        distinct.into_iter().collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
}

async fn filters_combine_and_pages_never_repeat_or_skip_while_tickets_change(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let mut by_name = BTreeMap::new();
    for (name, queue, company, priority, tags) in [
        ("a", "queue-1", "acme", "low", json!(["vip"])),
        ("b", "queue-1", "acme", "high", json!([])),
        ("c", "queue-1", "globex", "high", json!(["vip"])),
        ("d", "queue-2", "acme", "urgent", json!([])),
        ("e", "queue-2", "globex", "medium", json!([])),
    ] {
        let body = json!({ "title": format!("Ticket {name}"), "priority": priority, "tags": tags });
        let ticket = open(&app, "admin-1", queue, company, body).await;
        by_name.insert(name, ticket["id"].as_str().unwrap().to_owned());
    }
    let id = |name: &str| by_name[name].clone();
    for (user, name, command, body) in [
        (
            "agent-1",
            "a",
            "assign",
            json!({ "assignee_id": "agent-1" }),
        ),
        ("agent-1", "b", "status", json!({ "status": "in_progress" })),
        ("agent-2", "d", "status", json!({ "status": "waiting" })),
    ] {
        post(
            &app,
            user,
            &format!("/api/tickets/{}/{command}", id(name)),
            body,
        )
        .await;
    }

    let (a, b, c, d) = (id("a"), id("b"), id("c"), id("d"));
    let far_past = "2000-01-01T00:00:00Z";
    let far_future = "2100-01-01T00:00:00Z";
    let ranges = format!("created_from={far_past}&created_to={far_future}&priority=urgent");
    // Each filter alone and combined.
    for (query, user, expected) in [
        ("status=in_progress,waiting", "admin-1", vec![&b, &d]),
        ("priority=high&company=acme", "admin-1", vec![&b]),
        ("tag=vip&queue=queue-1", "admin-1", vec![&a, &c]),
        ("assignee=me", "agent-1", vec![&a]),
        ("assignee=none&team=team-1&status=open", "agent-1", vec![&c]),
        (ranges.as_str(), "admin-1", vec![&d]),
        (&format!("updated_from={far_future}"), "admin-1", vec![]),
    ] {
        list_settles(&app, &format!("/api/tickets?{query}"), user, &expected).await;
    }
    // Customers see their company's tickets; routing filters are refused.
    list_settles(&app, "/api/tickets?priority=high", "cust-acme", &[&b]).await;
    for refused in [
        "tag=vip",
        "queue=queue-1",
        "team=team-1",
        "sla=breached",
        "sort=sla_due",
    ] {
        let problem = refused_list(&app, refused, "cust-acme").await;
        assert_eq!(problem["code"], "invalid_query", "{refused}");
    }
    let problem = refused_list(&app, "created_from=yesterday", "admin-1").await;
    assert_eq!(problem["field"], "created_from");

    // Sorted by priority, then creation.
    let list = app
        .eventually("/api/tickets?sort=-priority", "admin-1", |s, body| {
            s == 200 && ids(body).len() == 5
        })
        .await;
    assert_eq!(ids(&list), [id("d"), id("c"), id("b"), id("e"), id("a")]);

    // Paging two at a time by creation while tickets are opened and
    // changed: every ticket there at the start is seen exactly once.
    let mut seen = Vec::new();
    let mut path = "/api/tickets?sort=created&limit=2".to_owned();
    let mut page_number = 0;
    loop {
        let (status, page) = app.call(Method::GET, &path, "admin-1", None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        page_number += 1;
        open(
            &app,
            "admin-1",
            "queue-1",
            "acme",
            json!({ "title": format!("Late {page_number}") }),
        )
        .await;
        post(
            &app,
            "admin-1",
            &format!("/api/tickets/{}/priority", id("c")),
            json!({ "priority": if page_number % 2 == 0 { "low" } else { "high" } }),
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/tickets?sort=created&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no ticket twice: {seen:?}");
    for ticket in by_name.values() {
        assert!(seen.contains(ticket), "{ticket} was skipped");
    }
}

/// The ids of every page of `sort` as `user`, two at a time; after each of
/// the first two pages a ticket is opened, and between all pages every
/// ticket of `commented` gets a comment (its sort key stays, its `updated`
/// moves).
async fn walk_pages(app: &TestApp, sort: &str, user: &str, commented: &[String]) -> Vec<String> {
    let first = format!("/api/tickets?sort={sort}&limit=2");
    let mut path = first.clone();
    let mut seen = Vec::new();
    loop {
        let (status, page) = app.call(Method::GET, &path, user, None).await;
        assert_eq!(status, 200, "{path}: {page}");
        seen.extend(ids(&page));
        if seen.len() <= 4 {
            let title = format!("Late {sort} {}", seen.len());
            open(app, "admin-1", "queue-1", "acme", json!({ "title": title })).await;
        }
        for id in commented {
            let comment = json!({ "body": format!("Still {sort}?") });
            let path = format!("/api/tickets/{id}/comments");
            let (status, answer) = app
                .call(Method::POST, &path, "agent-1", Some(comment))
                .await;
            assert!((200..300).contains(&status), "{answer}");
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => return seen,
        }
    }
}

async fn title_requester_status_and_assignee_sorts_page_stably(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    add_colleague(&app).await;
    // (title, requester, status, assignee)
    let specs = [
        ("banana split", "cust-acme-2", "open", Some("agent-3")),
        ("Apple pie", "cust-acme", "waiting", None),
        ("apple PIE", "cust-acme", "closed", Some("agent-1")),
        ("Cherry", "cust-acme-2", "in_progress", None),
        ("Äpfel", "cust-acme", "resolved", Some("agent-1")),
        ("ZEBRA", "cust-acme", "open", Some("agent-3")),
    ];
    let mut t = Vec::new();
    for (title, requester, status, assignee) in specs {
        let body = json!({ "title": title, "requester_id": requester });
        let ticket = open(&app, "admin-1", "queue-1", "acme", body).await;
        let id = ticket["id"].as_str().unwrap().to_owned();
        if let Some(assignee) = assignee {
            let path = format!("/api/tickets/{id}/assign");
            post(&app, "admin-1", &path, json!({ "assignee_id": assignee })).await;
        }
        if status != "open" {
            let path = format!("/api/tickets/{id}/status");
            post(&app, "agent-1", &path, json!({ "status": status })).await;
        }
        t.push(id);
    }
    let order =
        |indexes: &[usize]| -> Vec<String> { indexes.iter().map(|i| t[*i].clone()).collect() };
    // Ascending; descending is the exact reverse (ties by creation, same
    // direction). Titles fold case ("Apple pie" ties "apple PIE") and
    // compare by code point, so "äpfel" follows "zebra" on both backends.
    let ascending = [
        ("title", order(&[1, 2, 0, 3, 5, 4])),
        ("requester", order(&[1, 2, 4, 5, 0, 3])),
        ("status", order(&[0, 5, 3, 1, 4, 2])),
        ("assignee", order(&[2, 4, 0, 5, 1, 3])),
    ];
    // Every change above is in the list before it is sorted.
    let all: Vec<&String> = t.iter().collect();
    list_settles(&app, "/api/tickets?status=closed", "admin-1", &[&t[2]]).await;
    app.eventually(
        "/api/tickets?assignee=agent-1",
        "admin-1",
        |status, body| status == 200 && ids(body).len() == 2,
    )
    .await;
    app.eventually(
        "/api/tickets?assignee=agent-3",
        "admin-1",
        |status, body| status == 200 && ids(body).len() == 2,
    )
    .await;
    list_settles(&app, "/api/tickets?limit=200", "admin-1", &all).await;
    let orders: Vec<(String, Vec<String>)> = ascending
        .into_iter()
        .flat_map(|(sort, up)| {
            let down = up.iter().rev().cloned().collect();
            [(sort.to_owned(), up), (format!("-{sort}"), down)]
        })
        .collect();
    for (sort, expected) in &orders {
        // Customers see these fields, so they may sort by them too.
        for user in ["admin-1", "cust-acme"] {
            let path = format!("/api/tickets?sort={sort}");
            let (status, list) = app.call(Method::GET, &path, user, None).await;
            assert_eq!(status, 200, "{path}: {list}");
            assert_eq!(&ids(&list), expected, "{path} as {user}");
        }
    }

    // Paging two at a time while tickets are opened and commented: each
    // of the six is seen exactly once, in order, and no ticket twice.
    for (sort, expected) in &orders {
        let seen = walk_pages(&app, sort, "admin-1", &t[..2]).await;
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a ticket twice: {seen:?}");
        let ours: Vec<String> = seen.into_iter().filter(|id| t.contains(id)).collect();
        assert_eq!(&ours, expected, "{sort}: skipped or out of order");
    }

    // A cursor continues only its own sort; a malformed one is refused alike.
    let (_, page) = app
        .call(
            Method::GET,
            "/api/tickets?sort=title&limit=1",
            "admin-1",
            None,
        )
        .await;
    let cursor = page["next_cursor"].as_str().expect("a title cursor");
    let malformed: String = "t1.title.asc".bytes().map(|b| format!("{b:02x}")).collect();
    for query in [
        format!("sort=status&cursor={cursor}"),
        format!("sort=-title&cursor={cursor}"),
        format!("sort=title&cursor={malformed}"),
    ] {
        let problem = refused_list(&app, &query, "admin-1").await;
        assert_eq!(problem["field"], "cursor", "{query}: {problem}");
    }
    let problem = refused_list(&app, "sort=colour", "cust-acme").await;
    assert_eq!(problem["field"], "sort");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("assignee"),
        "the error lists the sorts: {problem}"
    );
}

async fn sla_due_times_and_states_follow_the_targets(backend: Backend) {
    // Urgent tickets must be assigned at once, so an unassigned one is
    // breached a second after it is opened; high ones are due within the
    // (two-hour) due-soon threshold; medium and low ones are not.
    let app = TestApp::start(
        backend,
        &["--sla-urgent-minutes", "0", "--sla-due-soon-minutes", "120"],
    )
    .await;
    let mut by_priority = BTreeMap::new();
    for priority in ["low", "medium", "high", "urgent"] {
        let ticket = open(
            &app,
            "agent-1",
            "queue-1",
            "acme",
            json!({ "title": priority, "priority": priority }),
        )
        .await;
        by_priority.insert(priority, ticket["id"].as_str().unwrap().to_owned());
    }
    let (low, medium, high, urgent) = (
        &by_priority["low"],
        &by_priority["medium"],
        &by_priority["high"],
        &by_priority["urgent"],
    );
    list_settles(&app, "/api/tickets?sla=breached", "agent-1", &[urgent]).await;
    list_settles(&app, "/api/tickets?sla=due_soon", "agent-1", &[high]).await;
    list_settles(&app, "/api/tickets?sla=ok", "agent-1", &[low, medium]).await;
    let by_due = app
        .call(Method::GET, "/api/tickets?sort=sla_due", "agent-1", None)
        .await
        .1;
    assert_eq!(ids(&by_due), [urgent, high, medium, low].map(String::clone));

    // Assigning the urgent ticket does not undo the late first response.
    post(
        &app,
        "agent-1",
        &format!("/api/tickets/{urgent}/assign"),
        json!({ "assignee_id": "agent-1" }),
    )
    .await;
    let ticket = app
        .eventually(&format!("/api/tickets/{urgent}"), "agent-1", |_, body| {
            body["sla"]["first_response"]["state"] == "missed"
        })
        .await;
    assert_eq!(ticket["sla"]["state"], "breached");
    assert_eq!(ticket["sla"]["resolution"]["state"], "pending");

    // Due times: first response one hour after creation for high.
    let high_ticket = app
        .call(
            Method::GET,
            &format!("/api/tickets/{high}"),
            "agent-1",
            None,
        )
        .await
        .1;
    let listed = by_due["items"][1].clone();
    let created = time::OffsetDateTime::parse(
        listed["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let due = time::OffsetDateTime::parse(
        high_ticket["sla"]["first_response"]["due_at"]
            .as_str()
            .unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(due.unix_timestamp(), created.unix_timestamp() + 3600);
    assert_eq!(high_ticket["sla"]["first_response"]["state"], "due_soon");
    assert_eq!(
        high_ticket["sla"]["due_at"],
        high_ticket["sla"]["first_response"]["due_at"]
    );

    // Customers are shown no SLA.
    let mine = acme_ticket(&app, json!({ "title": "Mine" })).await;
    let id = mine["id"].as_str().unwrap();
    let seen = app
        .eventually(&format!("/api/tickets/{id}"), "cust-acme", |status, _| {
            status == 200
        })
        .await;
    assert!(seen.get("sla").is_none(), "{seen}");
    let staff = app
        .eventually(&format!("/api/tickets/{id}"), "agent-1", |_, body| {
            body.get("sla").is_some()
        })
        .await;
    assert_eq!(staff["sla"]["state"], "ok");
    let list = app
        .eventually("/api/tickets", "cust-acme", |_, body| ids(body).len() == 5)
        .await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item.get("sla").is_none())
    );
}

async fn agents_assign_tickets_to_colleagues_of_the_ticket_team(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    add_colleague(&app).await;

    let (status, team) = app
        .call(Method::GET, "/api/users?team=team-1", "agent-1", None)
        .await;
    assert_eq!(status, 200, "{team}");
    let members: Vec<&str> = team
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["agent-1", "agent-3"]);
    assert_eq!(team[1]["name"], "Colleague");
    assert_eq!(team[1]["team_ids"], json!(["team-1"]));
    for (path, user, expected) in [
        ("/api/users?team=team-2", "agent-1", 403),
        ("/api/users", "agent-1", 400),
        ("/api/users?team=team-1", "cust-acme", 403),
        ("/api/users?team=team-1", "analyst-1", 403),
        ("/api/users?team=team-2", "admin-1", 200),
    ] {
        let (status, body) = app.call(Method::GET, path, user, None).await;
        assert_eq!(status, expected, "{user} {path}: {body}");
    }

    let ticket = acme_ticket(&app, json!({ "title": "Help" })).await;
    let assign = format!("/api/tickets/{}/assign", ticket["id"].as_str().unwrap());
    // Whom each assignment took the ticket from: nobody, agent-3, nobody
    // (nothing changed).
    for (assignee, taken_from) in [
        ("agent-3", Value::Null),
        ("agent-1", json!("agent-3")),
        ("agent-1", Value::Null),
    ] {
        let answer = post(&app, "agent-1", &assign, json!({ "assignee_id": assignee })).await;
        assert_eq!(answer["assignee_id"], assignee);
        assert_eq!(
            answer.get("taken_from").cloned().unwrap_or_default(),
            taken_from,
            "{answer}"
        );
    }

    let (status, problem) = app
        .call(
            Method::POST,
            &assign,
            "agent-1",
            Some(json!({ "assignee_id": "agent-2" })),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "assignee_not_in_team");
    assert_eq!(problem["field"], "assignee_id");
}

/// `?team=team-1` as agent-1 on `app` once agent-3's `online` is `online`;
/// the answer.
async fn colleague_online(app: &TestApp, online: bool) -> Value {
    app.eventually("/api/users?team=team-1", "agent-1", |status, body| {
        status == 200
            && body.as_array().is_some_and(|users| {
                users
                    .iter()
                    .any(|user| user["id"] == "agent-3" && user["online"] == online)
            })
    })
    .await
}

/// A colleague connected to `connect_to`'s team room shows online in
/// `ask`'s answer, and offline once the connection closes.
async fn online_while_connected(connect_to: &TestApp, ask: &TestApp) {
    add_colleague(connect_to).await;
    colleague_online(ask, false).await;
    let token = connect_to.token_with("agent-1", |claims| claims.sub = "agent-3".into());
    let (mut socket, _) = WsClient::connect(&connect_to.server.base_url, &token).await;
    socket.subscribe("team:team-1", None).await;
    let team = colleague_online(ask, true).await;
    let agent_1 = team
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["id"] == "agent-1");
    assert_eq!(agent_1.expect("agent-1 listed")["online"], false, "{team}");
    socket.close().await;
    colleague_online(ask, false).await;
}

#[tokio::test]
async fn colleagues_show_online_while_connected_on_any_node() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    online_while_connected(&app, &app).await;
    // Connected to one node, listed online by the other.
    if let Some((first, second)) =
        TestApp::two_nodes("colleagues_show_online_while_connected_on_any_node").await
    {
        online_while_connected(&first, &second).await;
    }
}

async fn search_ranks_and_marks_matches_and_never_reveals_internal_text(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let title_hit = acme_ticket(
        &app,
        json!({ "title": "Printer on fire", "description": "Third floor" }),
    )
    .await;
    let body_hit = acme_ticket(
        &app,
        json!({ "title": "Office", "description": "The printer \"jams\" & squeaks" }),
    )
    .await;
    let internal = acme_ticket(&app, json!({ "title": "Quiet one" })).await;
    let public = acme_ticket(&app, json!({ "title": "Another" })).await;
    let foreign = open(
        &app,
        "cust-globex",
        "queue-1",
        "globex",
        json!({ "title": "Printer at globex" }),
    )
    .await;
    let id = |ticket: &Value| ticket["id"].as_str().unwrap().to_owned();
    app.comment(
        "agent-1",
        &id(&internal),
        "Zebrafish firmware is the culprit",
        true,
    )
    .await;
    app.comment("agent-1", &id(&public), "Flamingo cable replaced", false)
        .await;

    // Ranked: the title match first; stemmed: "printers" finds "printer".
    let found = app
        .eventually("/api/tickets?q=printers", "agent-1", |status, body| {
            status == 200 && ids(body).len() == 3
        })
        .await;
    assert_eq!(
        ids(&found)[2],
        id(&body_hit),
        "the description match ranks last: {found}"
    );
    let snippet = found["items"][2]["snippet"].as_str().expect("a snippet");
    assert!(snippet.contains("<mark>printer</mark>"), "{snippet}");
    assert!(
        snippet.contains("&quot;jams&quot; &amp; squeaks"),
        "escaped: {snippet}"
    );

    // Combined with filters and paged.
    list_settles(
        &app,
        "/api/tickets?q=printer&company=acme",
        "agent-1",
        &[&id(&title_hit), &id(&body_hit)],
    )
    .await;
    let first = app
        .call(
            Method::GET,
            "/api/tickets?q=printer&company=acme&limit=1",
            "agent-1",
            None,
        )
        .await
        .1;
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app
        .call(
            Method::GET,
            &format!("/api/tickets?q=printer&company=acme&limit=1&cursor={cursor}"),
            "agent-1",
            None,
        )
        .await
        .1;
    assert_eq!(
        [ids(&first), ids(&second)].concat(),
        [id(&title_hit), id(&body_hit)]
    );
    assert!(second["next_cursor"].is_null());

    // A word only in an internal comment finds the ticket for staff only.
    let staff = list_settles(
        &app,
        "/api/tickets?q=zebrafish",
        "agent-1",
        &[&id(&internal)],
    )
    .await;
    assert!(
        staff["items"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>Zebrafish</mark>")
    );
    list_settles(
        &app,
        "/api/tickets?q=flamingo",
        "cust-acme",
        &[&id(&public)],
    )
    .await;
    let (status, none) = app
        .call(Method::GET, "/api/tickets?q=zebrafish", "cust-acme", None)
        .await;
    assert_eq!((status, ids(&none)), (200, vec![]));
    let (_, none) = app
        .call(
            Method::GET,
            "/api/tickets?q=zebrafish%20culprit",
            "cust-acme",
            None,
        )
        .await;
    assert!(ids(&none).is_empty());
    // Other companies' and other teams' tickets never match.
    list_settles(
        &app,
        "/api/tickets?q=printer",
        "cust-globex",
        &[&id(&foreign)],
    )
    .await;
    list_settles(&app, "/api/tickets?q=printer", "agent-2", &[]).await;
    // Nothing to look for finds nothing; relevance needs a search.
    let (status, nothing) = app
        .call(Method::GET, "/api/tickets?q=%20%22*", "agent-1", None)
        .await;
    assert_eq!((status, ids(&nothing)), (200, vec![]));
    let (status, _) = app
        .call(Method::GET, "/api/tickets?sort=-relevance", "agent-1", None)
        .await;
    assert_eq!(status, 400);
    // An edited title is found by its new words only.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/tickets/{}", id(&title_hit)),
            "agent-1",
            Some(json!({ "title": "Scanner smoking" })),
        )
        .await;
    assert_eq!(status, 200);
    list_settles(
        &app,
        "/api/tickets?q=scanner",
        "agent-1",
        &[&id(&title_hit)],
    )
    .await;
    list_settles(
        &app,
        "/api/tickets?q=printer&company=acme",
        "agent-1",
        &[&id(&body_hit)],
    )
    .await;
}

/// A search reads only the texts of the caller's teams (their scope words):
/// texts written before a ticket moved follow it to its new team.
async fn search_follows_a_ticket_to_its_new_team(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let moved = acme_ticket(&app, json!({ "title": "Walrus", "description": "Narwhal" })).await;
    let id = moved["id"].as_str().unwrap().to_owned();
    app.comment("agent-1", &id, "Axolotl noted", true).await;
    list_settles(&app, "/api/tickets?q=axolotl", "agent-1", &[&id]).await;

    let path = format!("/api/tickets/{id}/move");
    post(&app, "agent-1", &path, json!({ "queue_id": "queue-2" })).await;
    app.comment("agent-2", &id, "Axolotl moved", true).await;
    for query in ["walrus", "narwhal", "axolotl%20noted", "axolotl%20moved"] {
        let path = format!("/api/tickets?q={query}");
        list_settles(&app, &path, "agent-2", &[&id]).await;
        list_settles(&app, &format!("{path}&team=team-2"), "admin-1", &[&id]).await;
        list_settles(&app, &format!("{path}&team=team-1"), "admin-1", &[]).await;
        list_settles(&app, &path, "agent-1", &[]).await;
    }
    // Moved back, its texts are the first team's again.
    post(&app, "agent-2", &path, json!({ "queue_id": "queue-1" })).await;
    list_settles(&app, "/api/tickets?q=axolotl", "agent-1", &[&id]).await;
    list_settles(&app, "/api/tickets?q=axolotl", "agent-2", &[]).await;
}

async fn saved_views_answer_their_list_and_are_shared_with_a_team(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    add_colleague(&app).await;
    let urgent = acme_ticket(
        &app,
        json!({ "title": "Urgent printer", "priority": "high" }),
    )
    .await;
    let calm = acme_ticket(&app, json!({ "title": "Calm printer", "priority": "low" })).await;
    let other_team = open(
        &app,
        "cust-acme",
        "queue-2",
        "acme",
        json!({ "title": "Printer elsewhere", "priority": "high" }),
    )
    .await;
    let id = |ticket: &Value| ticket["id"].as_str().unwrap().to_owned();

    // A view shared with team-1: high-priority printer tickets, newest first.
    let body = json!({ "name": "Hot printers", "team_id": "team-1", "query": { "q": "printer", "priority": "high,urgent", "sort": "-created" } });
    let (status, view) = app
        .call(Method::POST, "/api/views", "agent-1", Some(body))
        .await;
    assert_eq!(status, 201, "{view}");
    let view_id = view["id"].as_str().unwrap().to_owned();
    assert_eq!(view["owner_id"], "agent-1");
    let tickets = format!("/api/views/{view_id}/tickets");
    list_settles(&app, &tickets, "agent-1", &[&id(&urgent)]).await;
    // The colleague uses it; its visibility is theirs. agent-2 does not see it.
    let (status, shared) = as_colleague(&app, Method::GET, &tickets, None).await;
    assert_eq!((status, ids(&shared)), (200, vec![id(&urgent)]));
    let (_, theirs) = as_colleague(&app, Method::GET, "/api/views", None).await;
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    for path in [format!("/api/views/{view_id}"), tickets.clone()] {
        assert_eq!(
            app.call(Method::GET, &path, "agent-2", None).await.0,
            404,
            "{path}"
        );
    }
    // Only the owner changes it.
    let rename = json!({ "name": "Printers" });
    let (status, _) = as_colleague(
        &app,
        Method::PATCH,
        &format!("/api/views/{view_id}"),
        Some(rename),
    )
    .await;
    assert_eq!(status, 403);
    let (status, renamed) = app
        .call(
            Method::PATCH,
            &format!("/api/views/{view_id}"),
            "agent-1",
            Some(json!({ "name": "Printers", "query": { "q": "printer" } })),
        )
        .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Printers")));
    list_settles(&app, &tickets, "agent-1", &[&id(&urgent), &id(&calm)]).await;
    // Counts, with the feed offset they are consistent with; a change moves them.
    let counts = app
        .request(Method::GET, "/api/views/counts", Some("agent-1"))
        .send()
        .await
        .unwrap();
    assert!(counts.headers().contains_key("bomizzel-feed-offset"));
    let counts: Value = counts.json().await.unwrap();
    assert_eq!(counts, json!([{ "id": view_id, "count": 2 }]));
    post(
        &app,
        "agent-2",
        &format!("/api/tickets/{}/move", id(&other_team)),
        json!({ "queue_id": "queue-1" }),
    )
    .await;
    app.eventually("/api/views/counts", "agent-1", |_, body| {
        body[0]["count"] == 3
    })
    .await;

    // Refused: a team that is not theirs, a customer's staff-only filter,
    // list filters on a view's list, an empty name.
    for (user, body, expected) in [
        ("agent-1", json!({ "name": "x", "team_id": "team-2" }), 422),
        (
            "cust-acme",
            json!({ "name": "x", "team_id": "team-1" }),
            422,
        ),
        ("agent-1", json!({ "name": " " }), 422),
        (
            "cust-acme",
            json!({ "name": "x", "query": { "tag": "vip" } }),
            400,
        ),
        (
            "cust-acme",
            json!({ "name": "x", "query": { "colour": "red" } }),
            400,
        ),
    ] {
        let (status, problem) = app.call(Method::POST, "/api/views", user, Some(body)).await;
        assert_eq!(status, expected, "{problem}");
    }
    let filtered = format!("{tickets}?status=open");
    assert_eq!(
        app.call(Method::GET, &filtered, "agent-1", None).await.0,
        400
    );
    // A customer's own view lists their company's tickets only.
    let (status, mine) = app
        .call(
            Method::POST,
            "/api/views",
            "cust-acme",
            Some(json!({ "name": "Mine", "query": { "q": "printer" } })),
        )
        .await;
    assert_eq!(status, 201);
    let mine = format!("/api/views/{}/tickets", mine["id"].as_str().unwrap());
    list_settles(
        &app,
        &mine,
        "cust-acme",
        &[&id(&urgent), &id(&calm), &id(&other_team)],
    )
    .await;

    // Deleted by its owner, gone for everyone.
    assert_eq!(
        as_colleague(&app, Method::DELETE, &format!("/api/views/{view_id}"), None)
            .await
            .0,
        403
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/views/{view_id}"),
            "agent-1",
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(as_colleague(&app, Method::GET, &tickets, None).await.0, 404);
}

/// Parses RFC 4180 CSV: quoted fields may hold commas, quotes (doubled)
/// and line breaks; records end with CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "records end with CRLF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record is ended"
    );
    records
}

/// `GET path` as `user`: status, headers and body text.
async fn download(
    app: &TestApp,
    path: &str,
    user: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app
        .request(Method::GET, path, Some(user))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn exports_stream_rfc4180_csv_and_jsonl_with_the_same_visibility(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let tricky = open(
        &app,
        "agent-1",
        "queue-1",
        "acme",
        json!({ "title": "Printer, \"big\" one", "tags": ["vip", "hw"] }),
    )
    .await;
    app.comment(
        "agent-1",
        tricky["id"].as_str().unwrap(),
        "Line one\nline \"two\", end",
        true,
    )
    .await;
    // More than one page of the read model (200 rows).
    for n in 0..205 {
        open(
            &app,
            "agent-1",
            "queue-1",
            "globex",
            json!({ "title": format!("Bulk {n}") }),
        )
        .await;
    }
    let other_team = open(
        &app,
        "agent-2",
        "queue-2",
        "acme",
        json!({ "title": "Elsewhere" }),
    )
    .await;
    let total = 207;
    // The read model has them all once it has the last one.
    app.eventually(
        &format!("/api/tickets/{}", other_team["number"]),
        "admin-1",
        |status, _| status == 200,
    )
    .await;

    let (status, headers, csv) = download(&app, "/api/exports/tickets.csv", "analyst-1").await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        headers[reqwest::header::CONTENT_DISPOSITION],
        "attachment; filename=\"tickets.csv\""
    );
    let records = parse_csv(&csv);
    assert_eq!(records[0][..4], ["number", "id", "title", "status"]);
    assert_eq!(records.len(), total + 1, "a header and every ticket once");
    let numbers: Vec<u64> = records[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(
        numbers,
        (1..=total as u64).collect::<Vec<_>>(),
        "creation order, no repeats"
    );
    assert_eq!(records[1][2], "Printer, \"big\" one");
    let tags = records[0].iter().position(|c| c == "tags").unwrap();
    assert_eq!(records[1][tags], "vip;hw");

    // The list's filters, and the caller's visibility.
    let (_, _, csv) = download(&app, "/api/exports/tickets.csv?company=acme", "analyst-1").await;
    let acme: Vec<String> = parse_csv(&csv)[1..].iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        acme,
        [
            tricky["id"].as_str().unwrap(),
            other_team["id"].as_str().unwrap()
        ]
    );
    let (_, _, csv) = download(&app, "/api/exports/tickets.csv", "agent-2").await;
    let theirs: Vec<String> = parse_csv(&csv)[1..].iter().map(|r| r[1].clone()).collect();
    assert_eq!(theirs, [other_team["id"].as_str().unwrap()]);
    for path in [
        "/api/exports/tickets.csv",
        "/api/exports/queue_hourly.csv",
        "/api/exports/history.csv?ticket=1",
    ] {
        assert_eq!(download(&app, path, "cust-acme").await.0, 403, "{path}");
    }
    assert_eq!(
        download(&app, "/api/exports/tickets.csv?format=xml", "admin-1")
            .await
            .0,
        400
    );
    assert_eq!(
        download(&app, "/api/exports/tickets.csv?q=printer", "admin-1")
            .await
            .0,
        400
    );

    // JSON lines: the list's items, one a line.
    let (status, headers, jsonl) = download(
        &app,
        "/api/exports/tickets.csv?format=jsonl&company=acme",
        "admin-1",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        headers[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("tickets.jsonl")
    );
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["number"], 1);
    assert_eq!(lines[0]["sla"]["state"], "ok");

    // One ticket's history, internal comment with its line break included.
    let (status, _, csv) = download(&app, "/api/exports/history.csv?ticket=1", "analyst-1").await;
    assert_eq!(status, 200, "{csv}");
    let history = parse_csv(&csv);
    let kinds: Vec<&str> = history[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!(kinds, ["TicketCreated", "CommentAdded"]);
    let data: Value = serde_json::from_str(&history[2][8]).unwrap();
    assert_eq!(data["body"], "Line one\nline \"two\", end");
    assert_eq!(
        download(
            &app,
            &format!(
                "/api/exports/history.csv?ticket={}",
                other_team["id"].as_str().unwrap()
            ),
            "agent-1"
        )
        .await
        .0,
        404
    );

    // Hourly buckets of the queues the caller may read.
    app.eventually(
        "/api/queues/queue-2/metrics/hourly",
        "analyst-1",
        |_, body| body.as_array().is_some_and(|b| !b.is_empty()),
    )
    .await;
    let hourly = app
        .eventually(
            "/api/queues/queue-1/metrics/hourly",
            "analyst-1",
            |_, body| {
                body.as_array().is_some_and(|b| {
                    b.iter()
                        .map(|h| h["created"].as_i64().unwrap())
                        .sum::<i64>()
                        == 206
                })
            },
        )
        .await;
    let (status, _, csv) = download(&app, "/api/exports/queue_hourly.csv", "analyst-1").await;
    assert_eq!(status, 200);
    let buckets = parse_csv(&csv);
    assert_eq!(
        buckets[0],
        [
            "queue_id",
            "hour_start",
            "hour_unix",
            "created",
            "first_assigned",
            "resolved"
        ]
    );
    let created = |queue: &str| -> i64 {
        buckets[1..]
            .iter()
            .filter(|r| r[0] == queue)
            .map(|r| r[3].parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(
        (created("queue-1"), created("queue-2")),
        (206, 1),
        "{hourly}"
    );
    let (_, _, csv) = download(&app, "/api/exports/queue_hourly.csv", "agent-2").await;
    assert!(parse_csv(&csv)[1..].iter().all(|r| r[0] == "queue-2"));
    assert_eq!(
        download(
            &app,
            "/api/exports/queue_hourly.csv?queue=queue-1",
            "agent-2"
        )
        .await
        .0,
        403
    );
}
