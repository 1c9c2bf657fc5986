//! The hash chains against someone with write access to the database: each
//! kind of tampering is found at its position, on both backends; older logs
//! get the same chain from every node; two nodes appending at once keep
//! one chain.

use std::collections::HashMap;

use bomizzel_store::audit::AuditEvent;
use bomizzel_store::audit::verify::{Anchor, Broken, Fault, Intact, verify};
use bomizzel_store::chain::{GENESIS, Hash, to_hex};
use bomizzel_store::testing::tamper::behind_dropped_triggers;
use bomizzel_store::{AppendRequest, Database, EventStore, ExpectedVersion, Metadata, NewEvent};
use serde_json::json;

bomizzel_store::each_backend!(
    an_intact_log_verifies_up_to_its_head,
    a_payload_rewritten_behind_a_dropped_trigger_is_found_at_its_position,
    a_deleted_event_is_found_at_its_position,
    swapped_events_are_found_at_the_first_of_them,
    a_rewritten_suffix_is_caught_by_the_anchor,
    linked_events_refuse_even_the_fill_in_update,
    older_logs_get_the_same_chain_from_every_node,
    two_nodes_appending_at_once_keep_one_chain,
    a_write_transaction_appends_into_the_same_chain,
);

async fn open(url: &str) -> EventStore {
    EventStore::open(url).await.expect("store opens")
}

fn request(stream: &str, n: u64) -> AppendRequest {
    AppendRequest {
        stream_id: stream.into(),
        expected_version: ExpectedVersion::Any,
        events: vec![NewEvent {
            event_type: "Counted".into(),
            schema_version: 1,
            payload: json!({ "n": n, "note": "é ✓ \"quoted\"" }),
        }],
        metadata: Metadata::new("u-1", "agent"),
    }
}

/// Ten events over three streams, appended one by one: position p is
/// stream `s{p % 3}`.
async fn ten_events(url: &str) -> EventStore {
    let store = open(url).await;
    for n in 1..=10 {
        store
            .append(request(&format!("s{}", n % 3), n))
            .await
            .unwrap();
    }
    store
}

async fn walk(store: &EventStore, from: i64, anchor: Option<Anchor>) -> Result<Intact, Broken> {
    verify(store, from, anchor, |_, _| {})
        .await
        .expect("the walk runs")
}

async fn broken(store: &EventStore) -> (i64, Fault) {
    let broken = walk(store, 1, None)
        .await
        .expect_err("the walk finds the tampering");
    (broken.position, broken.fault)
}

async fn an_intact_log_verifies_up_to_its_head(url: String) {
    let store = open(&url).await;
    let appends = (1..=200).map(|n| store.append(request(&format!("s{}", n % 7), n)));
    for appended in futures::future::join_all(appends).await {
        appended.unwrap();
    }
    let (head, head_hash) = store.chain_head().await.unwrap().unwrap();
    let intact = walk(&store, 1, None).await.unwrap();
    assert_eq!(
        (intact.checked, intact.head),
        (200, Some((head, head_hash.unwrap())))
    );

    let anchor = Anchor {
        position: 50,
        hash: store.hashes_at(&[50]).await.unwrap()[&50],
    };
    assert!(walk(&store, 1, Some(anchor)).await.is_ok());
    let from_the_middle = walk(&store, 120, None).await.unwrap();
    assert_eq!(from_the_middle.checked, 81);

    let wrong = Anchor {
        hash: [9; 32],
        ..anchor
    };
    let refused = walk(&store, 1, Some(wrong)).await.unwrap_err();
    assert_eq!((refused.position, refused.fault), (50, Fault::Changed));
    let beyond = Anchor {
        position: 201,
        ..anchor
    };
    let refused = walk(&store, 1, Some(beyond)).await.unwrap_err();
    assert_eq!((refused.position, refused.fault), (201, Fault::Missing));
}

async fn a_payload_rewritten_behind_a_dropped_trigger_is_found_at_its_position(url: String) {
    let store = ten_events(&url).await;
    behind_dropped_triggers(
        &store,
        &["UPDATE events SET payload = '{\"n\":60}' WHERE position = 6".into()],
    )
    .await;
    assert_eq!(broken(&store).await, (6, Fault::Changed));
}

async fn a_deleted_event_is_found_at_its_position(url: String) {
    let store = ten_events(&url).await;
    behind_dropped_triggers(&store, &["DELETE FROM events WHERE position = 4".into()]).await;
    assert_eq!(broken(&store).await, (4, Fault::Missing));
}

async fn swapped_events_are_found_at_the_first_of_them(url: String) {
    let store = ten_events(&url).await;
    // Positions 3 and 6 are versions 1 and 2 of stream s0.
    let swap = [
        "UPDATE events SET position = -3 WHERE position = 3",
        "UPDATE events SET position = 3 WHERE position = 6",
        "UPDATE events SET position = 6 WHERE position = -3",
    ];
    behind_dropped_triggers(&store, &swap.map(String::from)).await;
    assert_eq!(broken(&store).await, (3, Fault::Reordered));
}

/// Someone who rewrites an event and recomputes every link after it
/// passes the link checks; the head an auditor kept before does not match.
async fn a_rewritten_suffix_is_caught_by_the_anchor(url: String) {
    let store = ten_events(&url).await;
    let (head, Some(head_hash)) = store.chain_head().await.unwrap().unwrap() else {
        panic!("the head has a hash");
    };
    let mut events = store.audit_range(1, 10).await.unwrap();
    events[4].payload = r#"{"n":50}"#.into();
    let relinked = relink(&store, &mut events);
    behind_dropped_triggers(&store, &relinked).await;

    assert!(
        walk(&store, 1, None).await.is_ok(),
        "every link was recomputed"
    );
    let anchor = Anchor {
        position: head,
        hash: head_hash,
    };
    let refused = walk(&store, 1, Some(anchor)).await.unwrap_err();
    assert_eq!((refused.position, refused.fault), (10, Fault::Changed));
}

/// Recomputes both chains over `events` and gives the statements that
/// store them (payloads included).
fn relink(store: &EventStore, events: &mut [AuditEvent]) -> Vec<String> {
    let mut previous = GENESIS;
    let mut streams: HashMap<String, Hash> = HashMap::new();
    events
        .iter_mut()
        .map(|event| {
            let encoded = event.encoded();
            previous = encoded.link(&previous);
            let in_stream = streams.get(&event.stream_id).copied().unwrap_or(GENESIS);
            let stream_hash = encoded.link(&in_stream);
            streams.insert(event.stream_id.clone(), stream_hash);
            format!(
                "UPDATE events SET payload = '{}', hash = {}, stream_hash = {} WHERE position = {}",
                event.payload,
                blob(store, &previous),
                blob(store, &stream_hash),
                event.position
            )
        })
        .collect()
}

/// A hash as a bytes literal of `store`'s backend.
fn blob(store: &EventStore, hash: &Hash) -> String {
    match store.database() {
        Database::Sqlite(_) => format!("X'{}'", to_hex(hash)),
        Database::Postgres(_) => format!("'\\x{}'::bytea", to_hex(hash)),
    }
}

async fn linked_events_refuse_even_the_fill_in_update(url: String) {
    let store = ten_events(&url).await;
    for statement in [
        "UPDATE events SET hash = NULL, stream_hash = NULL WHERE position = 2",
        "UPDATE events SET stream_hash = hash WHERE position = 2",
    ] {
        let refused = execute(&store, statement).await;
        let message = refused.expect_err(statement).to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
}

async fn execute(store: &EventStore, statement: &str) -> Result<(), sqlx::Error> {
    match store.database() {
        Database::Sqlite(pool) => sqlx::query(statement).execute(pool).await.map(drop),
        Database::Postgres(pool) => sqlx::query(statement).execute(pool).await.map(drop),
    }
}

/// A log from before the chains: the links are gone (as if written then).
/// Two nodes open it at once; both migrate, and the chain they leave is
/// the one the writer had computed.
async fn older_logs_get_the_same_chain_from_every_node(url: String) {
    let written = ten_events(&url).await.audit_range(1, 10).await.unwrap();
    let store = open(&url).await;
    behind_dropped_triggers(
        &store,
        &["UPDATE events SET hash = NULL, stream_hash = NULL".into()],
    )
    .await;
    assert_eq!(broken(&store).await, (1, Fault::Changed));

    let (first, second) = tokio::join!(EventStore::open(&url), EventStore::open(&url));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.audit_range(1, 10).await.unwrap(), written);
    assert_eq!(second.audit_range(1, 10).await.unwrap(), written);
    first.append(request("s1", 11)).await.unwrap();
    assert_eq!(walk(&second, 1, None).await.unwrap().checked, 11);
}

async fn two_nodes_appending_at_once_keep_one_chain(url: String) {
    let nodes = [open(&url).await, open(&url).await];
    let appends = (0..400).map(|n| {
        let node = &nodes[n % 2];
        node.append(request(&format!("s{}", n % 5), n as u64))
    });
    for appended in futures::future::join_all(appends).await {
        appended.unwrap();
    }
    let seen: Vec<Vec<AuditEvent>> = vec![
        nodes[0].audit_range(1, 400).await.unwrap(),
        nodes[1].audit_range(1, 400).await.unwrap(),
    ];
    assert_eq!(seen[0], seen[1]);
    for node in &nodes {
        assert_eq!(walk(node, 1, None).await.unwrap().checked, 400);
    }
}

async fn a_write_transaction_appends_into_the_same_chain(url: String) {
    let store = ten_events(&url).await;
    let mut tx = store.begin_write().await.unwrap();
    let appended = tx.append(request("directory-x", 1)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(appended.first_position, 11);
    store.append(request("s0", 12)).await.unwrap();
    assert_eq!(walk(&store, 1, None).await.unwrap().checked, 12);
    assert_eq!(*store.wakeups().borrow(), 12);
}
