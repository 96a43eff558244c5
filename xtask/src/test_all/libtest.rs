//! What a test binary said: the counts on libtest's `test result:` lines.

/// Tests passed, failed and ignored (summed over every `test result:` line).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub ignored: u32,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// Sums `test result: ok. 3 passed; 1 failed; 2 ignored; …` lines (doc tests print one per
/// crate); `None` when there is none (the binary died before its summary).
pub fn counts(output: &str) -> Option<Counts> {
    let mut total: Option<Counts> = None;
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        let mut found = Counts::default();
        for part in rest.split(['.', ';']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            match what {
                "passed" => found.passed = n,
                "failed" => found.failed = n,
                "ignored" => found.ignored = n,
                _ => {}
            }
        }
        total.get_or_insert_with(Counts::default).add(found);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_read_and_summed_from_every_result_line() {
        let out = "running 3 tests\ntest a ... ok\n\
            test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
            \ntest result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1.20s\n";
        assert_eq!(
            counts(out),
            Some(Counts {
                passed: 5,
                failed: 1,
                ignored: 1
            })
        );
    }

    #[test]
    fn a_binary_that_died_before_its_summary_has_no_counts() {
        assert_eq!(counts("running 2 tests\nthread 'main' panicked"), None);
    }
}
