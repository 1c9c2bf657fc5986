//! The search SQL of each backend: which tickets match a search
//! ([`matching_sql`]), the ranked candidates a list in relevance order
//! pages through ([`ranked_sql`]), and the best snippet of each ticket of a
//! page ([`snippets`]).
//!
//! Relevance must not cost a pass over every match: FTS5's BM25 first
//! counts every text holding each word (hundreds of thousands for common
//! words at a million tickets) and `ts_rank` reads each ranked row's
//! `tsvector`. So relevance is read from each text alone: a text whose
//! title holds a searched word ranks above every other, then newer texts
//! above older ones ([`rank_key_sql`]), the same on both backends; a
//! ticket ranks by its best text. And it ranks only the newest
//! [`RANKED_CANDIDATES`] matching texts of tickets that pass the list's
//! filters and visibility, found newest first through the index and
//! stopping there: a search matching fewer texts is ranked whole; one
//! matching more answers the best of its newest matches (narrow it, or
//! sort by another key, to reach older ones). Counts and the other orders
//! use every match.
//!
//! A search is its words (letters and digits; everything else separates
//! them), all of which must match, stemmed: `"printer" "fire"` for FTS5,
//! `plainto_tsquery('english', 'printer fire')` on PostgreSQL. The rank is
//! an integer key so that a page cursor can hold it. Customers' searches
//! leave internal comments out of both.

use std::collections::HashMap;

use bomizzel_store::Database;

use crate::db::ReadModelTx;
use crate::sql::{Args, Placeholder, fetch, fetch_in_tx};
use super::scope;
use crate::tickets::{Search, TicketFilter};

/// Most words a search uses; more are ignored.
const MAX_WORDS: usize = 16;
/// Most matching texts a list in relevance order ranks (see the module's
/// doc).
pub const RANKED_CANDIDATES: i64 = 500;
/// Around matches in a snippet, replaced by `<mark>`/`</mark>` once the
/// text is escaped: characters no ticket text is expected to hold.
const MATCH_START: &str = "\u{E000}";
const MATCH_END: &str = "\u{E001}";

/// The column of `ticket_search` holding a document's position.
pub(crate) fn key_column(tx: &ReadModelTx<'_>) -> &'static str {
    match tx {
        ReadModelTx::Sqlite(..) => "rowid",
        ReadModelTx::Postgres(_) => "position",
    }
}

/// [`key_column`] of `database`.
fn key_of(database: &Database) -> &'static str {
    match database {
        Database::Sqlite(_) => "rowid",
        Database::Postgres(_) => "position",
    }
}

/// The words of `text` a search looks for; empty when it has none.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_WORDS)
        .map(str::to_lowercase)
        .collect()
}

/// A search's match, its values added to the query's arguments.
pub(crate) struct Match {
    /// The words (with FTS5, the scope words too).
    text: Placeholder,
    /// PostgreSQL: the scope words, a `tsquery`.
    scope: Option<Placeholder>,
}

/// The match of `search` by the texts `filter` may list (see
/// [`scope::required`]), added to `args`.
pub(crate) fn push_match(
    database: &Database,
    search: &Search,
    filter: &TicketFilter,
    args: &mut Args<'_>,
) -> Match {
    push_scoped(database, search, &scope::required(filter), args)
}

/// The match of `search` by texts holding a word of each of `scope`'s
/// groups, added to `args`.
fn push_scoped(
    database: &Database,
    search: &Search,
    scope: &[Vec<String>],
    args: &mut Args<'_>,
) -> Match {
    let words = words(&search.text);
    match database {
        Database::Sqlite(_) => {
            let quoted = |words: &[String], separator: &str| {
                let quoted: Vec<String> = words.iter().map(|word| format!("\"{word}\"")).collect();
                quoted.join(separator)
            };
            let mut text = format!("{{title body}} : ({})", quoted(&words, " "));
            for group in scope {
                text.push_str(&format!(" AND scope : ({})", quoted(group, " OR ")));
            }
            Match {
                text: args.push(text),
                scope: None,
            }
        }
        Database::Postgres(_) => {
            let text = args.push(words.join(" "));
            let groups: Vec<String> = scope
                .iter()
                .map(|group| format!("({})", group.join(" | ")))
                .collect();
            let scope = (!groups.is_empty()).then(|| args.push(groups.join(" & ")));
            Match { text, scope }
        }
    }
}

/// The condition on `ticket_search`: the text is `matched`.
fn match_condition(database: &Database, matched: &Match) -> String {
    let text = matched.text;
    match database {
        Database::Sqlite(_) => format!("ticket_search MATCH {text}"),
        // Two conditions, not one `&&` query: a search of stop words only
        // must match nothing, not every text of the scope.
        Database::Postgres(_) => {
            let scope = matched
                .scope
                .map(|scope| format!(" AND ticket_search.document @@ CAST({scope} AS tsquery)"))
                .unwrap_or_default();
            format!("ticket_search.document @@ plainto_tsquery('english', {text}){scope}")
        }
    }
}

/// The keys of the texts of `ticket`.
pub(crate) async fn texts_of_ticket(
    tx: &mut ReadModelTx<'_>,
    ticket: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut args = Args::for_tx(tx);
    let sql = match tx {
        ReadModelTx::Sqlite(..) => {
            let own = scope::word(scope::Kind::Ticket, ticket);
            format!(
                "SELECT rowid FROM ticket_search WHERE ticket_search MATCH {}",
                args.push(format!("scope : \"{own}\""))
            )
        }
        ReadModelTx::Postgres(_) => format!(
            "SELECT position FROM ticket_search WHERE ticket_id = {}",
            args.push(ticket)
        ),
    };
    let keys: Vec<(i64,)> = fetch_in_tx(tx, &sql, &args).await?;
    Ok(keys.into_iter().map(|(key,)| key).collect())
}

/// ` AND ...` leaving out internal comments unless `search` may match them.
fn internal_condition(database: &Database, search: &Search) -> &'static str {
    match (search.internal_comments, database) {
        (true, _) => "",
        (false, Database::Sqlite(_)) => " AND ticket_search.internal = 0",
        (false, Database::Postgres(_)) => " AND NOT ticket_search.internal",
    }
}

/// A condition on `tickets`: the ticket matches `search` (any of its
/// texts `filter` may list).
pub(crate) fn matching_sql(
    database: &Database,
    search: &Search,
    filter: &TicketFilter,
    args: &mut Args<'_>,
) -> String {
    let matched = push_match(database, search, filter, args);
    let condition = match_condition(database, &matched);
    let internal = internal_condition(database, search);
    format!("tickets.id IN (SELECT ticket_id FROM ticket_search WHERE {condition}{internal})")
}

/// Added to a text's position in its rank key when its title holds a
/// searched word: such texts rank above every other.
const TITLE_FIRST: i64 = 1 << 48;

/// Whether the current `ticket_search` row's title holds a searched word,
/// read from the row alone (FTS5's `highlight` of the title column, a
/// `tsvector` of the title), never from counts over the whole index. On
/// PostgreSQL its any-word query is added to `args`; SQLite's takes none,
/// so it may stand before earlier values.
fn title_hit_sql(database: &Database, search: &Search, args: &mut Args<'_>) -> String {
    match database {
        Database::Sqlite(_) => {
            format!(
                "(instr(highlight(ticket_search, 0, '{MATCH_START}', ''), '{MATCH_START}') > 0)"
            )
        }
        Database::Postgres(_) => {
            let any = args.push(words(&search.text).join(" | "));
            format!(
                "(to_tsvector('english', ticket_search.title) @@ to_tsquery('english', {any}))"
            )
        }
    }
}

/// A text's rank key (higher is better): texts whose title holds a
/// searched word first, then the newest.
fn rank_key_sql(database: &Database, search: &Search, args: &mut Args<'_>) -> String {
    let title_hit = title_hit_sql(database, search, args);
    let key = key_of(database);
    format!("(ticket_search.{key} + CASE WHEN {title_hit} THEN {TITLE_FIRST} ELSE 0 END)")
}

/// The `FROM` of a list in relevance order: the tickets of the newest
/// [`RANKED_CANDIDATES`] texts `matched` (from [`push_match`]) whose
/// tickets meet `conditions` (SQL over `tickets`, their values pushed
/// after the match), joined as `hits` with `hit_ticket`, `rank_key` (the best
/// of its texts', see [`rank_key_sql`]) and `hit_doc` (that text's key,
/// for its snippet).
pub(crate) fn ranked_sql(
    database: &Database,
    search: &Search,
    matched: &Match,
    conditions: &[String],
    args: &mut Args<'_>,
) -> String {
    let condition = match_condition(database, matched);
    let internal = internal_condition(database, search);
    let filters: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    let limit = args.push(RANKED_CANDIDATES);
    let rank_key = rank_key_sql(database, search, args);
    match database {
        // CROSS JOIN keeps the texts the outer loop: walked newest first,
        // each looked up in `tickets`, until the limit. The rank key of a
        // row is computed only for the rows the limit keeps.
        Database::Sqlite(_) => format!(
            "(SELECT hit_ticket, MAX(rank_key) AS rank_key, hit_doc FROM \
             (SELECT ticket_search.ticket_id AS hit_ticket, ticket_search.rowid AS hit_doc, \
             {rank_key} AS rank_key \
             FROM ticket_search CROSS JOIN tickets ON tickets.id = ticket_search.ticket_id \
             WHERE {condition}{internal}{filters} \
             ORDER BY ticket_search.rowid DESC LIMIT {limit}) GROUP BY hit_ticket) hits \
             CROSS JOIN tickets ON tickets.id = hits.hit_ticket"
        ),
        // The candidates carry their keys only; their titles are read
        // (and checked) once the limit has kept them.
        Database::Postgres(_) => format!(
            "(SELECT ticket_search.ticket_id AS hit_ticket, MAX({rank_key}) AS rank_key, \
             (array_agg(ticket_search.position ORDER BY {rank_key} DESC))[1] AS hit_doc \
             FROM (SELECT ticket_search.position \
             FROM ticket_search JOIN tickets ON tickets.id = ticket_search.ticket_id \
             WHERE {condition}{internal}{filters} \
             ORDER BY ticket_search.position DESC LIMIT {limit}) candidates \
             JOIN ticket_search ON ticket_search.position = candidates.position \
             GROUP BY ticket_search.ticket_id) hits \
             JOIN tickets ON tickets.id = hits.hit_ticket"
        ),
    }
}

/// Which texts [`snippets`] reads.
pub(crate) enum Texts<'a> {
    /// Every matching text of these tickets.
    OfTickets(&'a [String]),
    /// These texts (their keys), the best of each ticket.
    Keyed(&'a [i64]),
}

/// For each ticket of `texts` that matches `search`, its best matching
/// text with the matches in `<mark>…</mark>`, HTML-escaped otherwise.
pub(crate) async fn snippets(
    database: &Database,
    search: &Search,
    texts: Texts<'_>,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let mut args = Args::for_database(database);
    let start = args.push(MATCH_START);
    let end = args.push(MATCH_END);
    let text = push_scoped(database, search, &[], &mut args).text;
    let chosen = match texts {
        Texts::OfTickets([]) | Texts::Keyed([]) => return Ok(HashMap::new()),
        Texts::OfTickets(tickets) => format!(
            "ticket_search.ticket_id IN ({})",
            args.push_all(tickets.iter().map(String::as_str))
        ),
        Texts::Keyed(keys) => format!(
            "ticket_search.{} IN ({})",
            key_of(database),
            args.push_all(keys.iter().copied())
        ),
    };
    let internal = internal_condition(database, search);
    // Several texts of a ticket: the best first.
    let best_first = match texts {
        Texts::OfTickets(_) => format!(" ORDER BY {} DESC", rank_key_sql(database, search, &mut args)),
        Texts::Keyed(_) => String::new(),
    };
    let sql = match database {
        Database::Sqlite(_) => format!(
            "SELECT ticket_id, snippet(ticket_search, -1, {start}, {end}, '…', 16) \
             FROM ticket_search WHERE ticket_search MATCH {text} AND {chosen}{internal}{best_first}"
        ),
        Database::Postgres(_) => format!(
            "SELECT ticket_id, ts_headline('english', title || ' ' || body, matched, \
             'StartSel=' || {start} || ', StopSel=' || {end} || ', MaxWords=24, MinWords=8, MaxFragments=1') \
             FROM ticket_search, plainto_tsquery('english', {text}) AS matched \
             WHERE document @@ matched AND {chosen}{internal}{best_first}"
        ),
    };
    let rows: Vec<(String, String)> = fetch(database, &sql, &args).await?;
    let mut best = HashMap::new();
    for (ticket, snippet) in rows {
        best.entry(ticket).or_insert_with(|| marked(&snippet));
    }
    Ok(best)
}

/// `snippet` HTML-escaped, its match markers turned into `<mark>` tags.
fn marked(snippet: &str) -> String {
    let mut html = String::with_capacity(snippet.len() + 16);
    for character in snippet.chars() {
        match character {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            _ => html.push(character),
        }
    }
    html.replace(MATCH_START, "<mark>")
        .replace(MATCH_END, "</mark>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_letters_and_digits_lowercased() {
        assert_eq!(
            words("Printer \"ON\" fire!! 3rd-floor; DROP TABLE"),
            ["printer", "on", "fire", "3rd", "floor", "drop", "table"]
        );
        assert!(words(" \" * - ").is_empty());
        assert_eq!(words(&"a ".repeat(40)).len(), MAX_WORDS);
    }

    #[test]
    fn snippets_are_escaped_and_marked() {
        assert_eq!(
            marked("<b>\u{E000}printer\u{E001}</b> & 'co'"),
            "&lt;b&gt;<mark>printer</mark>&lt;/b&gt; &amp; &#39;co&#39;"
        );
    }
}
