//! `commands::execute`'s rules in process, on a real SQLite event store:
//! conflicts retried unless `If-Match` pinned a version, idempotency keys
//! answered once and bound to their request, commands that change nothing
//! appending nothing, a node's cached ticket never deciding what another
//! node's change made wrong. Milliseconds, before the binary-level tests.

use bomizzel_api::commands::{self, CommandContext, Idempotency};
use bomizzel_api::error::{ApiError, ApiResult};
use bomizzel_domain::{Priority, Ticket, TicketCommand};
use bomizzel_identity::{Caller, Role, Tickets};
use bomizzel_store::EventStore;
use bomizzel_store::testing::TempSqlite;
use serde_json::json;
use uuid::Uuid;

fn agent() -> Caller {
    Caller {
        user_id: "agent-1".into(),
        role: Role::Agent,
        company_id: None,
        team_ids: vec!["team-1".into()],
    }
}

fn context(key: Option<&str>, if_match: Option<u64>) -> CommandContext {
    CommandContext {
        idempotency_key: key.map(str::to_owned),
        if_match,
        route: "POST /api/tickets/{id}/priority".into(),
        ..CommandContext::default()
    }
}

fn allowed(_: &Ticket) -> ApiResult<()> {
    Ok(())
}

async fn run(
    tickets: &Tickets,
    id: Uuid,
    context: &CommandContext,
    priority: Priority,
) -> ApiResult<commands::Executed> {
    let body = json!({ "priority": priority });
    let idempotency = Idempotency::of(tickets.store(), &agent(), context, &body).await?;
    let command = |_: &Ticket| Ok(TicketCommand::ChangePriority { priority });
    commands::execute(
        tickets,
        id,
        &agent(),
        context,
        idempotency,
        allowed,
        command,
    )
    .await
}

/// A store with one ticket at version 1 (priority medium), created through
/// the returned node's tickets (so that node has it cached).
async fn store_with_ticket() -> (TempSqlite, Tickets, Uuid) {
    let database = TempSqlite::new();
    let store = EventStore::open(&database.url)
        .await
        .expect("the store opens");
    let id = Uuid::now_v7();
    let create = TicketCommand::Create {
        id,
        number: 1,
        title: "Printer on fire".into(),
        description: String::new(),
        company_id: "acme".into(),
        requester_id: "cust-1".into(),
        queue_id: "queue-1".into(),
        team_id: "team-1".into(),
        priority: Priority::Medium,
        tags: vec![],
    };
    let context = CommandContext {
        route: "POST /api/tickets".into(),
        ..CommandContext::default()
    };
    let idempotency = Idempotency::of(&store, &agent(), &context, &json!({}))
        .await
        .unwrap();
    let tickets = Tickets::new(store);
    commands::execute(
        &tickets,
        id,
        &agent(),
        &context,
        idempotency,
        allowed,
        |_| Ok(create.clone()),
    )
    .await
    .expect("the ticket is created");
    (database, tickets, id)
}

async fn version(tickets: &Tickets, id: Uuid) -> u64 {
    commands::load(tickets.store(), id, None)
        .await
        .unwrap()
        .version()
}

#[tokio::test]
async fn concurrent_commands_are_retried_unless_if_match_pinned_a_version() {
    let (_database, tickets, id) = store_with_ticket().await;
    let unpinned = context(None, None);
    let (first, second) = tokio::join!(
        run(&tickets, id, &unpinned, Priority::High),
        run(&tickets, id, &unpinned, Priority::Low),
    );
    assert!(
        first.is_ok() && second.is_ok(),
        "both are applied, one after the other"
    );
    assert_eq!(version(&tickets, id).await, 3);

    let pinned = context(None, Some(3));
    let (first, second) = tokio::join!(
        run(&tickets, id, &pinned, Priority::Urgent),
        run(&tickets, id, &pinned, Priority::Medium),
    );
    let refused: Vec<ApiError> = [first, second]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "exactly one of two pinned to version 3 wins"
    );
    assert_eq!(
        (refused[0].status.as_u16(), refused[0].code),
        (409, "version_conflict")
    );
    assert_eq!(version(&tickets, id).await, 4);
}

#[tokio::test]
async fn a_command_that_changes_nothing_appends_nothing() {
    let (_database, tickets, id) = store_with_ticket().await;
    let unchanged = run(&tickets, id, &context(None, None), Priority::Medium)
        .await
        .unwrap();
    assert_eq!(unchanged.position, None);
    assert_eq!(version(&tickets, id).await, 1);
}

#[tokio::test]
async fn an_idempotency_key_answers_its_own_request_once() {
    let (_database, tickets, id) = store_with_ticket().await;
    let keyed = context(Some("k-1"), None);
    let first = run(&tickets, id, &keyed, Priority::High).await.unwrap();
    let retried = run(&tickets, id, &keyed, Priority::High).await.unwrap();
    assert_eq!(retried.position, first.position, "the first answer again");
    assert_eq!(version(&tickets, id).await, 2, "appended once");

    let other_body = run(&tickets, id, &keyed, Priority::Low).await.unwrap_err();
    assert_eq!(
        (other_body.status.as_u16(), other_body.code),
        (422, "idempotency_key_reused")
    );
    let other_route = CommandContext {
        route: "POST /api/tickets/{id}/status".into(),
        ..keyed.clone()
    };
    let reused = run(&tickets, id, &other_route, Priority::High)
        .await
        .unwrap_err();
    assert_eq!(reused.code, "idempotency_key_reused");
    assert_eq!(version(&tickets, id).await, 2, "nothing more appended");
}

#[tokio::test]
async fn a_retry_is_authorized_against_the_ticket_as_it_is_now() {
    let (_database, tickets, id) = store_with_ticket().await;
    let keyed = context(Some("k-2"), None);
    run(&tickets, id, &keyed, Priority::High).await.unwrap();
    let body = json!({ "priority": Priority::High });
    let idempotency = Idempotency::of(tickets.store(), &agent(), &keyed, &body)
        .await
        .unwrap();
    let refuse = |_: &Ticket| Err(ApiError::not_found("no such ticket"));
    let retried = commands::execute(&tickets, id, &agent(), &keyed, idempotency, refuse, |_| {
        Ok(TicketCommand::ChangePriority {
            priority: Priority::High,
        })
    })
    .await
    .unwrap_err();
    assert_eq!(retried.status.as_u16(), 404);
}

#[tokio::test]
async fn a_ticket_changed_on_another_node_is_decided_as_it_is_now() {
    let (_database, here, id) = store_with_ticket().await;
    let elsewhere = Tickets::new(here.store().clone());
    let unpinned = context(None, None);
    run(&elsewhere, id, &unpinned, Priority::High)
        .await
        .unwrap();

    // Here the ticket is still cached at medium: setting medium changes it.
    let set_back = run(&here, id, &unpinned, Priority::Medium).await.unwrap();
    assert!(set_back.position.is_some(), "high was set back to medium");
    assert_eq!(set_back.ticket.priority(), Priority::Medium);
    assert_eq!(version(&here, id).await, 3);

    // Elsewhere it is cached at high: setting high again changes it too.
    let raised = run(&elsewhere, id, &unpinned, Priority::High)
        .await
        .unwrap();
    assert!(raised.position.is_some(), "medium was raised to high");
    assert_eq!(version(&here, id).await, 4);

    // Pinned to the version it is at, though cached behind it.
    let pinned = run(&here, id, &context(None, Some(4)), Priority::Low).await;
    assert_eq!(pinned.unwrap().ticket.version(), 5);
}
