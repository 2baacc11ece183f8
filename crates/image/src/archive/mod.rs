//! Archives: Docker/OCI image archives (`load`, `save`) and the safe path archives of
//! `docker cp` and `export`.

pub mod load;
pub mod safe;
pub mod save;
