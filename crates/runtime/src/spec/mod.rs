//! Default OCI specs (what `berth runtime spec` writes; what Docker gives a container).
