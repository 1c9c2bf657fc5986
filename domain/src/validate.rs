//! Input rules for ticket text, tags and directory ids, as small functions the aggregate runs
//! before deciding on an event (the numbers are in [`crate::limits`]). Public so the API layer
//! can normalize tag filters and check directory names the same way.
//!
//! Decisions:
//! - Lengths count Unicode scalar values (`char`s), not bytes, so a limit means the same for
//!   "é" as for "e".
//! - Text (title, description, comment body) is stored exactly as given. Only a title or comment
//!   body made entirely of whitespace is refused, because it would display as empty. The
//!   description may be empty.
//! - Tags are labels for filtering, so they are normalized: trimmed and lowercased ("Billing "
//!   and "billing" are the same tag). Duplicates are dropped, keeping the position of the first
//!   occurrence; the tag limit counts the distinct tags that remain.
//! - Directory ids are opaque: 1-64 characters, nothing else (the API layer resolves them).
//! - No control characters (U+0000-U+001F) anywhere: they corrupt logs, terminals and CSV
//!   exports downstream and no one types them. Multi-line text (description, comment body)
//!   keeps line breaks and tabs; titles, tags, ids and directory names are single lines.

use crate::error::DomainError;
use crate::limits::{
    COMMENT_BODY_MAX_CHARS, DESCRIPTION_MAX_CHARS, ID_MAX_CHARS, MAX_TAGS, TAG_MAX_CHARS,
    TITLE_MAX_CHARS,
};

/// A title is 1-200 characters on one line and not only whitespace.
pub fn title(title: &str) -> Result<(), DomainError> {
    char_count_within(title, 1, TITLE_MAX_CHARS).map_err(|got| DomainError::TitleLength { got })?;
    if is_blank(title) {
        return Err(DomainError::TitleBlank);
    }
    single_line("title", title)
}

/// A description is at most 20000 characters; empty is fine.
pub fn description(description: &str) -> Result<(), DomainError> {
    char_count_within(description, 0, DESCRIPTION_MAX_CHARS)
        .map_err(|got| DomainError::DescriptionTooLong { got })?;
    multi_line("description", description)
}

/// A comment body is 1-10000 characters and not only whitespace.
pub fn comment_body(body: &str) -> Result<(), DomainError> {
    char_count_within(body, 1, COMMENT_BODY_MAX_CHARS)
        .map_err(|got| DomainError::CommentBodyLength { got })?;
    if is_blank(body) {
        return Err(DomainError::CommentBodyBlank);
    }
    multi_line("body", body)
}

/// A directory id (`field` names it in the error) is 1-64 characters.
pub fn id(field: &'static str, id: &str) -> Result<(), DomainError> {
    char_count_within(id, 1, ID_MAX_CHARS).map_err(|got| DomainError::IdLength { field, got })?;
    single_line(field, id)
}

/// Text shown on one line (`field` names it in the error): no control characters.
pub fn single_line(field: &'static str, text: &str) -> Result<(), DomainError> {
    no_control_characters(field, text, false)
}

/// Text that may span lines: no control characters but `\n`, `\r` and `\t`.
pub fn multi_line(field: &'static str, text: &str) -> Result<(), DomainError> {
    no_control_characters(field, text, true)
}

fn no_control_characters(
    field: &'static str,
    text: &str,
    multi_line: bool,
) -> Result<(), DomainError> {
    let allowed = |c: char| multi_line && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c <= '\u{1f}' && !allowed(c)) {
        return Err(DomainError::ControlCharacter { field, multi_line });
    }
    Ok(())
}

/// Normalizes tags (trim, lowercase, drop duplicates keeping first positions) and checks that
/// each is 1-50 characters and that at most 20 distinct tags remain.
pub fn tags(tags: &[String]) -> Result<Vec<String>, DomainError> {
    let mut normalized: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        single_line("tags", tag)?;
        let tag = tag.trim().to_lowercase();
        char_count_within(&tag, 1, TAG_MAX_CHARS).map_err(|got| DomainError::TagLength { got })?;
        if !normalized.contains(&tag) {
            normalized.push(tag);
        }
    }
    if normalized.len() > MAX_TAGS {
        return Err(DomainError::TooManyTags {
            got: normalized.len(),
        });
    }
    Ok(normalized)
}

/// `Ok` when `text` has between `min` and `max` characters; otherwise the count, for the message.
fn char_count_within(text: &str, min: usize, max: usize) -> Result<(), usize> {
    let count = text.chars().count();
    if (min..=max).contains(&count) {
        Ok(())
    } else {
        Err(count)
    }
}

fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn title_accepts_1_to_200_characters_kept_as_given() {
        assert_eq!(title("a"), Ok(()));
        assert_eq!(title(&"t".repeat(200)), Ok(()));
        assert_eq!(title("  padded  "), Ok(()));
        // 200 two-byte characters: the limit counts characters, not bytes.
        assert_eq!(title(&"é".repeat(200)), Ok(()));
    }

    #[test]
    fn title_refuses_empty_too_long_and_blank() {
        assert_eq!(title(""), Err(DomainError::TitleLength { got: 0 }));
        assert_eq!(
            title(&"t".repeat(201)).unwrap_err().to_string(),
            "title must be 1-200 characters (got 201)"
        );
        assert_eq!(title(" \t\n"), Err(DomainError::TitleBlank));
    }

    #[test]
    fn description_may_be_empty_up_to_20000_characters() {
        assert_eq!(description(""), Ok(()));
        assert_eq!(description(&"d".repeat(20_000)), Ok(()));
        assert_eq!(
            description(&"d".repeat(20_001)).unwrap_err().to_string(),
            "description must be at most 20000 characters (got 20001)"
        );
    }

    #[test]
    fn comment_body_is_1_to_10000_characters_and_not_blank() {
        assert_eq!(comment_body("ok"), Ok(()));
        assert_eq!(comment_body(&"b".repeat(10_000)), Ok(()));
        assert_eq!(
            comment_body("").unwrap_err().to_string(),
            "comment body must be 1-10000 characters (got 0)"
        );
        assert_eq!(
            comment_body(&"b".repeat(10_001)),
            Err(DomainError::CommentBodyLength { got: 10_001 })
        );
        assert_eq!(
            comment_body("   ").unwrap_err().to_string(),
            "comment body must not be blank"
        );
    }

    #[test]
    fn ids_are_1_to_64_characters() {
        assert_eq!(id("queue_id", "q"), Ok(()));
        assert_eq!(id("queue_id", &"q".repeat(64)), Ok(()));
        assert_eq!(
            id("queue_id", ""),
            Err(DomainError::IdLength {
                field: "queue_id",
                got: 0
            })
        );
        assert_eq!(
            id("team_id", &"t".repeat(65)).unwrap_err().to_string(),
            "team_id must be 1-64 characters (got 65)"
        );
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_in_multi_line_text() {
        fn control<T>(field: &'static str, multi_line: bool) -> Result<T, DomainError> {
            Err(DomainError::ControlCharacter { field, multi_line })
        }
        assert_eq!(title("a\u{0}b"), control("title", false));
        assert_eq!(title("two\nlines"), control("title", false));
        assert_eq!(id("queue_id", "q\u{1b}"), control("queue_id", false));
        assert_eq!(tags(&strings(&["ok", "bell\u{7}"])), control("tags", false));
        assert_eq!(description("a\u{1f}"), control("description", true));
        assert_eq!(comment_body("a\u{0}"), control("body", true));
        assert_eq!(description("line\r\nnext\tcolumn"), Ok(()));
        assert_eq!(comment_body("line\nnext"), Ok(()));
        assert_eq!(
            single_line("name", "\u{8}").unwrap_err().to_string(),
            "name must not contain control characters"
        );
    }

    #[test]
    fn tags_are_trimmed_lowercased_and_deduplicated_in_first_seen_order() {
        assert_eq!(
            tags(&strings(&[" Billing", "vip", "billing ", "VIP", "refund"])),
            Ok(strings(&["billing", "vip", "refund"]))
        );
        assert_eq!(tags(&[]), Ok(vec![]));
    }

    #[test]
    fn tag_length_is_checked_after_normalization() {
        assert_eq!(tags(&["t".repeat(50)]), Ok(vec!["t".repeat(50)]));
        assert_eq!(
            tags(&[format!("  {}  ", "t".repeat(50))]),
            Ok(vec!["t".repeat(50)])
        );
        assert_eq!(
            tags(&["t".repeat(51)]).unwrap_err().to_string(),
            "tag must be 1-50 characters (got 51)"
        );
        assert_eq!(
            tags(&strings(&["ok", "  "])),
            Err(DomainError::TagLength { got: 0 })
        );
    }

    #[test]
    fn at_most_20_distinct_tags() {
        let twenty: Vec<String> = (0..20).map(|n| format!("tag{n}")).collect();
        assert_eq!(tags(&twenty), Ok(twenty.clone()));

        let mut with_duplicates = twenty.clone();
        with_duplicates.extend(twenty.iter().map(|tag| tag.to_uppercase()));
        assert_eq!(tags(&with_duplicates), Ok(twenty.clone()));

        let mut twenty_one = twenty;
        twenty_one.push("one-more".to_string());
        assert_eq!(
            tags(&twenty_one).unwrap_err().to_string(),
            "at most 20 tags allowed (got 21)"
        );
    }
}
