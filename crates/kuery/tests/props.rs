//! Properties of the parser over generated input: it never panics, refuses what is too deep or
//! too long with a positioned error, and every error position lies inside the input.

use proptest::prelude::*;

/// Strings over KQL's own alphabet, so the generator reaches the grammar's corners.
fn kql_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(
            &[
                "a", "b", "x.y", " ", "  ", ":", "(", ")", "{", "}", "\"", "\\", "*", "<", "<=",
                ">", ">=", " or ", " and ", "not ", "OR", "\t", "\\u0041", "\\*", "é", "名",
            ][..],
        ),
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_kql_like_input(s in kql_like()) {
        match kuery::parse(&s) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.position <= s.len() && s.is_char_boundary(e.position), "{e:?} for {s:?}"),
        }
    }

    #[test]
    fn never_panics_on_any_input(s in "\\PC{0,200}") {
        let _ = kuery::parse(&s);
    }

    #[test]
    fn field_value_round_trips(f in "[a-z_][a-z0-9_.]{0,12}", v in "[a-zA-Z0-9_-]{1,12}") {
        let keyword = ["and", "or", "not"].iter().any(|k| v.eq_ignore_ascii_case(k) || f.eq_ignore_ascii_case(k));
        prop_assume!(!keyword);
        let node = kuery::parse(&format!("{f}:{v}")).unwrap().unwrap();
        prop_assert_eq!(node, kuery::Node::Match { field: Some(kuery::Value::term(&f)), value: kuery::Value::term(&v) });
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    for q in [
        format!("{}a:b{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}a:b", "not ".repeat(3_000)),
        format!("a:{}b{}", "(".repeat(5_000), ")".repeat(5_000)),
        format!("{}a:b{}", "a:{".repeat(3_000), "}".repeat(3_000)),
    ] {
        let q = &q[..q.len().min(kuery::MAX_INPUT)];
        let err = kuery::parse(q).unwrap_err();
        assert!(
            err.message.contains("nested deeper") || err.message.starts_with("Expected"),
            "{err:?}"
        );
    }
    assert!(kuery::parse(&format!("{}a:b{}", "(".repeat(60), ")".repeat(60))).is_ok());
}

#[test]
fn oversized_input_is_refused() {
    let q = format!("a:{}", "b".repeat(kuery::MAX_INPUT));
    let err = kuery::parse(&q).unwrap_err();
    assert!(err.message.contains("longer than"), "{err:?}");
}
