//! Secrets out of log lines before anything is printed: the stack's secret values replaced by `***`, and
//! URL passwords masked (the one secret policy, tugboat::secret).

use tugboat::secret::{mask_urls, MASK};

/// Values shorter than this are not masked: `1`, `yes` or `dev` would blank out ordinary words.
const SHORTEST_SECRET: usize = 4;

#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is masked whole.
    values: Vec<String>,
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut values: Vec<String> = values.into_iter().filter(|v| v.len() >= SHORTEST_SECRET).collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Redactor { values }
    }

    pub fn apply(&self, line: &str) -> String {
        let mut out = mask_urls(line).into_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_and_url_passwords_are_masked_longest_first() {
        let r = Redactor::new(["s3cret".to_string(), "s3cret-and-more".into(), "abc".into()]);
        assert_eq!(r.apply("pw=s3cret-and-more x=s3cret y=abc"), "pw=*** x=*** y=abc");
        assert_eq!(r.apply("db mysql://app:hunter22@db:3306/app"), "db mysql://app:***@db:3306/app");
    }
}
