//! seccomp: OCI/Docker profiles compiled to BPF.
