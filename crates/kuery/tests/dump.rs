//! Prints what the parser makes of every corpus query, for reviewing changes to the corpus.
mod printer;

#[test]
#[ignore]
fn dump() {
    for line in include_str!("corpus.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let (query, _) = line.split_once(" => ").expect("corpus line");
        let query: String = serde_json::from_str(query).expect("JSON-quoted query");
        println!(
            "{} => {}",
            serde_json::to_string(&query).unwrap(),
            printer::show(&query)
        );
    }
}
