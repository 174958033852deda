//! The parser against the reviewed corpus: every grammar form, Kibana's quirks, real Fleet UI
//! queries and errors with their positions and messages.
mod printer;

#[test]
fn corpus() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in include_str!("corpus.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (query, expected) = line.split_once(" => ").expect("corpus line has ' => '");
        let query: String = serde_json::from_str(query).expect("JSON-quoted query");
        let got = printer::show(&query);
        if got != expected {
            failures.push(format!(
                "{query:?}\n  expected {expected}\n  got      {got}"
            ));
        }
        checked += 1;
    }
    assert!(checked >= 150, "the corpus has {checked} queries");
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
