//! DNS: the records a sending domain must publish (`records`, pure) and checking them against
//! a resolver (`check`): the system's, or `--dns-server`.

pub mod check;
pub mod records;
