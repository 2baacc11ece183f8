//! docker 28's usage line for each command berth implements, as `docker <cmd> --help` prints
//! it, without the program name (the CLI puts its own in front of every line). Missing-argument
//! and unknown-flag errors print it, as docker's do.

/// `(command path, usage lines)`.
pub(crate) const USAGE: &[(&str, &[&str])] = &[
    ("run", &["run [OPTIONS] IMAGE [COMMAND] [ARG...]"]),
    ("create", &["create [OPTIONS] IMAGE [COMMAND] [ARG...]"]),
    ("start", &["start [OPTIONS] CONTAINER [CONTAINER...]"]),
    ("stop", &["stop [OPTIONS] CONTAINER [CONTAINER...]"]),
    ("kill", &["kill [OPTIONS] CONTAINER [CONTAINER...]"]),
    ("restart", &["restart [OPTIONS] CONTAINER [CONTAINER...]"]),
    ("rm", &["rm [OPTIONS] CONTAINER [CONTAINER...]"]),
    ("ps", &["ps [OPTIONS]"]),
    ("logs", &["logs [OPTIONS] CONTAINER"]),
    ("exec", &["exec [OPTIONS] CONTAINER COMMAND [ARG...]"]),
    ("attach", &["attach [OPTIONS] CONTAINER"]),
    ("wait", &["wait CONTAINER [CONTAINER...]"]),
    ("inspect", &["inspect [OPTIONS] NAME|ID [NAME|ID...]"]),
    ("top", &["top CONTAINER [ps OPTIONS]"]),
    ("stats", &["stats [OPTIONS] [CONTAINER...]"]),
    ("pause", &["pause CONTAINER [CONTAINER...]"]),
    ("unpause", &["unpause CONTAINER [CONTAINER...]"]),
    ("rename", &["rename CONTAINER NEW_NAME"]),
    ("port", &["port CONTAINER [PRIVATE_PORT[/PROTO]]"]),
    (
        "cp",
        &[
            "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-",
            "cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        ],
    ),
    ("diff", &["diff CONTAINER"]),
    ("update", &["update [OPTIONS] CONTAINER [CONTAINER...]"]),
    ("commit", &["commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]"]),
    ("export", &["export [OPTIONS] CONTAINER"]),
    ("images", &["images [OPTIONS] [REPOSITORY[:TAG]]"]),
    ("rmi", &["rmi [OPTIONS] IMAGE [IMAGE...]"]),
    ("tag", &["tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"]),
    ("save", &["save [OPTIONS] IMAGE [IMAGE...]"]),
    ("load", &["load [OPTIONS]"]),
    (
        "import",
        &["import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]"],
    ),
    ("history", &["history [OPTIONS] IMAGE"]),
    ("build", &["build [OPTIONS] PATH | URL | -"]),
    ("builder build", &["builder build [OPTIONS] PATH | URL | -"]),
    ("builder prune", &["builder prune"]),
    ("pull", &["pull [OPTIONS] NAME[:TAG|@DIGEST]"]),
    ("push", &["push [OPTIONS] NAME[:TAG]"]),
    ("login", &["login [OPTIONS] [SERVER]"]),
    ("logout", &["logout [SERVER]"]),
    ("search", &["search [OPTIONS] TERM"]),
    ("events", &["events [OPTIONS]"]),
    ("info", &["info [OPTIONS]"]),
    ("version", &["version [OPTIONS]"]),
    (
        "container attach",
        &["container attach [OPTIONS] CONTAINER"],
    ),
    (
        "container commit",
        &["container commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]"],
    ),
    (
        "container cp",
        &[
            "container cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-",
            "cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        ],
    ),
    (
        "container create",
        &["container create [OPTIONS] IMAGE [COMMAND] [ARG...]"],
    ),
    ("container diff", &["container diff CONTAINER"]),
    (
        "container exec",
        &["container exec [OPTIONS] CONTAINER COMMAND [ARG...]"],
    ),
    (
        "container export",
        &["container export [OPTIONS] CONTAINER"],
    ),
    (
        "container inspect",
        &["container inspect [OPTIONS] CONTAINER [CONTAINER...]"],
    ),
    (
        "container kill",
        &["container kill [OPTIONS] CONTAINER [CONTAINER...]"],
    ),
    ("container logs", &["container logs [OPTIONS] CONTAINER"]),
    ("container ls", &["container ls [OPTIONS]"]),
    (
        "container pause",
        &["container pause CONTAINER [CONTAINER...]"],
    ),
    (
        "container port",
        &["container port CONTAINER [PRIVATE_PORT[/PROTO]]"],
    ),
    ("container prune", &["container prune [OPTIONS]"]),
    ("container rename", &["container rename CONTAINER NEW_NAME"]),
    (
        "container restart",
        &["container restart [OPTIONS] CONTAINER [CONTAINER...]"],
    ),
    (
        "container rm",
        &["container rm [OPTIONS] CONTAINER [CONTAINER...]"],
    ),
    (
        "container run",
        &["container run [OPTIONS] IMAGE [COMMAND] [ARG...]"],
    ),
    (
        "container start",
        &["container start [OPTIONS] CONTAINER [CONTAINER...]"],
    ),
    (
        "container stats",
        &["container stats [OPTIONS] [CONTAINER...]"],
    ),
    (
        "container stop",
        &["container stop [OPTIONS] CONTAINER [CONTAINER...]"],
    ),
    ("container top", &["container top CONTAINER [ps OPTIONS]"]),
    (
        "container unpause",
        &["container unpause CONTAINER [CONTAINER...]"],
    ),
    (
        "container update",
        &["container update [OPTIONS] CONTAINER [CONTAINER...]"],
    ),
    (
        "container wait",
        &["container wait CONTAINER [CONTAINER...]"],
    ),
    ("image build", &["image build [OPTIONS] PATH | URL | -"]),
    ("image history", &["image history [OPTIONS] IMAGE"]),
    (
        "image import",
        &["image import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]"],
    ),
    (
        "image inspect",
        &["image inspect [OPTIONS] IMAGE [IMAGE...]"],
    ),
    ("image load", &["image load [OPTIONS]"]),
    ("image ls", &["image ls [OPTIONS] [REPOSITORY[:TAG]]"]),
    ("image prune", &["image prune [OPTIONS]"]),
    ("image pull", &["image pull [OPTIONS] NAME[:TAG|@DIGEST]"]),
    ("image push", &["image push [OPTIONS] NAME[:TAG]"]),
    ("image rm", &["image rm [OPTIONS] IMAGE [IMAGE...]"]),
    ("image save", &["image save [OPTIONS] IMAGE [IMAGE...]"]),
    (
        "image tag",
        &["image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"],
    ),
    ("volume create", &["volume create [OPTIONS] [VOLUME]"]),
    (
        "volume inspect",
        &["volume inspect [OPTIONS] VOLUME [VOLUME...]"],
    ),
    ("volume ls", &["volume ls [OPTIONS]"]),
    ("volume prune", &["volume prune [OPTIONS]"]),
    ("volume rm", &["volume rm [OPTIONS] VOLUME [VOLUME...]"]),
    (
        "network connect",
        &["network connect [OPTIONS] NETWORK CONTAINER"],
    ),
    ("network create", &["network create [OPTIONS] NETWORK"]),
    (
        "network disconnect",
        &["network disconnect [OPTIONS] NETWORK CONTAINER"],
    ),
    (
        "network inspect",
        &["network inspect [OPTIONS] NETWORK [NETWORK...]"],
    ),
    ("network ls", &["network ls [OPTIONS]"]),
    ("network prune", &["network prune [OPTIONS]"]),
    ("network rm", &["network rm NETWORK [NETWORK...]"]),
    ("system df", &["system df [OPTIONS]"]),
    ("system events", &["system events [OPTIONS]"]),
    ("system info", &["system info [OPTIONS]"]),
    ("system prune", &["system prune [OPTIONS]"]),
];

/// The usage lines of `path` ("container run"), each after `bin`; `None` if not in the table.
pub(crate) fn usage_of(bin: &str, path: &str) -> Option<String> {
    let (_, lines) = USAGE.iter().find(|(p, _)| *p == path)?;
    Some(
        lines
            .iter()
            .map(|l| format!("{bin} {l}"))
            .collect::<Vec<_>>()
            .join("\n\t"),
    )
}
