use super::*;

fn one(text: &str) -> Command {
    parse(&format!("FROM a\n{text}\n"))
        .unwrap()
        .instructions
        .remove(1)
        .command
}

fn error(text: &str) -> ParseError {
    parse(text).unwrap_err()
}

#[test]
fn from_forms() {
    let d = parse("ARG V=1\nFROM --platform=linux/amd64 busybox:$V AS Build\n").unwrap();
    assert_eq!(d.instructions.len(), 2);
    assert_eq!(
        d.instructions[1].command,
        Command::From {
            image: "busybox:$V".into(),
            stage: Some("build".into()),
            platform: Some("linux/amd64".into()),
        }
    );
    assert!(error("FROM a b\n").message.contains("one or three"));
    assert!(error("FROM a AS 1x\n").message.contains("invalid name"));
}

#[test]
fn unknown_instruction_names_line_and_column() {
    let e = error("FROM busybox\n  FOO bar\n");
    assert_eq!((e.line, e.column), (2, 3));
    assert_eq!(
        e.to_string(),
        "dockerfile parse error line 2 column 3: unknown instruction: FOO"
    );
    let e = error("FROM a\nCOPY --nope=1 a b\n");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 6, "unknown flag: nope")
    );
}

#[test]
fn shell_and_exec_forms() {
    assert_eq!(
        one("CMD [\"a\", \"b\"]"),
        Command::Cmd(CmdForm::Exec(vec!["a".into(), "b".into()]))
    );
    assert_eq!(
        one("CMD [a, b]"),
        Command::Cmd(CmdForm::Shell("[a, b]".into()))
    );
    assert_eq!(
        one("ENTRYPOINT echo hi"),
        Command::Entrypoint(CmdForm::Shell("echo hi".into()))
    );
    assert!(error("FROM a\nSHELL sh -c\n").message.contains("JSON"));
}

#[test]
fn env_and_label_words() {
    assert_eq!(
        one("ENV A=1 B=\"two words\" C=x\\ y"),
        Command::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into()),
            ("C".into(), "x\\ y".into()),
        ])
    );
    assert_eq!(
        one("ENV A b c"),
        Command::Env(vec![("A".into(), "b c".into())])
    );
    assert_eq!(
        one("LABEL \"l 2\"=\"v 2\""),
        Command::Label(vec![("\"l 2\"".into(), "\"v 2\"".into())])
    );
    assert!(
        error("FROM a\nENV A=1 B\n")
            .message
            .contains("can't find =")
    );
}

#[test]
fn copy_flags_and_heredocs() {
    let Command::Copy(c) =
        one("COPY --from=b --chown=1:2 --chmod=644 --link --exclude=*.md a b /d/")
    else {
        panic!()
    };
    assert_eq!(c.sources, vec!["a", "b"]);
    assert_eq!(c.dest, "/d/");
    assert_eq!(c.from.as_deref(), Some("b"));
    assert!(c.link && !c.parents);
    assert_eq!(c.excludes, vec!["*.md"]);
    let d = parse("FROM a\nCOPY <<EOF /f\nhello $X\nEOF\nRUN <<-'EOT'\n\techo hi\n\tEOT\nCMD x\n")
        .unwrap();
    let Command::Copy(c) = &d.instructions[1].command else {
        panic!()
    };
    assert!(c.sources.is_empty());
    assert_eq!(c.heredocs[0].content, "hello $X\n");
    assert!(c.heredocs[0].expand);
    let Command::Run(r) = &d.instructions[2].command else {
        panic!()
    };
    assert_eq!(r.cmd, None);
    assert_eq!(r.heredocs[0].content, "echo hi\n");
    assert!(!r.heredocs[0].expand);
    assert_eq!(d.instructions[3].line, 8);
    assert!(
        error("FROM a\nRUN <<EOF\nx\n")
            .message
            .contains("unterminated")
    );
    assert!(error("FROM a\nCOPY a\n").message.contains("at least two"));
}

#[test]
fn run_flags() {
    let Command::Run(r) = one("RUN --mount=type=cache,target=/c --network=none echo --x") else {
        panic!()
    };
    assert_eq!(r.mounts, vec!["type=cache,target=/c"]);
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.cmd, Some(CmdForm::Shell("echo --x".into())));
}

#[test]
fn healthcheck_and_onbuild() {
    let Command::Healthcheck(h) = one("HEALTHCHECK --interval=5s --retries=3 CMD true") else {
        panic!()
    };
    assert_eq!(h.test, vec!["CMD-SHELL", "true"]);
    assert_eq!(h.interval, Some(Duration::from_secs(5)));
    assert_eq!(h.retries, Some(3));
    let Command::Healthcheck(h) = one("HEALTHCHECK NONE") else {
        panic!()
    };
    assert_eq!(h.test, vec!["NONE"]);
    assert_eq!(
        one("ONBUILD RUN echo x"),
        Command::Onbuild("RUN echo x".into())
    );
    assert!(
        error("FROM a\nONBUILD ONBUILD RUN x\n")
            .message
            .contains("Chaining")
    );
    assert!(
        error("FROM a\nONBUILD FOO x\n")
            .message
            .contains("unknown instruction")
    );
    assert!(
        error("FROM a\nHEALTHCHECK --interval=5 CMD x\n")
            .message
            .contains("invalid duration")
    );
}

#[test]
fn durations_like_go() {
    assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
    assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("5"), None);
}

#[test]
fn empty_is_an_error() {
    assert!(
        error("# just a comment\n\n")
            .message
            .contains("cannot be empty")
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn never_panics(s in "\\PC*") {
        let _ = parse(&s);
    }

    #[test]
    fn never_panics_on_dockerfile_like_text(
        lines in proptest::collection::vec(
            "(FROM|RUN|COPY|ADD|ENV|ARG|LABEL|ONBUILD|HEALTHCHECK|CMD|SHELL|# escape=|#)?[ \\t]{0,2}(--[a-z]{1,6}(=[a-z\"'\\\\]{0,4})?)?[ a-z=\"'\\\\`$\\[\\]{}<-]{0,12}(<<-?[\"']?EOF[\"']?)?[\\\\`]?",
            0..12,
        )
    ) {
        let text = lines.join("\n");
        if let Err(e) = parse(&text) {
            proptest::prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }
}
