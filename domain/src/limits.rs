//! The input limits, on their own so that the rules that enforce them
//! (`validate`) and the errors that quote them (`error`) both depend on
//! this module rather than on each other.

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 20_000;
pub const MAX_TAGS: usize = 20;
pub const TAG_MAX_CHARS: usize = 50;
pub const COMMENT_BODY_MAX_CHARS: usize = 10_000;
pub const ID_MAX_CHARS: usize = 64;
