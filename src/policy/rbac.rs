//! The RBAC matrix (SPEC §4), as one table.

use crate::model::Role;

/// Something a member may or may not do in their team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// View agents, metrics and the team's own audit log.
    View,
    /// Run commands, shells and tunnels (subject to the ACL policy).
    Operate,
    /// Approve or deny others' high-risk commands.
    Approve,
    /// Registration tokens, agent deactivation, policies, webhooks.
    ManageFleet,
    /// Members, roles and API tokens with admin scope (admins: not owners).
    ManageMembers,
    /// Delete the team, transfer ownership.
    OwnTeam,
    /// See the appliance's security self-check results and run it.
    SecurityChecks,
}

/// Which roles may take each action. The single source of truth; `allows` reads it.
pub const MATRIX: &[(Action, &[Role])] = &[
    (
        Action::View,
        &[Role::Owner, Role::Admin, Role::Operator, Role::Viewer],
    ),
    (Action::Operate, &[Role::Owner, Role::Admin, Role::Operator]),
    (Action::Approve, &[Role::Owner, Role::Admin]),
    (Action::ManageFleet, &[Role::Owner, Role::Admin]),
    (Action::ManageMembers, &[Role::Owner, Role::Admin]),
    (Action::OwnTeam, &[Role::Owner]),
    (Action::SecurityChecks, &[Role::Owner, Role::Admin]),
];

/// Whether `role` may take `action`.
pub fn allows(role: Role, action: Action) -> bool {
    MATRIX
        .iter()
        .any(|(a, roles)| *a == action && roles.contains(&role))
}

/// Whether a member with role `actor` may change someone's role from `from` (None: not yet a
/// member) to `to` (None: removed). Owners manage anyone; admins manage only non-owners and
/// cannot create owners.
pub fn can_assign(actor: Role, from: Option<Role>, to: Option<Role>) -> bool {
    if !allows(actor, Action::ManageMembers) {
        return false;
    }
    if actor == Role::Owner {
        return true;
    }
    from != Some(Role::Owner) && to != Some(Role::Owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_matches_the_spec_table() {
        use Role::*;
        let rows: [(Action, [bool; 4]); 7] = [
            (Action::View, [true, true, true, true]),
            (Action::Operate, [true, true, true, false]),
            (Action::Approve, [true, true, false, false]),
            (Action::ManageFleet, [true, true, false, false]),
            (Action::ManageMembers, [true, true, false, false]),
            (Action::OwnTeam, [true, false, false, false]),
            (Action::SecurityChecks, [true, true, false, false]),
        ];
        for (action, expected) in rows {
            for (role, want) in [Owner, Admin, Operator, Viewer].into_iter().zip(expected) {
                assert_eq!(allows(role, action), want, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn admins_cannot_touch_owners() {
        use Role::*;
        assert!(can_assign(Owner, Some(Owner), Some(Admin)));
        assert!(can_assign(Admin, None, Some(Operator)));
        assert!(can_assign(Admin, Some(Viewer), Some(Admin)));
        assert!(!can_assign(Admin, None, Some(Owner)));
        assert!(!can_assign(Admin, Some(Owner), None));
        assert!(!can_assign(Operator, None, Some(Viewer)));
    }
}
