use super::scope::*;
use super::*;
use crate::model::{Role, TeamId, UserId};

fn req(role: Role) -> NewToken {
    NewToken {
        name: "ci".into(),
        role,
        expires: None,
        agents: vec![],
        tags: vec![],
    }
}

fn user(role: Role, reauthenticated: bool) -> Issuer<'static> {
    Issuer {
        role,
        parent: None,
        is_token: false,
        reauthenticated,
    }
}

fn parent(role: Role, expires: Option<i64>, agents: &[&str], tags: &[&str]) -> TokenRow {
    TokenRow {
        id: "tok_00000000000000000000000000000000".into(),
        name: "parent".into(),
        team: TeamId("team_a".into()),
        role,
        created_by: UserId("user_a".into()),
        created: 0,
        expires,
        last_used: None,
        agents: agents.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_role_is_never_above_the_issuers() {
    use Role::*;
    for issuer in Role::ALL {
        for wanted in Role::ALL {
            let got = check_issue(&user(issuer, true), &req(wanted));
            if wanted > issuer {
                assert_eq!(got, Err(Denied::RoleAboveIssuer), "{issuer} -> {wanted}");
            } else {
                assert_eq!(got, Ok(()), "{issuer} -> {wanted}");
            }
        }
    }
    assert_eq!(check_issue(&user(Viewer, false), &req(Viewer)), Ok(()));
    assert_eq!(check_issue(&user(Operator, false), &req(Viewer)), Ok(()));
}

#[test]
fn admin_scope_needs_a_fresh_reauth_but_lower_scopes_do_not() {
    use Role::*;
    assert_eq!(
        check_issue(&user(Admin, false), &req(Admin)),
        Err(Denied::ReauthRequired)
    );
    assert_eq!(
        check_issue(&user(Owner, false), &req(Owner)),
        Err(Denied::ReauthRequired)
    );
    assert_eq!(check_issue(&user(Admin, false), &req(Operator)), Ok(()));
    // Forbidden comes first: confirming a password never unlocks it.
    assert_eq!(
        check_issue(&user(Operator, false), &req(Admin)),
        Err(Denied::RoleAboveIssuer)
    );
}

#[test]
fn a_token_never_issues_admin_scope_or_a_wider_token() {
    use Role::*;
    let p = parent(Admin, Some(1_000), &[], &[]);
    let issuer = Issuer {
        role: Admin,
        parent: Some(&p),
        is_token: true,
        reauthenticated: false,
    };
    assert_eq!(
        check_issue(&issuer, &req(Admin)),
        Err(Denied::TokenCannotIssueAdmin)
    );
    let mut r = req(Operator);
    assert_eq!(check_issue(&issuer, &r), Err(Denied::ExpiresAfterParent));
    r.expires = Some(1_001);
    assert_eq!(check_issue(&issuer, &r), Err(Denied::ExpiresAfterParent));
    r.expires = Some(1_000);
    assert_eq!(check_issue(&issuer, &r), Ok(()));
}

#[test]
fn restrictions_only_narrow() {
    let unrestricted = (strings(&[]), strings(&[]));
    assert!(narrower(&[], &[], &strings(&["a"]), &[]));
    assert!(narrower(&[], &[], &unrestricted.0, &unrestricted.1));
    let pa = strings(&["a", "b"]);
    assert!(narrower(&pa, &[], &strings(&["a"]), &[]));
    assert!(!narrower(&pa, &[], &[], &[]), "dropping the restriction");
    assert!(!narrower(&pa, &[], &strings(&["c"]), &[]), "another agent");
    assert!(
        !narrower(&pa, &[], &strings(&["a"]), &strings(&["prod"])),
        "a tag where the parent had none"
    );
    let pt = strings(&["prod"]);
    assert!(narrower(&pa, &pt, &strings(&["b"]), &pt));
    assert!(!narrower(&pa, &pt, &strings(&["b"]), &[]));
}

#[test]
fn labels_and_lists_are_checked_and_named() {
    assert_eq!(check_label("name", "  ci deploy ").unwrap(), "ci deploy");
    for bad in ["", "   ", "a\nb", &"x".repeat(65)] {
        match check_label("name", bad) {
            Err(TokenError::Invalid { field, .. }) => assert_eq!(field, "name"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert_eq!(
        check_list("tags", strings(&["b", "a", "b"])).unwrap(),
        strings(&["a", "b"])
    );
    let many = (0..101).map(|i| i.to_string()).collect();
    assert!(matches!(
        check_list("agents", many),
        Err(TokenError::Invalid {
            field: "agents",
            ..
        })
    ));
}
