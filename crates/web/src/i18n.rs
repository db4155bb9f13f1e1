//! The message catalog: every user-facing string, bokmål and English.
//!
//! Messages live in `messages/{nb,en}.toml` (compiled in). Keys are
//! `section.name`. A test checks both files have the same keys and that
//! every key a template asks for exists.

use std::collections::HashMap;
use std::sync::LazyLock;

use mestring_domain::content::Lang;

/// All messages of one language.
#[derive(Debug)]
pub struct Catalog {
    messages: HashMap<String, String>,
}

/// One file per area, so areas can grow without touching each other.
macro_rules! catalog_files {
    ($lang:literal) => {
        [
            include_str!(concat!("../messages/", $lang, "/core.toml")),
            include_str!(concat!("../messages/", $lang, "/program.toml")),
            include_str!(concat!("../messages/", $lang, "/consent.toml")),
            include_str!(concat!("../messages/", $lang, "/dashboard.toml")),
            include_str!(concat!("../messages/", $lang, "/aggregates.toml")),
            include_str!(concat!("../messages/", $lang, "/payments.toml")),
            include_str!(concat!("../messages/", $lang, "/oidc.toml")),
        ]
    };
}

static NB: LazyLock<Catalog> = LazyLock::new(|| Catalog::parse(&catalog_files!("nb")));
static NN: LazyLock<Catalog> = LazyLock::new(|| Catalog::parse(&catalog_files!("nn")));
static EN: LazyLock<Catalog> = LazyLock::new(|| Catalog::parse(&catalog_files!("en")));

impl Catalog {
    fn parse(sources: &[&str]) -> Self {
        let mut messages = HashMap::new();
        for src in sources {
            // The files are compiled in and a test parses each one, so a
            // broken file is caught before release.
            let table: toml::Table = toml::from_str(src).unwrap_or_default();
            flatten("", &table, &mut messages);
        }
        Self { messages }
    }

    /// The catalog for `lang`.
    pub fn get(lang: Lang) -> &'static Catalog {
        match lang {
            Lang::Nb => &NB,
            Lang::Nn => &NN,
            Lang::En => &EN,
        }
    }

    /// Keys present in this catalog.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }

    /// The message for `key`; a missing key shows itself (and is caught by
    /// the template key test before it ships).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        match self.messages.get(key) {
            Some(m) => m,
            None => {
                tracing::warn!(key, "missing message");
                key
            }
        }
    }

    /// The message for a key built at run time (e.g. from a table name),
    /// if the catalog has one.
    pub fn find(&self, key: &str) -> Option<&str> {
        self.messages.get(key).map(String::as_str)
    }

    /// The message for `key` with `{name}` placeholders filled in.
    pub fn fill(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_owned();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_catalog_file_parses() {
        for src in catalog_files!("nb")
            .iter()
            .chain(catalog_files!("nn").iter())
            .chain(catalog_files!("en").iter())
        {
            assert!(
                toml::from_str::<toml::Table>(src).is_ok(),
                "a messages/*.toml file does not parse"
            );
        }
    }

    #[test]
    fn every_language_has_the_same_keys() {
        let nb: BTreeSet<_> = Catalog::get(Lang::Nb).keys().collect();
        assert!(nb.len() > 10, "catalog failed to parse");
        for lang in Lang::ALL {
            let other: BTreeSet<_> = Catalog::get(lang).keys().collect();
            let missing: Vec<_> = nb.difference(&other).collect();
            let extra: Vec<_> = other.difference(&nb).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{lang}: missing {missing:?}, not in nb {extra:?}"
            );
        }
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut missing = Vec::new();
        let mut seen = 0;
        for dir in [
            "templates",
            "crates/web/src",
            "crates/app/src",
            "crates/dashboard/src",
        ] {
            visit(&std::path::Path::new(root).join(dir), &mut |text| {
                for key in used_keys(text) {
                    seen += 1;
                    for lang in Lang::ALL {
                        if !Catalog::get(lang).messages.contains_key(&key) {
                            missing.push(format!("{lang}:{key}"));
                        }
                    }
                }
            });
        }
        assert!(
            seen > 5,
            "found too few message keys; the scanner is broken"
        );
        assert!(missing.is_empty(), "missing message keys: {missing:?}");
    }

    fn visit(dir: &std::path::Path, f: &mut dyn FnMut(&str)) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                visit(&p, f);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                f(&text);
            }
        }
    }

    /// Finds the keys passed as string literals to the `t` and `fill` methods.
    fn used_keys(text: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for marker in [".t(\"", ".fill(\"", ".fill1(\"", ".fill2(\""] {
            let mut rest = text;
            while let Some(i) = rest.find(marker) {
                rest = &rest[i + marker.len()..];
                if let Some(end) = rest.find('"') {
                    let key = &rest[..end];
                    if key.contains('.') && !key.contains(' ') && !key.contains('{') {
                        keys.push(key.to_owned());
                    }
                }
            }
        }
        keys
    }
}
