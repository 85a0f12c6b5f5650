use super::*;

fn claim(name: &str, origin: &str) -> Claim {
    Claim {
        name: name.to_owned(),
        origin: origin.to_owned(),
    }
}

#[test]
fn dns_labels_are_names_and_nothing_else_is() {
    for good in ["a", "tenant-a", "0", "a1-b2", &"x".repeat(63)] {
        assert_eq!(check_name(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "-a",
        "a-",
        "A",
        "a_b",
        "a.b",
        "a b",
        "é",
        &"x".repeat(64),
    ] {
        assert!(check_name(bad).is_err(), "{bad:?} must be refused");
    }
    let e = check_name("Tenant_A").expect_err("upper case and _");
    assert!(e.contains("`Tenant_A`") && e.contains("a-z, 0-9"), "{e}");
}

#[test]
fn an_invalid_name_is_shown_escaped_bounded_and_never_as_a_valid_one() {
    assert_eq!(shown("tenant-a"), "tenant-a");
    assert_eq!(shown(""), "(empty)");
    assert_eq!(shown("a b\n\u{e9}"), "a\\u{20}b\\u{a}\\u{e9}");
    let long = "y".repeat(70);
    let s = shown(&long);
    assert_eq!(s.len(), MAX_NAME_BYTES);
    assert!(s.ends_with("...") && check_name(&s).is_err(), "{s}");
    // A long run of escapes is cut between escapes, never inside one.
    let s = shown(&"\u{1f600}".repeat(40));
    assert!(s.len() <= MAX_NAME_BYTES && s.ends_with("}..."), "{s}");
    // An attacker-sized name costs the same as a short one.
    assert!(shown(&"\u{0}".repeat(100_000)).len() <= MAX_NAME_BYTES);
}

#[test]
fn a_name_claimed_twice_fails_for_every_claimant() {
    let claims = [
        claim("a", "dir/a.yaml"),
        claim("b", "dir/b.yaml"),
        claim("a", "dir/a.json"),
    ];
    let got = assign(&claims);
    assert_eq!(got.len(), 2);
    assert_eq!(got["b"], Ok(1));
    let e = got["a"].clone().expect_err("a is claimed twice");
    assert!(
        e.contains("dir/a.yaml") && e.contains("dir/a.json") && e.contains("2 times"),
        "{e}"
    );
}

#[test]
fn an_invalid_name_is_an_error_under_its_shown_form() {
    let long = "z".repeat(64);
    let claims = [claim("Bad_Name", "dir/Bad_Name.yaml"), claim(&long, "cm x")];
    let got = assign(&claims);
    let e = got["Bad_Name"].clone().expect_err("invalid");
    assert!(e.contains("dir/Bad_Name.yaml"), "{e}");
    // Cut to 63 bytes, it does not take a valid 60-letter name's place.
    let key = shown(&long);
    assert!(got[&key].is_err());
    assert!(!got.contains_key(&"z".repeat(63)));
}

#[test]
fn past_256_names_the_excess_in_name_order_fail() {
    // Built in reverse so that admission follows name order, not arrival order.
    let claims: Vec<Claim> = (0..257)
        .rev()
        .map(|i| claim(&format!("c{i:03}"), &format!("f{i}")))
        .collect();
    let got = assign(&claims);
    assert_eq!(got.values().filter(|v| v.is_ok()).count(), MAX_CONFIGS);
    let e = got["c256"].clone().expect_err("the 257th name");
    assert!(e.contains("more than 256") && e.contains("f256"), "{e}");
    assert!(got["c255"].is_ok());
    // Invalid names take no slot: 256 good ones and a bad one all keep their verdicts.
    let mut claims: Vec<Claim> = (0..256).map(|i| claim(&format!("c{i:03}"), "f")).collect();
    claims.push(claim("A", "upper"));
    let got = assign(&claims);
    assert_eq!(got.values().filter(|v| v.is_ok()).count(), 256);
    assert!(got["A"].is_err());
}
