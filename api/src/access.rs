//! Who may change which ticket, and the HTTP face of who may see it. The
//! full matrix is in docs/permissions.md. What a caller may see is the
//! visibility policy's (`bomizzel_domain::visibility`), shared with the
//! room feed, the gateway and notifications; what they may do is here and
//! nowhere else.
//!
//! Not visible is 404 (a customer must not learn that another company's
//! ticket exists); visible but not allowed is 403.

use bomizzel_domain::{Priority, Status, Ticket};
use bomizzel_identity::{Caller, Role};

use crate::error::{ApiError, ApiResult};

/// What a caller wants to do to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Assign, change priority, edit, move.
    Manage,
    /// Change the status to this value.
    SetStatus(Status),
    /// Comment, publicly or internally.
    Comment { internal: bool },
}

/// 404 unless `caller` may see the (existing) ticket.
/// The answer is the same for a missing ticket and a hidden one, to the
/// byte: a caller must not learn that a ticket they may not see exists.
pub fn require_visible(caller: &Caller, ticket: &Ticket) -> ApiResult<()> {
    if caller.viewer().may_see_ticket(ticket) {
        Ok(())
    } else {
        Err(ApiError::not_found("no such ticket"))
    }
}

/// 404 unless visible, 403 unless `caller` may do `action`.
pub fn require_allowed(caller: &Caller, ticket: &Ticket, action: Action) -> ApiResult<()> {
    require_visible(caller, ticket)?;
    let allowed = match caller.role {
        Role::Admin | Role::Agent => true,
        Role::Analyst | Role::Auditor => false,
        Role::Customer => match action {
            Action::Manage => false,
            Action::Comment { internal } => !internal,
            Action::SetStatus(status) => {
                ticket.requester_id() == caller.user_id
                    && matches!(status, Status::Closed | Status::Open)
            }
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(denial(caller.role, action)))
    }
}

fn denial(role: Role, action: Action) -> String {
    match (role, action) {
        (Role::Analyst, _) => "analysts read everything and change nothing".into(),
        (Role::Auditor, _) => "auditors read everything and change nothing".into(),
        (_, Action::Comment { internal: true }) => {
            "customers cannot write internal comments".into()
        }
        (_, Action::SetStatus(_)) => {
            "customers may only close or reopen tickets they requested".into()
        }
        _ => format!("a {role} cannot do this"),
    }
}

/// Whether `caller` may open a ticket in a queue of `team_id` for `company_id`.
/// What a customer may not set on a ticket they open: tags (staff labels
/// they never see) and `urgent` priority (it jumps the SLA queue; customers
/// pick low, medium or high). 422 naming the field.
pub fn require_may_set_on_create(
    caller: &Caller,
    tags: &[String],
    priority: Option<Priority>,
) -> ApiResult<()> {
    if caller.role.is_staff() {
        return Ok(());
    }
    let refused = |field: &str, detail: &str| {
        Err(ApiError::unprocessable("validation_failed", detail).with_field(field))
    };
    if !tags.is_empty() {
        return refused("tags", "only staff may tag tickets");
    }
    if priority == Some(Priority::Urgent) {
        return refused(
            "priority",
            "customers may open tickets with priority low, medium or high; urgent is for staff",
        );
    }
    Ok(())
}

pub fn require_may_create(caller: &Caller, team_id: &str, company_id: &str) -> ApiResult<()> {
    let allowed = match caller.role {
        Role::Admin => true,
        Role::Agent => caller.team_ids.iter().any(|team| team == team_id),
        Role::Customer => caller.company_id.as_deref() == Some(company_id),
        Role::Analyst | Role::Auditor => false,
    };
    if allowed {
        Ok(())
    } else if matches!(caller.role, Role::Analyst | Role::Auditor) {
        Err(ApiError::forbidden(denial(caller.role, Action::Manage)))
    } else {
        Err(ApiError::forbidden(
            "tickets can only be opened in your teams' queues (agents) or for your company (customers)",
        ))
    }
}
