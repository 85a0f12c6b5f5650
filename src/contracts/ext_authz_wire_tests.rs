//! The bytes `encode_allowed` writes decode to the message `respond` builds, for any session.

use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use proptest::prelude::*;
use prost::Message;
use serde_json::{Value, json};

use super::*;
use crate::authn::session::{Session, render};
use crate::contracts::ext_authz::{CONFIG_NAME, deny, respond};

fn decision(role: &str, vars: &[(String, String)], remove: &[&str]) -> Option<Decision> {
    let values: Vec<(String, Value)> = vars.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
    let vars = render(values.iter().map(|(n, v)| (n.as_str(), v))).ok()?;
    Some(Decision {
        result: Ok(Allowed {
            session: Session {
                role: role.to_owned(),
                vars,
            },
            max_age: 60,
        }),
        headers_to_remove: remove.iter().map(|h| (*h).to_owned()).collect(),
        cache_hit: true,
    })
}

/// The written bytes, decoded, against `respond`'s message (the metadata is a map: compared as one).
fn same_as_respond(d: &Decision, settings: &ExtAuthzSettings, config: &str) {
    let Ok(allowed) = &d.result else {
        panic!("an allow");
    };
    let mut out = Vec::new();
    let written = encode_allowed(d, allowed, settings, config, &mut out);
    let expected = respond(d, settings, config);
    match written {
        Ok(()) => {
            let got = CheckResponse::decode(out.as_slice()).expect("the bytes decode");
            assert_eq!(got, expected);
            // prost writes the same fields: the lengths agree even where map order differs.
            assert_eq!(out.len(), expected.encoded_len());
        }
        Err(e) => {
            assert!(out.is_empty(), "nothing written before a refusal");
            assert_eq!(expected, deny(&e));
        }
    }
}

type Case<'a> = (&'a str, Vec<(String, String)>, Vec<&'a str>, &'a str);

#[test]
fn an_allow_is_written_as_respond_builds_it() {
    let settings = ExtAuthzSettings {
        metadata_vars: vec!["x-hasura-user-id".into(), "x-hasura-org-id".into()],
        auth_mode_header: String::new(),
    };
    let long = "é".repeat(200);
    let long_role = "r".repeat(300);
    // (role, session variables, headers to remove, config name)
    let cases: Vec<Case> = vec![
        ("user", vec![], vec![], CONFIG_NAME),
        (
            "admin",
            vec![
                ("x-hasura-user-id".into(), "user_2abc".into()),
                ("x-hasura-org-id".into(), String::new()),
                ("x-hasura-email".into(), "a@b.example".into()),
            ],
            vec!["x-hasura-tenant", "x-hasura-user-name"],
            "tenant-a",
        ),
        ("user", vec![("x-hasura-user-id".into(), long)], vec![], ""),
        (long_role.as_str(), vec![], vec!["x-hasura-a"], CONFIG_NAME),
    ];
    for (role, vars, remove, config) in &cases {
        let d = decision(role, vars, remove).expect("renders");
        same_as_respond(&d, &settings, config);
    }
}

#[test]
fn a_role_that_cannot_be_a_header_is_refused_before_anything_is_written() {
    let d = decision("bad\nrole", &[], &[]).expect("renders");
    same_as_respond(&d, &ExtAuthzSettings::default(), CONFIG_NAME);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_session_is_written_as_respond_builds_it(
        role in "\\PC{0,40}|[a-z\\n\\x7f]{0,8}",
        vars in proptest::collection::vec(("x-hasura-[a-z-]{1,12}", "\\PC{0,300}"), 0..6),
        remove in proptest::collection::vec("x-hasura-[a-z]{1,8}", 0..3),
        named in proptest::collection::vec("x-hasura-[a-z-]{1,12}", 0..3),
        config in "[a-z0-9-]{0,63}",
    ) {
        let remove: Vec<&str> = remove.iter().map(String::as_str).collect();
        if let Some(d) = decision(&role, &vars, &remove) {
            let settings = ExtAuthzSettings { metadata_vars: named, auth_mode_header: String::new() };
            same_as_respond(&d, &settings, &config);
        }
    }
}
