//! The stage graph: which stages a target needs (the others are skipped), and what each
//! stage waits for (its base stage, `COPY --from`, `RUN --mount=from=`).

use std::collections::BTreeSet;

use crate::error::{BuildError, Result};
use crate::parser::{Command, Dockerfile, Instruction};
use crate::shell;

/// One `FROM` and what follows it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    /// The base as written (substituted with meta args when the stage starts).
    pub base: String,
    pub platform: Option<String>,
    pub from: Instruction,
    pub instructions: Vec<Instruction>,
    /// Stages this one needs first.
    pub deps: BTreeSet<usize>,
}

/// The Dockerfile split into meta args and stages.
#[derive(Debug, Clone)]
pub struct Plan {
    pub meta: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

/// A stage named `name` (or numbered) before `before`.
pub fn find(stages: &[Stage], name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    stages[..before.min(stages.len())]
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
        .map(|s| s.index)
        .or_else(|| name.parse::<usize>().ok().filter(|i| *i < before))
}

fn mount_from(spec: &str) -> Option<String> {
    spec.split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == "from")
        .map(|(_, v)| v.trim().to_owned())
}

impl Plan {
    pub fn new(df: &Dockerfile, meta_env: &[String], escape: char) -> Result<Self> {
        let mut meta = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for ins in &df.instructions {
            match &ins.command {
                Command::From {
                    image,
                    stage,
                    platform,
                } => {
                    let index = stages.len();
                    stages.push(Stage {
                        index,
                        name: stage.clone(),
                        base: image.clone(),
                        platform: platform.clone(),
                        from: ins.clone(),
                        instructions: Vec::new(),
                        deps: BTreeSet::new(),
                    });
                }
                Command::Arg(_) if stages.is_empty() => meta.push(ins.clone()),
                _ => match stages.last_mut() {
                    Some(s) => s.instructions.push(ins.clone()),
                    None => {
                        return Err(BuildError::invalid(format!(
                            "dockerfile parse error line {}: no build stage in current context",
                            ins.line
                        )));
                    }
                },
            }
        }
        if stages.is_empty() {
            return Err(BuildError::invalid(
                "No image was generated. Is your Dockerfile empty?",
            ));
        }
        let expand =
            |w: &str| shell::process_word(w, meta_env, escape).unwrap_or_else(|_| w.to_owned());
        for i in 0..stages.len() {
            let mut deps = BTreeSet::new();
            if let Some(d) = find(&stages, &expand(&stages[i].base), i) {
                deps.insert(d);
            }
            for ins in &stages[i].instructions {
                let froms: Vec<String> = match &ins.command {
                    Command::Copy(c) => c.from.iter().cloned().collect(),
                    Command::Run(r) => r.mounts.iter().filter_map(|m| mount_from(m)).collect(),
                    _ => Vec::new(),
                };
                for f in froms {
                    if let Some(d) = find(&stages, &expand(&f), i) {
                        deps.insert(d);
                    }
                }
            }
            stages[i].deps = deps;
        }
        Ok(Self { meta, stages })
    }

    /// The stage `target` names (the last without one).
    pub fn target(&self, target: Option<&str>) -> Result<usize> {
        match target.filter(|t| !t.is_empty()) {
            None => Ok(self.stages.len() - 1),
            Some(t) => find(&self.stages, t, self.stages.len())
                .filter(|i| self.stages[*i].name.is_some() || t.parse::<usize>().is_ok())
                .ok_or_else(|| {
                    BuildError::invalid(format!("failed to reach build target {t} in Dockerfile"))
                }),
        }
    }

    /// The stages `target` needs, in file order.
    pub fn needed(&self, target: usize) -> Vec<usize> {
        let mut need = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if need.insert(i) {
                todo.extend(self.stages[i].deps.iter().copied());
            }
        }
        need.into_iter().collect()
    }
}

/// A stage named `name` (or numbered) before `before`, from (index, name) pairs.
pub fn find_named(names: &[(usize, Option<String>)], name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    names
        .iter()
        .filter(|(i, _)| *i < before)
        .find(|(_, n)| n.as_deref() == Some(lower.as_str()))
        .map(|(i, _)| *i)
        .or_else(|| name.parse::<usize>().ok().filter(|i| *i < before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_needs_only_its_dependencies() {
        let df = crate::parser::parse(
            "ARG B=base\nFROM busybox AS base\nRUN a\nFROM base AS unused\nRUN b\nFROM busybox AS other\nRUN c\nFROM busybox\nCOPY --from=other /x /x\nRUN --mount=type=bind,from=${B},target=/m true\n",
        )
        .unwrap();
        let plan = Plan::new(&df, &["B=base".into()], '\\').unwrap();
        assert_eq!(plan.meta.len(), 1);
        assert_eq!(plan.stages.len(), 4);
        let t = plan.target(None).unwrap();
        assert_eq!(plan.needed(t), vec![0, 2, 3]);
        assert_eq!(
            plan.needed(plan.target(Some("unused")).unwrap()),
            vec![0, 1]
        );
        assert!(
            plan.target(Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("failed to reach build target nope")
        );
        let df = crate::parser::parse("RUN x\n").unwrap();
        assert!(Plan::new(&df, &[], '\\').is_err());
    }
}
