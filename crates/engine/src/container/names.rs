//! Container names: validation, and generated names in Docker's `adjective_surname` style.
//! (berth's own word lists: adjectives, and people who shaped computing.)

const ADJECTIVES: &[&str] = &[
    "agile",
    "amazing",
    "brave",
    "bright",
    "busy",
    "calm",
    "careful",
    "cheerful",
    "clever",
    "cool",
    "curious",
    "daring",
    "dazzling",
    "eager",
    "elastic",
    "elegant",
    "epic",
    "fervent",
    "festive",
    "fond",
    "friendly",
    "funny",
    "gallant",
    "gentle",
    "gifted",
    "glad",
    "graceful",
    "happy",
    "hardy",
    "hopeful",
    "humble",
    "jolly",
    "keen",
    "kind",
    "lively",
    "loyal",
    "lucid",
    "magical",
    "merry",
    "mighty",
    "modest",
    "nervous",
    "nice",
    "nimble",
    "noble",
    "optimistic",
    "patient",
    "peaceful",
    "plucky",
    "polite",
    "proud",
    "quick",
    "quiet",
    "relaxed",
    "sharp",
    "shiny",
    "silly",
    "sleepy",
    "smart",
    "snappy",
    "sober",
    "solid",
    "spry",
    "stoic",
    "sturdy",
    "sunny",
    "swift",
    "tender",
    "thirsty",
    "tidy",
    "trusting",
    "upbeat",
    "vibrant",
    "vigilant",
    "warm",
    "wise",
    "witty",
    "youthful",
    "zealous",
    "zen",
];

const SURNAMES: &[&str] = &[
    "allen",
    "babbage",
    "backus",
    "bell",
    "berners",
    "boole",
    "borg",
    "brooks",
    "cerf",
    "church",
    "clarke",
    "codd",
    "conway",
    "corbato",
    "cray",
    "dijkstra",
    "engelbart",
    "feigenbaum",
    "floyd",
    "goldberg",
    "hamming",
    "hamilton",
    "hartmanis",
    "hellman",
    "hoare",
    "hopper",
    "huffman",
    "iverson",
    "jobs",
    "kahan",
    "kahn",
    "karp",
    "kay",
    "kernighan",
    "knuth",
    "kildall",
    "lamport",
    "lampson",
    "liskov",
    "lovelace",
    "mccarthy",
    "mcilroy",
    "metcalfe",
    "milner",
    "minsky",
    "moore",
    "naur",
    "neumann",
    "newell",
    "nygaard",
    "pike",
    "postel",
    "rabin",
    "reddy",
    "ritchie",
    "rivest",
    "sammet",
    "scott",
    "shamir",
    "shannon",
    "simon",
    "stallman",
    "stroustrup",
    "sutherland",
    "tanenbaum",
    "thacker",
    "thompson",
    "torvalds",
    "turing",
    "valiant",
    "wilkes",
    "wing",
    "wirth",
    "wozniak",
    "yao",
    "zuse",
];

/// A generated name; `n` makes retries after a collision differ (Docker appends a digit).
pub fn generate(seed: u64, attempt: u32) -> String {
    let a = ADJECTIVES[usize::try_from(seed % ADJECTIVES.len() as u64).unwrap_or(0)];
    let s = SURNAMES
        [usize::try_from((seed / ADJECTIVES.len() as u64) % SURNAMES.len() as u64).unwrap_or(0)];
    if attempt == 0 {
        format!("{a}_{s}")
    } else {
        format!("{a}_{s}{attempt}")
    }
}

/// Docker's rule: `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn is_valid(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_look_like_dockers() {
        let n = generate(12345, 0);
        assert!(is_valid(&n) && n.contains('_'), "{n}");
        assert_ne!(generate(12345, 1), n);
    }

    #[test]
    fn validation_matches_docker() {
        for ok in ["web", "/web", "a1", "my_app.v2-x"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in ["", "a", "_x", "-x", "a b", "x/y", "/"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
