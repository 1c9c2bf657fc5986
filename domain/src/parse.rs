//! Parsing the names of closed sets of values (statuses, priorities), with
//! an error that lists every valid name.

use thiserror::Error;

/// A string that is not the name of any [`crate::Status`] or [`crate::Priority`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind} {got:?}: expected one of {expected}")]
pub struct ParseValueError {
    kind: &'static str,
    got: String,
    expected: String,
}

/// Finds the value among `all` whose `name` is `input`; the error lists every valid name.
pub(crate) fn parse_named<T: Copy>(
    kind: &'static str,
    input: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, ParseValueError> {
    all.iter()
        .copied()
        .find(|&value| name(value) == input)
        .ok_or_else(|| ParseValueError {
            kind,
            got: input.to_owned(),
            expected: all
                .iter()
                .map(|&value| name(value))
                .collect::<Vec<_>>()
                .join(", "),
        })
}
